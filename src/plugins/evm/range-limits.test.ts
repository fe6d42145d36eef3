import { describe, expect, test } from 'bun:test'
import { type LogsProvider, logsRefusal as providerRefusal } from '../../../test/stand-ins/evm-providers.ts'
import { learnedLimit, limitNamedIn, logsRefusal } from './range-limits.ts'

/** An error as viem hands it over: the JSON-RPC error object as the cause, the HTTP status beside it. */
const viemLike = (status: number, error: { code: number; message: string; data?: unknown }) => ({
  message: 'RPC Request failed.',
  status,
  cause: error,
})

describe('eth_getLogs range refusals', () => {
  const named: LogsProvider[] = [
    'alchemy',
    'alchemy-response-size',
    'infura',
    'infura-results',
    'quicknode',
    'bsc',
    'cloudflare',
    'tenderly',
    'avalanche',
    'reth',
  ]
  for (const provider of named)
    test(`default: ${provider}'s refusal is a refusal naming its limit`, () => {
      const { status, error } = providerRefusal(provider, 0x1000n, 0x1000n + 9999n, 2000)
      expect(logsRefusal(viemLike(status, error))).toEqual({ limit: 2000 })
    })

  for (const provider of ['ankr', 'chainstack', 'bare-invalid-params', 'geth-results'] as const)
    test(`default: ${provider}'s refusal is a refusal that names no limit`, () => {
      const { status, error } = providerRefusal(provider, 1n, 5000n, 2000)
      expect(logsRefusal(viemLike(status, error))).toEqual({})
    })

  test('default: the limits providers write out are read as numbers of blocks', () => {
    expect(limitNamedIn('eth_getLogs is limited to a 10,000 range')).toBe(10_000)
    expect(limitNamedIn('eth_getLogs is limited to a 5 range')).toBe(5)
    expect(limitNamedIn('You can make eth_getLogs requests with up to a 2K block range')).toBe(2000)
    expect(limitNamedIn('this block range should work: [0x3b3c4b0, 0x3b3cc7f]')).toBe(
      0x3b3cc7f - 0x3b3c4b0 + 1,
    )
    expect(limitNamedIn('query exceeds max results 20000, retry with the range 100-149')).toBe(50)
    expect(
      limitNamedIn('block range is larger than max block range, block range = 5120, max block range = 5000'),
    ).toBe(5000)
    expect(limitNamedIn('maximum [from, to] blocks distance: 10000')).toBe(10_000)
    expect(limitNamedIn('block range is too wide (maximum 1024)')).toBe(1024)
    expect(limitNamedIn('query returned more than 10000 results')).toBeUndefined()
  })

  test('behavior: HTTP 413 alone is a refusal; rate limits, ranges beyond the head and other errors are not', () => {
    expect(logsRefusal({ status: 413, message: 'Payload Too Large' })).toEqual({})
    expect(
      logsRefusal(
        viemLike(429, { code: 429, message: 'Your app has exceeded its compute units per second capacity.' }),
      ),
    ).toBeUndefined()
    expect(
      logsRefusal(
        viemLike(200, { code: -32005, message: 'daily request count exceeded, request rate limited' }),
      ),
    ).toBeUndefined()
    expect(
      logsRefusal(viemLike(200, { code: -32602, message: 'invalid block range params' })),
    ).toBeUndefined()
    expect(logsRefusal(viemLike(200, { code: -32000, message: 'header not found' }))).toBeUndefined()
    expect(logsRefusal(viemLike(200, { code: -32603, message: 'Internal error' }))).toBeUndefined()
    expect(logsRefusal(new Error('fetch failed'))).toBeUndefined()
  })

  test('behavior: a learned limit only shrinks, is always below what was refused, and never under one block', () => {
    expect(learnedLimit(undefined, 1000, { limit: 500 })).toBe(500)
    expect(learnedLimit(undefined, 1000, {})).toBe(500)
    // a named limit as wide as what was refused still shrinks (the provider counts its range differently)
    expect(learnedLimit(undefined, 10_000, { limit: 10_000 })).toBe(9_999)
    expect(learnedLimit(300, 1000, { limit: 500 })).toBe(300)
    expect(learnedLimit(undefined, 2, {})).toBe(1)
    expect(learnedLimit(undefined, 1, { limit: 0 })).toBe(1)
  })
})
