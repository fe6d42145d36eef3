import { describe, expect, test } from 'bun:test'
import { newTotpSecret, totpCode, totpStep, totpUri } from './totp.ts'

// RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" (base32 below), 8-digit vectors whose last six
// digits are the 6-digit codes
const rfcSecret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'

describe('totp', () => {
  test('default: the codes of RFC 6238 at its test times, and the step each belongs to', () => {
    expect(totpCode(rfcSecret, new Date(59_000))).toBe('287082')
    expect(totpCode(rfcSecret, new Date(1_111_111_109_000))).toBe('081804')
    expect(totpCode(rfcSecret, new Date(2_000_000_000_000))).toBe('279037')
    expect(totpStep(rfcSecret, '081804', new Date(1_111_111_109_000))).toBe(37_037_036)
  })

  test('behavior: a code is accepted one step either side of now, not two', () => {
    const now = new Date(1_700_000_000_000)
    const step = Math.floor(now.getTime() / 30_000)
    const at = (steps: number) => new Date(now.getTime() + steps * 30_000)
    expect(totpStep(rfcSecret, totpCode(rfcSecret, at(-1)), now)).toBe(step - 1)
    expect(totpStep(rfcSecret, totpCode(rfcSecret, at(1)), now)).toBe(step + 1)
    expect(totpStep(rfcSecret, totpCode(rfcSecret, at(-2)), now)).toBeNull()
    expect(totpStep(rfcSecret, totpCode(rfcSecret, at(2)), now)).toBeNull()
  })

  test('error: anything but six digits is no code', () => {
    const now = new Date(59_000)
    for (const code of ['', '28708', '2870822', ' 287082', '28708a', 287082, null, undefined, '２８７０８２'])
      expect(totpStep(rfcSecret, code, now)).toBeNull()
  })

  test('default: a new secret is 160 random bits in base32; its URI names the issuer and the account', () => {
    const secret = newTotpSecret()
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(newTotpSecret()).not.toBe(secret)
    const uri = new URL(totpUri(secret, 'ana@example.com'))
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(decodeURIComponent(uri.pathname)).toBe('/Tollgate:ana@example.com')
    expect(uri.searchParams.get('secret')).toBe(secret)
    expect(uri.searchParams.get('issuer')).toBe('Tollgate')
    expect(uri.searchParams.get('digits')).toBe('6')
    expect(uri.searchParams.get('period')).toBe('30')
  })
})
