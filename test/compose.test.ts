import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { createSigner } from '../src/core/payouts/signer.ts'
import { keepsSessions } from '../src/db/client.ts'
import { envVariables, parseEnv } from '../src/env.ts'
import { redisOptions } from '../src/redis-options.ts'
import { freePort, gatewayMnemonic } from './helpers/chain.ts'
import { pgServerUrl } from './helpers/db.ts'
import { startPgBouncer } from './helpers/pgbouncer.ts'
import { repoRoot, spawnCli, waitFor } from './helpers/processes.ts'
import { startOwnRedis } from './helpers/redis.ts'

// There is no Docker engine here: the compose files are checked for what would break them at `up` — services
// that reference what does not exist, commands the CLI does not have, variables the gateway does not read or
// refuses, files not in the repository, pool sizes Postgres cannot hold — and the PgBouncer and Sentinel
// configurations they mount are started for real.

type Service = {
  image?: string
  build?: string
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  depends_on?: string[] | Record<string, unknown>
  volumes?: string[]
  deploy?: { replicas?: number }
}
type Compose = { services: Record<string, Service> }

const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8')
const compose = (file: string) => Bun.YAML.parse(read(file)) as Compose
const files = ['docker-compose.yml', 'docker-compose.scale.yml']
const scale = compose('docker-compose.scale.yml')
const gatewayServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.build === '.')
const replicas = (s: Service) => s.deploy?.replicas ?? 1

const dir = mkdtempSync(join(tmpdir(), 'tollgate-compose-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** What compose would hand the process: `${VAR:?…}` filled in, the secret file one of the test's own. */
function resolvedEnvironment(environment: Record<string, string>): Record<string, string> {
  const signer = createSigner(gatewayMnemonic)
  const seedFile = join(dir, 'seed.txt')
  writeFileSync(seedFile, gatewayMnemonic)
  const xpubs = ["m/44'/60'/0'", "m/44'/60'/1'", "m/44'/60'/2'"]
    .map((p) => `${p}=${signer.xpub(p)}`)
    .join(',')
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [
      key,
      key === 'TOLLGATE_SEED_FILE'
        ? seedFile
        : String(value).replace(/^\$\{TOLLGATE_XPUBS:\?[^}]*\}$/, xpubs),
    ]),
  )
}

describe('compose files', () => {
  test('default: both parse, and every dependency, mounted file and build context exists', () => {
    for (const file of files) {
      const { services } = compose(file)
      expect(Object.keys(services).length).toBeGreaterThan(3)
      for (const [name, service] of Object.entries(services)) {
        const deps = Array.isArray(service.depends_on)
          ? service.depends_on
          : Object.keys(service.depends_on ?? {})
        for (const dep of deps) expect(`${file}: ${name} → ${dep} ${dep in services}`).toEndWith('true')
        for (const volume of service.volumes ?? []) {
          const source = volume.split(':')[0] as string
          if (source.startsWith('./'))
            expect(`${file}: ${source} ${existsSync(join(repoRoot, source))}`).toEndWith('true')
        }
        if (service.build) expect(existsSync(join(repoRoot, service.build, 'Dockerfile'))).toBe(true)
        if (service.image) expect(service.image).toMatch(/^[a-z0-9./-]+:[a-z0-9.-]+$/)
        if (service.image) expect(service.image).not.toEndWith(':latest')
      }
    }
  })

  test('default: gateway services run commands the CLI has, with variables the gateway reads and accepts', async () => {
    const usage = spawnCli(['help'], {})
    await usage.proc.exited
    const text = usage.output()
    const pluginVariables = [...read('plugins.config.ts').matchAll(/env\.([A-Z0-9_]+)/g)].map((m) => m[1])
    for (const file of files)
      for (const [name, service] of gatewayServices(compose(file))) {
        const command = service.command ?? []
        if (command[0] === 'worker') {
          expect(command.slice(1, 2)).toEqual(['--role'])
          expect(text).toContain('tollgate worker [--role all|chain|signer]')
          expect(['all', 'chain', 'signer']).toContain(command[2] as string)
        } else expect(text).toContain(`tollgate ${command.join(' ')}`)
        const environment = service.environment ?? {}
        for (const key of Object.keys(environment))
          expect(
            `${file}: ${name} sets ${key}: ${envVariables.includes(key) || pluginVariables.includes(key)}`,
          ).toEndWith('true')
        // the gateway would start with it: nothing refused, the Redis URL usable by every client
        const env = parseEnv(resolvedEnvironment(environment))
        expect(redisOptions(env.REDIS_URL)).toBeDefined()
      }
  })

  test('behavior: the scaled layout replicates the API and the chain worker, not the signer; the balancer reaches the API, trusted as the proxy', () => {
    const { services } = scale
    expect(replicas(services.api!)).toBeGreaterThanOrEqual(2)
    expect(replicas(services['worker-chain']!)).toBeGreaterThanOrEqual(2)
    expect(services['worker-chain']!.command).toEqual(['worker', '--role', 'chain'])
    expect(services.signer!.command).toEqual(['worker', '--role', 'signer'])
    expect(replicas(services.signer!)).toBe(1)
    // only the signer reads the seed
    for (const [name, service] of gatewayServices(scale))
      if (name !== 'signer' && name !== 'migrate')
        expect(Object.keys(service.environment ?? {}).filter((k) => k.startsWith('TOLLGATE_SEED'))).toEqual(
          [],
        )
    const nginx = read('deploy/nginx/nginx.conf')
    expect(nginx).toContain('server api:4000')
    expect(nginx).toContain('listen 8080;')
    const lb = services.lb as Service & { networks: { default: { ipv4_address: string } }; ports: string[] }
    expect(lb.ports).toEqual(['127.0.0.1:4000:8080'])
    expect(services.api!.environment?.TRUST_PROXY).toBe(lb.networks.default.ipv4_address)
  })

  test('behavior: pool sizes fit: every process pool is a PgBouncer client, and PgBouncer, the API LISTENs and the reserve fit max_connections', () => {
    const { services } = scale
    const ini = read('deploy/pgbouncer/pgbouncer.ini')
    const setting = (key: string) => Number(new RegExp(`^${key}\\s*=\\s*(\\d+)`, 'm').exec(ini)?.[1])
    const maxConnections = Number(services.postgres!.command?.join(' ').match(/max_connections=(\d+)/)?.[1])
    expect(maxConnections).toBe(100)
    const long = gatewayServices(scale).filter(([name]) => name !== 'migrate')
    const poolOf = (s: Service) => Number(s.environment?.DATABASE_POOL_SIZE ?? 10)
    const clients = long.reduce((sum, [, s]) => sum + replicas(s) * poolOf(s), 0)
    expect(clients).toBeLessThanOrEqual(setting('max_client_conn'))
    const listens = replicas(services.api!)
    // 3: Postgres's superuser_reserved_connections
    expect(setting('default_pool_size') + setting('reserve_pool_size') + listens + 3).toBeLessThanOrEqual(
      maxConnections,
    )
    // the gateway's URLs point at these services
    const env = services.api!.environment!
    expect(new URL(env.DATABASE_URL!).host).toBe(`pgbouncer:${/^listen_port\s*=\s*(\d+)/m.exec(ini)?.[1]}`)
    expect(new URL(env.DATABASE_DIRECT_URL!).hostname).toBe('postgres')
    expect(ini).toMatch(/^tollgate = host=postgres port=5432/m)
    expect(ini).toMatch(/^pool_mode = transaction$/m)
  })

  test('behavior: the mounted PgBouncer configuration runs (transaction mode: sessions are not kept)', async () => {
    const server = new URL(pgServerUrl)
    const bouncer = await startPgBouncer(
      { host: '127.0.0.1', port: Number(server.port || 5432), user: server.username },
      {
        ini: ({ port, authFile }) =>
          read('deploy/pgbouncer/pgbouncer.ini')
            .replace(
              /^tollgate = host=postgres port=5432 dbname=tollgate user=postgres$/m,
              `tollgate = host=127.0.0.1 port=${server.port || 5432} dbname=postgres user=${server.username}`,
            )
            .replace(/^listen_addr = .*$/m, 'listen_addr = 127.0.0.1')
            .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
            .replace(/^auth_file = .*$/m, `auth_file = ${authFile}`),
      },
    )
    try {
      // it serves queries, and lends a server connection per transaction
      const sql = postgres(bouncer.url('tollgate'), { max: 1, prepare: false, onnotice: () => {} })
      expect([...(await sql`select 1 as one`)]).toEqual([{ one: 1 }])
      await sql.end()
      expect(await keepsSessions(bouncer.url('tollgate'))).toBe(false)
    } finally {
      await bouncer.stop()
    }
  })

  test('behavior: the mounted Sentinel configuration runs and names the master the gateway asks for', async () => {
    const redis = await startOwnRedis(await freePort())
    const sentinelPort = await freePort()
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(
      conf,
      read('deploy/redis/sentinel.conf')
        .replace(/^port 26379$/m, `port ${sentinelPort}`)
        .replace(/redis-primary 6379/, `127.0.0.1 ${redis.port}`),
    )
    const sentinel = Bun.spawn(['redis-server', conf, '--sentinel'], { stdout: 'ignore', stderr: 'ignore' })
    const gateway = redisOptions(scale.services.api!.environment!.REDIS_URL!)
    const client = new Redis({
      port: sentinelPort,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    client.on('error', () => {})
    try {
      expect(gateway.sentinels?.map((s) => s.host)).toEqual(['sentinel-1', 'sentinel-2', 'sentinel-3'])
      for (const host of ['sentinel-1', 'sentinel-2', 'sentinel-3', 'redis-primary', 'redis-replica'])
        expect(scale.services[host]).toBeDefined()
      const master = await waitFor(
        'the sentinel',
        () =>
          client
            .connect()
            .catch(() => undefined)
            .then(() => client.call('sentinel', 'get-master-addr-by-name', gateway.name as string))
            .catch(() => undefined),
        5_000,
      )
      expect(master).toEqual(['127.0.0.1', String(redis.port)])
    } finally {
      client.disconnect()
      sentinel.kill('SIGKILL')
      await sentinel.exited
      await redis.stop()
    }
  })
})
