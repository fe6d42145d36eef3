import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './chain.ts'

/** A Postgres server of a test's own, in a temp directory on a spare port (never the shared 5432). */
export type OwnPostgres = {
  /** URL of the `postgres` database on it (trust auth). */
  url: string
  port: number
  /**
   * `pg_ctl restart -m fast`: every connection is cut, the data stays; resolves once it accepts connections.
   * With `downMs` it stays stopped that long first, as during an upgrade or a failover.
   */
  restart(options?: { downMs?: number }): Promise<void>
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>
}

function binDir(): string {
  const found = [...new Bun.Glob('/usr/lib/postgresql/*/bin/pg_ctl').scanSync('/')].sort().at(-1)
  if (!found) throw new Error('no pg_ctl under /usr/lib/postgresql/*/bin')
  return found.slice(0, -'/pg_ctl'.length)
}

/** initdb and pg_ctl refuse to run as root; then they run as the `postgres` system user. */
const runAs = (command: string[]): string[] =>
  process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...command] : command

async function run(command: string[]): Promise<void> {
  const proc = Bun.spawn(runAs(command), { stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ])
  if (code !== 0) throw new Error(`${command.join(' ')} exited ${code}: ${out}${err}`)
}

/**
 * Creates a cluster with `initdb` in a temp directory and starts it with `pg_ctl` on a free port.
 *
 * @example
 * const pg = await startOwnPostgres()
 * await pg.restart()
 * await pg.stop()
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = binDir()
  const port = await freePort()
  const root = mkdtempSync(join(tmpdir(), 'tollgate-pg-'))
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresUser()
    chownSync(root, uid, gid)
  }
  const data = join(root, 'data')
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  const ctl = (...args: string[]) =>
    run([join(bin, 'pg_ctl'), '-D', data, '-l', join(root, 'log'), '-w', '-t', '30', ...args])
  await run([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  await ctl('-o', options, 'start')
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: async ({ downMs } = {}) => {
      if (!downMs) return ctl('-o', options, '-m', 'fast', 'restart')
      await ctl('-m', 'fast', 'stop')
      await Bun.sleep(downMs)
      await ctl('-o', options, 'start')
    },
    stop: async () => {
      await ctl('-m', 'immediate', 'stop').catch(() => {})
      rmSync(root, { recursive: true, force: true })
    },
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const id = (flag: string) => Bun.spawnSync(['id', flag, 'postgres']).stdout.toString().trim()
  return { uid: Number(id('-u')), gid: Number(id('-g')) }
}
