import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { addresses, addressPool } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

let app: TestApp
beforeAll(async () => {
  app = await createTestApp({ env: { ADDRESS_POOL_SIZE: '25' } })
})
afterAll(async () => {
  await app.close()
})

async function freeAddresses() {
  return (await app.ctx.db.select().from(addressPool)).length
}

test('behavior: the worker keeps the deposit address pool full through its BullMQ scheduler', async () => {
  expect(await freeAddresses()).toBe(0)
  const stop = await startWorkers(app.ctx)
  try {
    const deadline = Date.now() + 10_000
    while ((await freeAddresses()) < 25 && Date.now() < deadline) await Bun.sleep(100)
    expect(await freeAddresses()).toBe(25)
    const rows = await app.ctx.db.select().from(addresses)
    expect(rows.map((r) => r.derivationIndex).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i),
    )
    const redis = new Redis(app.ctx.env.REDIS_URL)
    const schedulers = await redis.keys(`${app.ctx.env.REDIS_PREFIX}:address-pool:repeat*`)
    redis.disconnect()
    expect(schedulers.length).toBeGreaterThan(0)
  } finally {
    await stop()
  }
})
