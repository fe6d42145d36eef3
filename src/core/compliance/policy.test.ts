import { describe, expect, test } from 'bun:test'
import { checkKytPolicy, defaultKytPolicy, effectiveKytPolicy } from './policy.ts'

describe('KYT policy', () => {
  test('default: review and block hold deposits; review waits for approval and block refuses withdrawals; closed', () => {
    expect(effectiveKytPolicy(undefined, null, 'ethereum')).toEqual(defaultKytPolicy)
    expect(defaultKytPolicy).toMatchObject({
      failMode: 'closed',
      deposits: { allow: 'credit', review: 'hold', block: 'hold' },
      withdrawals: { allow: 'send', review: 'approval', block: 'refuse' },
    })
  })

  test('args: the narrower rule wins: gateway, its chain rule, the merchant, the merchant’s chain rule', () => {
    const gateway = checkKytPolicy(
      {
        failMode: 'open',
        deposits: { review: 'credit' },
        chains: { bsc: { failMode: 'closed', failAfterMs: 5 } },
      },
      'kytPolicy',
    )
    const merchant = checkKytPolicy(
      { withdrawals: { review: 'refuse' }, chains: { bsc: { deposits: { review: 'hold' } } } },
      'merchant',
    )
    expect(effectiveKytPolicy(gateway, merchant, 'ethereum')).toMatchObject({
      failMode: 'open',
      deposits: { review: 'credit', block: 'hold' },
      withdrawals: { review: 'refuse', block: 'refuse' },
    })
    expect(effectiveKytPolicy(gateway, merchant, 'bsc')).toMatchObject({
      failMode: 'closed',
      failAfterMs: 5,
      deposits: { review: 'hold' },
    })
  })

  test('error: unknown keys, verdicts and actions are INVALID_INPUT naming the field path', () => {
    const cases: [unknown, string][] = [
      [{ failmode: 'open' }, 'merchant'],
      [{ deposits: { clear: 'credit' } }, 'merchant.deposits'],
      [{ deposits: { review: 'send' } }, 'merchant.deposits.review'],
      [{ withdrawals: { block: 'hold' } }, 'merchant.withdrawals.block'],
      [{ failAfterMs: -1 }, 'merchant.failAfterMs'],
      [{ failMode: 'maybe' }, 'merchant.failMode'],
      [{ chains: { bsc: { deposits: { block: 'credit', x: 1 } } } }, 'merchant.chains.bsc.deposits'],
      ['open', 'merchant'],
    ]
    for (const [value, path] of cases) {
      let message = ''
      try {
        checkKytPolicy(value, 'merchant')
      } catch (err) {
        expect(err).toMatchObject({ code: 'INVALID_INPUT' })
        message = (err as Error).message
      }
      expect(message.startsWith(`${path}:`)).toBe(true)
    }
  })
})
