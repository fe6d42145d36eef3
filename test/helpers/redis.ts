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
