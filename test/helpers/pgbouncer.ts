import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { freePort } from './chain.ts'

/** A PgBouncer of a test's own, on a spare port, in front of one Postgres server. */
export type OwnPgBouncer = {
  port: number
  /** The same database as `serverUrl`, reached through PgBouncer. */
  url(database: string): string
  /** `SHOW <what>` on PgBouncer's admin console (`pools`, `clients`, `servers`, `stats`…). */
  show(what: string): Promise<Record<string, unknown>[]>
  version: string
  /** PgBouncer's log (connections, pool changes, errors). */
  log(): string
  stop(): Promise<void>
}

/**
 * The `pgbouncer` binary, or a failure that says how to get it: a test of the PgBouncer layout must not pass
 * by skipping itself.
 */
export function pgbouncerBinary(): string {
  const found = Bun.which('pgbouncer') ?? Bun.which('pgbouncer', { PATH: '/usr/sbin:/usr/local/sbin' })
  if (!found)
    throw new Error(
      'pgbouncer is not installed: `apt-get install -y pgbouncer` (.ci/run does this); the scaled layout is tested through it',
    )
  return found
}

/**
 * Starts `pgbouncer` in `mode` (transaction by default) in front of the Postgres at `server` (host, port and
 * the user it logs in as; trust auth), with `poolSize` server connections per database and user.
 *
 * @example
 * const bouncer = await startPgBouncer({ host: '127.0.0.1', port: 5432, user: 'postgres' })
 * const url = bouncer.url('tollgate')
 */
export async function startPgBouncer(
  server: { host: string; port: number; user: string },
  options: {
    mode?: 'transaction' | 'session'
    poolSize?: number
    /** A configuration of the caller's instead (given the port and user list to use), e.g. a deployment's. */
    ini?: (files: { port: number; authFile: string }) => string
  } = {},
): Promise<OwnPgBouncer> {
  const binary = pgbouncerBinary()
  const version = Bun.spawnSync([binary, '--version']).stdout.toString().split('\n')[0]?.trim() ?? ''
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pgbouncer-'))
  const config = join(dir, 'pgbouncer.ini')
  const authFile = join(dir, 'users.txt')
  writeFileSync(authFile, `"${server.user}" ""\n`)
  writeFileSync(
    config,
    options.ini?.({ port, authFile }) ??
      [
        '[databases]',
        `* = host=${server.host} port=${server.port} user=${server.user}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        "unix_socket_dir = ''",
        'auth_type = trust',
        `auth_file = ${authFile}`,
        `admin_users = ${server.user}`,
        `pool_mode = ${options.mode ?? 'transaction'}`,
        `default_pool_size = ${options.poolSize ?? 5}`,
        'max_client_conn = 1000',
        `logfile = ${join(dir, 'pgbouncer.log')}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'),
  )
  // pgbouncer refuses to run as root; then it drops to the `postgres` system user, which must read its files
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const id = (flag: string) => Number(Bun.spawnSync(['id', flag, 'postgres']).stdout.toString().trim())
    for (const file of ['', 'pgbouncer.ini', 'users.txt']) chownSync(join(dir, file), id('-u'), id('-g'))
  }
  const proc: Subprocess = Bun.spawn([binary, ...(asRoot ? ['-u', 'postgres'] : []), config], {
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const url = (database: string) => `postgres://${server.user}@127.0.0.1:${port}/${database}`
  const admin = () =>
    postgres(url('pgbouncer'), { max: 1, prepare: false, fetch_types: false, onnotice: () => {} })
  const show = async (what: string) => {
    const sql = admin()
    try {
      return [...(await sql.unsafe(`show ${what}`))] as Record<string, unknown>[]
    } finally {
      await sql.end({ timeout: 1 })
    }
  }
  const listening = () =>
    Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
      (socket) => {
        socket.end()
        return true
      },
      () => false,
    )
  for (let i = 0; !(await listening()); i++) {
    if (proc.exitCode !== null)
      throw new Error(
        `pgbouncer exited ${proc.exitCode}: ${await new Response(proc.stderr as ReadableStream).text()}`,
      )
    if (i > 100) throw new Error(`pgbouncer on ${port} did not answer`)
    await Bun.sleep(50)
  }
  return {
    port,
    url,
    show,
    version,
    log: () =>
      existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '',
    stop: async () => {
      proc.kill('SIGTERM')
      await proc.exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
