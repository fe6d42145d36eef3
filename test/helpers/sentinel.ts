import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { Redis } from 'ioredis'
import { freePort } from './chain.ts'
import { waitFor } from './processes.ts'

/** A Redis master, its replica and a Sentinel watching them, each on a spare port, nothing persisted. */
export type SentinelSet = {
  /** The gateway's REDIS_URL for it: `redis+sentinel://127.0.0.1:<sentinel port>/<name>`. */
  url: string
  name: string
  /** The port of the node the sentinel calls master now. */
  masterPort(): Promise<number>
  /** `SENTINEL FAILOVER`: the replica becomes master; resolves once the sentinel names it and it accepts writes. */
  failover(): Promise<number>
  stop(): Promise<void>
}

async function answers(port: number): Promise<boolean> {
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

/** One command against the node or sentinel on `port`. */
export async function redisCommand(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(...(args as [string, ...string[]]))
  } finally {
    client.disconnect()
  }
}

/**
 * Starts a master, a replica of it and a sentinel (`redis-server <config> --sentinel`) that already knows the
 * replica, so a failover can be asked for at once.
 *
 * @example
 * const set = await startSentinelSet()
 * await set.failover()
 */
export async function startSentinelSet(): Promise<SentinelSet> {
  const name = 'tollgate'
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-sentinel-'))
  const procs: Subprocess[] = []
  const spawn = (args: string[]) => {
    const proc = Bun.spawn(['redis-server', ...args], { cwd: dir, stdout: 'ignore', stderr: 'ignore' })
    procs.push(proc)
  }
  const node = (port: number, ...extra: string[]) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    ...extra,
  ]
  spawn(node(masterPort))
  spawn(node(replicaPort, '--replicaof', '127.0.0.1', String(masterPort)))
  await waitFor('master and replica', async () => (await answers(masterPort)) && answers(replicaPort), 10_000)
  await waitFor(
    'the replica in sync',
    async () =>
      String(await redisCommand(replicaPort, 'info', 'replication')).includes('master_link_status:up'),
    10_000,
  )
  // the sentinel rewrites its file: it must be writable
  const config = join(dir, 'sentinel.conf')
  writeFileSync(
    config,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'),
  )
  spawn([config, '--sentinel'])
  await waitFor('the sentinel', () => answers(sentinelPort), 10_000)
  /** Whether the sentinel has a replica it would promote: connected, its link to the master up. */
  const goodReplica = async () => {
    const replicas = (await redisCommand(sentinelPort, 'sentinel', 'replicas', name)) as string[][]
    return replicas.some((fields) => {
      const field = (key: string) => fields[fields.indexOf(key) + 1]
      return field('flags') === 'slave' && field('master-link-status') === 'ok'
    })
  }
  await waitFor('the sentinel knowing a good replica', goodReplica, 15_000)
  const masterPortNow = async () =>
    Number(((await redisCommand(sentinelPort, 'sentinel', 'get-master-addr-by-name', name)) as string[])[1])
  return {
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/${name}`,
    name,
    masterPort: masterPortNow,
    failover: async () => {
      const before = await masterPortNow()
      // a replica the sentinel saw only once may not be eligible yet (NOGOODSLAVE): ask again
      await waitFor(
        'the sentinel to start a failover',
        () =>
          redisCommand(sentinelPort, 'sentinel', 'failover', name).then(
            () => true,
            (err: Error) => {
              if (!err.message.startsWith('NOGOODSLAVE')) throw err
              return false
            },
          ),
        10_000,
      )
      const after = await waitFor(
        'the sentinel naming the new master',
        async () => {
          const port = await masterPortNow()
          return port !== before && port
        },
        10_000,
      )
      await waitFor(
        'the new master accepting writes',
        async () => String(await redisCommand(after, 'info', 'replication')).includes('role:master'),
        10_000,
      )
      return after
    },
    stop: async () => {
      for (const proc of procs) proc.kill('SIGKILL')
      await Promise.all(procs.map((p) => p.exited))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
