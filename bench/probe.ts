import { sql } from 'drizzle-orm'
import { createContext } from '../src/context.ts'
import { topUpAddressPool } from '../src/core/addresses.ts'
import { authenticate } from '../src/core/api-keys.ts'
import { createMerchant } from '../src/core/merchants.ts'
import { createPayment } from '../src/core/payments.ts'
import { parseEnv } from '../src/env.ts'
import { createLogger } from '../src/log.ts'
import { testConfig, testMnemonic } from '../test/helpers/app.ts'
import { createTestDatabase } from '../test/helpers/db.ts'

const testDb = await createTestDatabase()
const env = parseEnv({
  DATABASE_URL: testDb.url,
  TOLLGATE_SEED: testMnemonic,
  LOG_LEVEL: 'warn',
  ADDRESS_POOL_SIZE: '20000',
})
const ctx = await createContext(env, createLogger('warn'), { role: 'api', config: testConfig() })
await topUpAddressPool(ctx, ctx.chains.get('devnet')!)
const { merchant, apiKey } = await createMerchant(ctx, { name: 'B' })
async function run(name: string, fn: () => Promise<unknown>, n = 2000) {
  let i = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (i++ < n) await fn()
    }),
  )
  console.log(name, Math.round(n / ((performance.now() - t) / 1000)), '/s')
}
await run('auth', () => authenticate(ctx, `Bearer ${apiKey.key}`))
await run('insert', () => ctx.db.execute(sql`select 1`))
const { apiKeys } = await import('../src/db/schema/index.ts')
const { eq } = await import('drizzle-orm')
await run('select builder', () =>
  ctx.db.select().from(apiKeys).where(eq(apiKeys.prefix, apiKey.prefix)).limit(1),
)
const prep = ctx.db
  .select()
  .from(apiKeys)
  .where(eq(apiKeys.prefix, sql.placeholder('p')))
  .limit(1)
  .prepare('auth_lookup')
await run('select prepared', () => prep.execute({ p: apiKey.prefix }))
await run('raw select', () =>
  ctx.db.execute(sql`select * from api_keys where prefix = ${apiKey.prefix} limit 1`),
)
await run('createPayment', () =>
  createPayment(ctx, merchant.id, { chain: 'devnet', asset: 'USDT', amount: '1' }),
)
await run('createPayment', () =>
  createPayment(ctx, merchant.id, { chain: 'devnet', asset: 'USDT', amount: '1' }),
)
await ctx.close()
await testDb.drop()
