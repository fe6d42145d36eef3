import { describe, expect, test } from 'bun:test'
import type { AssetInfo, DriverLogger } from '@tollgate/sdk'
import { tronHexToBase58 } from './address.ts'
import { createTronDriver, tronAddressKey } from './index.ts'
import { tronOptionsSchema } from './options.ts'
import { tronBlackHole } from './payouts.ts'

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const usdtContract = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'
// nothing listens there: these checks are decided from the address alone
const driver = createTronDriver(
  tronOptionsSchema.parse({
    fullHosts: ['http://127.0.0.1:1'],
    tokens: [{ symbol: 'USDT', address: usdtContract, decimals: 6 }],
    retryRounds: 1,
    timeoutMs: 200,
  }),
  { chain: 'tron', log: silent },
)
const asset = (symbol: string) => driver.assets.find((a) => a.symbol === symbol) as AssetInfo
const treasury = 'TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH'
const check = (to: string, symbol: string) =>
  driver.payouts!.checkDestination!({ from: treasury, to, asset: asset(symbol), amount: 1_000_000n })

/** The spellings `validateAddress` accepts for one address: base58, and hex with and without 0x, any case. */
function spellings(base58: string): string[] {
  const hex = tronAddressKey(base58)
  return [base58, hex, hex.toUpperCase(), `0x${hex}`]
}

describe('Tron checkDestination', () => {
  test('default: the black hole is T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb, 21 bytes 41 00…00', () => {
    expect(tronHexToBase58(tronBlackHole)).toBe('T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb')
  })

  test('default: an ordinary account is fine for TRX and tokens', async () => {
    expect(await check('TPL66VK2gCXNCD7EJg9pgJRfqcRazjhUZY', 'TRX')).toEqual({ ok: true })
    expect(await check('TPL66VK2gCXNCD7EJg9pgJRfqcRazjhUZY', 'USDT')).toEqual({ ok: true })
  })

  test('error: the black hole is BURN_ADDRESS in base58 and hex, for TRX and tokens', async () => {
    for (const to of spellings('T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb'))
      for (const symbol of ['TRX', 'USDT'])
        expect({ to, symbol, verdict: await check(to, symbol) }).toMatchObject({
          to,
          symbol,
          verdict: { ok: false, code: 'BURN_ADDRESS' },
        })
  })

  test('error: a token sent to its own contract is DESTINATION_REJECTED in every spelling', async () => {
    for (const to of spellings(usdtContract))
      expect({ to, verdict: await check(to, 'USDT') }).toMatchObject({
        to,
        verdict: { ok: false, code: 'DESTINATION_REJECTED' },
      })
  })
})
