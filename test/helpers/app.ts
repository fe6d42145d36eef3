import { Writable } from 'node:stream'
import { type ChainSettings, chain, defineConfig, type TollgateConfig } from '@tollgate/sdk'
import pino from 'pino'
import { type AppContext, createContext } from '../../src/context.ts'
import { createMerchant } from '../../src/core/access/merchants.ts'
import { parseEnv } from '../../src/env.ts'
import { createHttpHandler } from '../../src/server.ts'
import { createTestDatabase } from './db.ts'
import { clearRedisPrefix } from './redis.ts'

/** anvil's well-known development mnemonic; its m/44'/60'/0'/0/i addresses are public knowledge. */
export const testMnemonic = 'test test test test test test test test test test test junk'

/** A devnet chain plus a token, pointing at `rpcUrl` (nothing needs to listen there unless a test asks the chain). */
export function testConfig(
  rpcUrl = 'http://127.0.0.1:1',
  overrides: Record<string, unknown> = {},
  settings: ChainSettings = {},
): TollgateConfig {
  return defineConfig({
    chains: {
      devnet: chain(
        () => import('../../src/plugins/evm/index.ts'),
        {
          chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
          rpcUrls: [rpcUrl],
          tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
          confirmations: 3,
          timeoutMs: 1000,
          headPollMs: 100,
          ...overrides,
        },
        { startHeight: 0, scanIntervalMs: 500, ...settings },
      ),
    },
  })
}

export type TestApp = {
  ctx: AppContext
  /** In-process HTTP: the same handler `Bun.serve` uses. */
  fetch(request: Request): Promise<Response>
  /** POST a GraphQL operation; returns the parsed JSON body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, apiKey?: string | null): Promise<T>
  /** A new merchant and its all-scopes key. */
  merchant(name?: string): Promise<{ id: string; key: string }>
  /** Log lines written so far, parsed. */
  logs: Array<Record<string, unknown>>
  databaseUrl: string
  close(): Promise<void>
}

/**
 * A full API context over a database of its own and a Redis prefix of its own.
 *
 * @example
 * const app = await createTestApp()
 * afterAll(() => app.close())
 */
export async function createTestApp(
  options: { config?: TollgateConfig; env?: Record<string, string>; role?: 'api' | 'worker' | 'all' } = {},
): Promise<TestApp> {
  const testDb = await createTestDatabase()
  const env = parseEnv({
    TOLLGATE_ENV: 'test',
    DATABASE_URL: testDb.url,
    REDIS_PREFIX: `test-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_SEED: testMnemonic,
    ADDRESS_POOL_SIZE: '50',
    LOG_LEVEL: 'info',
    ...options.env,
  })
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line))
      done()
    },
  })
  const log = pino({ level: 'info' }, sink)
  const ctx = await createContext(env, log, {
    role: options.role ?? 'all',
    config: options.config ?? testConfig(),
  })
  const { handle } = createHttpHandler(ctx)
  let defaultKey: string | undefined
  const app: TestApp = {
    ctx,
    fetch: handle,
    logs,
    databaseUrl: testDb.url,
    gql: async (query, variables, apiKey) => {
      if (apiKey === undefined && !defaultKey) defaultKey = (await app.merchant('default')).key
      const key = apiKey === undefined ? defaultKey : apiKey
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (key) headers.authorization = `Bearer ${key}`
      const res = await handle(
        new Request('http://tollgate.test/graphql', {
          method: 'POST',
          headers,
          body: JSON.stringify({ query, variables }),
        }),
      )
      return res.json()
    },
    merchant: async (name = 'Test merchant') => {
      const { merchant, apiKey } = await createMerchant(ctx, { name })
      return { id: merchant.id, key: apiKey.key }
    },
    close: async () => {
      await ctx.close()
      await testDb.drop()
      // leave nothing behind in the shared Redis
      await clearRedisPrefix(env.REDIS_URL, env.REDIS_PREFIX)
    },
  }
  return app
}
