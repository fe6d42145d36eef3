import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dir, '../..')

export type Run = { code: number; stdout: string; stderr: string }

/**
 * Runs the real CLI with exactly `env` (plus PATH and HOME): nothing of this process's environment leaks in,
 * so no stray DATABASE_URL or seed is picked up.
 */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = Bun.spawn(['bun', 'src/cli.ts', ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      TOLLGATE_ENV: 'test',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

/** Fails with the CLI's output when it did not exit 0. */
export function ok(run: Run): Run {
  if (run.code !== 0) throw new Error(`CLI exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  return run
}
