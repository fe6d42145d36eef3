import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { openUnitDb } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { apiKeys, merchants } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import { apiKeyScopes, authenticate } from './api-keys.ts'
import { createMerchant, getMerchant } from './merchants.ts'

let handle: DbHandle
beforeAll(async () => {
  handle = await openUnitDb()
}, 30_000)
afterAll(() => handle.close())

async function counts() {
  const [m] = await handle.db.select({ n: count() }).from(merchants)
  const [k] = await handle.db.select({ n: count() }).from(apiKeys)
  return { merchants: m!.n, keys: k!.n }
}

describe('createMerchant', () => {
  test('default: a merchant with its first key (every scope), which authenticates as that merchant', async () => {
    const { merchant, apiKey } = await createMerchant(handle, { name: 'Acme' })
    expect(merchant.id).toMatch(/^mer_[0-9a-f]{32}$/)
    expect(merchant.name).toBe('Acme')
    expect(apiKey.scopes).toEqual([...apiKeyScopes])
    const auth = await authenticate(handle, `Bearer ${apiKey.key}`)
    expect(auth.merchantId).toBe(merchant.id)
    expect(auth.keyId).toBe(apiKey.id)
    expect([...auth.scopes].sort()).toEqual([...apiKeyScopes].sort())
    // the key is in the result and nowhere in the tables
    const [row] = await handle.db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id))
    expect(JSON.stringify(row)).not.toContain(apiKey.key.slice(-43))
  })

  test('behavior: the name is trimmed; 200 characters are accepted', async () => {
    const { merchant } = await createMerchant(handle, { name: '  Spaced Shop \n' })
    expect(merchant.name).toBe('Spaced Shop')
    const long = await createMerchant(handle, { name: 'm'.repeat(200) })
    expect(long.merchant.name).toHaveLength(200)
  })

  test('behavior: two merchants of the same name are two merchants with two keys', async () => {
    const a = await createMerchant(handle, { name: 'Twin' })
    const b = await createMerchant(handle, { name: 'Twin' })
    expect(a.merchant.id).not.toBe(b.merchant.id)
    expect((await authenticate(handle, `Bearer ${b.apiKey.key}`)).merchantId).toBe(b.merchant.id)
  })

  test('error: an empty, blank or 201-character name is INVALID_INPUT on name and creates nothing', async () => {
    const before = await counts()
    for (const name of ['', '   ', 'm'.repeat(201)]) {
      let caught: unknown
      try {
        await createMerchant(handle, { name })
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(TollgateError)
      expect((caught as TollgateError).code).toBe('INVALID_INPUT')
      expect((caught as TollgateError).field).toBe('name')
    }
    expect(await counts()).toEqual(before)
  })
})

describe('getMerchant', () => {
  test('default: a merchant by id; an unknown id is undefined', async () => {
    const { merchant } = await createMerchant(handle, { name: 'Lookup' })
    expect(await getMerchant(handle, merchant.id)).toEqual(merchant)
    expect(await getMerchant(handle, 'mer_unknown')).toBeUndefined()
  })
})
