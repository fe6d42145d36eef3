import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pino from 'pino'
import { createContext } from '../../src/context.ts'
import { createSigner } from '../../src/core/payouts/signer.ts'
import { addresses, addressPool } from '../../src/db/schema/index.ts'
import { parseEnv } from '../../src/env.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp, testConfig, testMnemonic } from '../helpers/app.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { createMerchantWithCli, graphqlClient, spawnApi, spawnWorker } from '../helpers/processes.ts'
import { clearRedisPrefix } from '../helpers/redis.ts'

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

describe('watch-only processes hold no seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-watch-only-'))
  const seedFile = join(dir, 'seed.txt')
  writeFileSync(seedFile, `${testMnemonic}\n`)
  const xpubs = `m/44'/60'/0'=${createSigner(testMnemonic).xpub("m/44'/60'/0'")}`
  const seedWords = testMnemonic.split(' ').slice(0, 3).join(' ')
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  const prefix = `watch-${crypto.randomUUID().slice(0, 8)}`
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    await db.drop()
    await clearRedisPrefix('redis://127.0.0.1:6379', prefix)
    rmSync(dir, { recursive: true, force: true })
  })

  const roles = [
    ['api', { TOLLGATE_SEED_FILE: seedFile, TOLLGATE_XPUBS: xpubs }, 'TOLLGATE_SEED_FILE'],
    ['api', { TOLLGATE_SEED: testMnemonic, TOLLGATE_XPUBS: xpubs }, 'TOLLGATE_SEED'],
    ['worker-chain', { TOLLGATE_SEED_FILE: seedFile, TOLLGATE_XPUBS: xpubs }, 'TOLLGATE_SEED_FILE'],
  ] as const
  for (const [role, seedEnv, source] of roles)
    test(`behavior: the ${role} role given TOLLGATE_XPUBS and ${source} drops the seed and says so`, async () => {
      const env = parseEnv({ DATABASE_URL: db.url, REDIS_PREFIX: prefix, ...seedEnv })
      expect(env.seed).toBe(testMnemonic)
      const lines: Array<Record<string, unknown>> = []
      const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
      const ctx = await createContext(env, log, { role, config: testConfig() })
      try {
        expect(ctx.signer).toBeUndefined()
        // the caller's env object is the same one: nothing of the seed is left in it
        expect(ctx.env).toBe(env)
        expect(env.seed).toBeUndefined()
        expect(JSON.stringify(env)).not.toContain(seedWords)
        expect(process.env.TOLLGATE_SEED).toBeUndefined()
        const warned = lines.find((l) => String(l.msg).includes('dropped'))
        expect(warned?.level).toBe(40)
        expect(warned?.seedSource).toBe(source)
        expect(JSON.stringify(lines)).not.toContain(seedWords)
      } finally {
        await ctx.close()
      }
    })

  test('behavior: `serve` started with a seed file and TOLLGATE_XPUBS drops the seed, says so, and still derives addresses', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_PREFIX: prefix,
      TOLLGATE_SEED_FILE: seedFile,
      TOLLGATE_XPUBS: xpubs,
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
      TEST_RPC_URL: 'http://127.0.0.1:9',
      ADDRESS_POOL_SIZE: '3',
      LOG_LEVEL: 'info',
    }
    const apiKey = await createMerchantWithCli(env, 'Watch-only shop')
    const api = await spawnApi(env)
    try {
      expect(api.output()).toContain('the seed from TOLLGATE_SEED_FILE was dropped unused')
      expect(api.output()).not.toContain('holds the seed')
      expect(api.output()).not.toContain(seedWords)
      const res = await graphqlClient(
        api.url,
        apiKey,
      )(
        'mutation { createPayment(input: { chain: "devnet", asset: "ETH", amount: "1" }) { ... on CreatePaymentPayload { payment { address } } } }',
      )
      // anvil's account 0: derived from the xpub alone
      expect(res.data.createPayment.payment.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    } finally {
      await api.stop()
    }
  })

  test('behavior: `worker --role chain` with a seed file drops it too; the signer keeps it', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_PREFIX: prefix,
      TOLLGATE_SEED_FILE: seedFile,
      TOLLGATE_XPUBS: xpubs,
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
      TEST_RPC_URL: 'http://127.0.0.1:9',
      LOG_LEVEL: 'info',
    }
    const chainWorker = await spawnWorker(env, ['--role', 'chain'])
    const signer = await spawnWorker(env, ['--role', 'signer'])
    try {
      expect(chainWorker.output()).toContain('the seed from TOLLGATE_SEED_FILE was dropped unused')
      expect(chainWorker.output()).toContain('"signs":false')
      expect(signer.output()).not.toContain('dropped unused')
      expect(signer.output()).toContain('"signs":true')
    } finally {
      await Promise.all([chainWorker.stop(), signer.stop()])
    }
  })
})
