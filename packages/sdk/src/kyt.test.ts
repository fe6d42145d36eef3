import { describe, expect, test } from 'bun:test'
import { isDriverError } from './errors.ts'
import {
  checkKytAnswer,
  checkKytRequest,
  defineKytProvider,
  type KytAnswer,
  type KytVerdict,
  worstVerdict,
} from './kyt.ts'
import { SDK_API_VERSION } from './types.ts'

const answer = (verdict: KytVerdict): KytAnswer => ({
  verdict,
  categories: [],
  reasons: [],
  source: { provider: 'test' },
})

/** The error `fn` throws, which must be a DriverError. */
function thrown(fn: () => unknown): { code: string; retryable: boolean; message: string } {
  try {
    fn()
  } catch (err) {
    if (isDriverError(err)) return err
    throw err
  }
  throw new Error('did not throw')
}

const request = {
  chain: 'eip155:1',
  address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  addressKey: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  direction: 'inbound',
}

describe('worstVerdict', () => {
  test('behavior: block beats review beats allow, in any order', () => {
    const all: KytVerdict[] = ['allow', 'review', 'block']
    for (const a of all)
      for (const b of all)
        for (const c of all) {
          const got = worstVerdict([answer(a), answer(b), answer(c)])
          const expected = [a, b, c].includes('block')
            ? 'block'
            : [a, b, c].includes('review')
              ? 'review'
              : 'allow'
          expect(got).toBe(expected)
        }
    expect(worstVerdict([answer('allow')])).toBe('allow')
  })

  test('behavior: no answer or an unknown verdict is an error, never a verdict', () => {
    expect(thrown(() => worstVerdict([]))).toMatchObject({ code: 'KYT_NO_ANSWERS', retryable: false })
    for (const verdict of ['deny', '', undefined, 2, 'constructor', '__proto__'])
      expect(
        thrown(() => worstVerdict([answer('allow'), { verdict } as unknown as KytAnswer])),
      ).toMatchObject({ code: 'KYT_BAD_ANSWER' })
    expect(thrown(() => worstVerdict([null as unknown as KytAnswer]))).toMatchObject({
      code: 'KYT_BAD_ANSWER',
    })
  })
})

describe('checkKytRequest', () => {
  test('behavior: a well-formed request passes as is', () => {
    const full = {
      ...request,
      asset: 'eip155:1/slip44:60',
      amount: 10n,
      txHash: '0xabc',
      direction: 'outbound',
    }
    expect(checkKytRequest(full)).toBe(full as never)
  })

  test('boundary: hostile requests are KYT_BAD_REQUEST errors whose message never echoes a huge input', () => {
    const hostile: unknown[] = [
      null,
      'eip155:1',
      [],
      { ...request, address: '' },
      { ...request, address: 'a'.repeat(10_000) },
      { ...request, addressKey: 'a'.repeat(10_000) },
      { ...request, address: 42 },
      { ...request, addressKey: undefined },
      { ...request, chain: 'ethereum' },
      { ...request, chain: `eip155:${'1'.repeat(10_000)}` },
      { ...request, direction: 'sideways' },
      { ...request, amount: -1n },
      { ...request, amount: 1 },
      { ...request, asset: '' },
      { ...request, txHash: {} },
    ]
    for (const value of hostile) {
      const err = thrown(() => checkKytRequest(value))
      expect(err).toMatchObject({ code: 'KYT_BAD_REQUEST', retryable: false })
      expect(err.message.length).toBeLessThan(200)
    }
  })
})

describe('checkKytAnswer', () => {
  test('behavior: a provider answer passes; garbage is a KYT_BAD_ANSWER error', () => {
    const good = { ...answer('block'), risk: 'severe', categories: ['sanctions'], reasons: ['listed'] }
    expect(checkKytAnswer(good)).toBe(good as KytAnswer)
    const garbage: unknown[] = [
      null,
      'block',
      { ...good, verdict: 'deny' },
      { ...good, risk: 'extreme' },
      { ...good, categories: 'sanctions' },
      { ...good, reasons: [1] },
      { ...good, reasons: Array.from({ length: 10_000 }, () => 'x') },
      { ...good, reasons: ['x'.repeat(1_000_000)] },
      { ...good, source: undefined },
      { ...good, source: { provider: '' } },
      { ...good, source: { provider: 'p', version: 5 } },
    ]
    for (const value of garbage)
      expect(thrown(() => checkKytAnswer(value))).toMatchObject({ code: 'KYT_BAD_ANSWER', retryable: false })
  })
})

test('behavior: defineKytProvider hands back the definition it is given', () => {
  const definition = {
    apiVersion: SDK_API_VERSION,
    name: 'test',
    options: {
      '~standard': { version: 1 as const, vendor: 'test', validate: (value: unknown) => ({ value }) },
    },
    create: () => ({ screen: async () => answer('allow') }),
  }
  expect(defineKytProvider(definition)).toBe(definition)
})
