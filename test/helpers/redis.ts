import { Redis } from 'ioredis'

/** Deletes every key under a test's Redis prefix, so runs leave nothing behind in the shared Redis. */
export async function clearRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  try {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length > 0) await redis.del(...keys)
  } finally {
    redis.disconnect()
  }
}

/** A redis-server of a test's own, on a spare port, with nothing persisted: a restart comes back empty. */
export type OwnRedis = {
  url: string
  port: number
  /** SIGKILL, as a crash or an OOM kill would; resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts it again, empty, on the same port; resolves once it answers. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `redis-server` on `port` (never the shared 6379) with persistence off.
 *
 * @example
 * const redis = await startOwnRedis(await freePort())
 * await redis.kill()
 * await redis.restart()
 */
export async function startOwnRedis(port: number): Promise<OwnRedis> {
  if (port === 6379) throw new Error('a test of its own Redis must not use the shared 6379')
  let proc: ReturnType<typeof Bun.spawn> | undefined
  const url = `redis://127.0.0.1:${port}`
  const start = async () => {
    proc = Bun.spawn(['redis-server', '--port', String(port), '--save', '', '--appendonly', 'no'], {
      stdout: 'ignore',
      stderr: 'ignore',
    })
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        if ((await probe.ping()) === 'PONG') return
      } catch {
        await Bun.sleep(50)
      } finally {
        probe.disconnect()
      }
    }
    throw new Error(`redis-server on ${port} did not answer`)
  }
  const kill = async () => {
    proc?.kill('SIGKILL')
    await proc?.exited
    proc = undefined
  }
  await start()
  return { url, port, kill, restart: start, stop: kill }
}
