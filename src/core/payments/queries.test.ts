import { describe, expect, test } from 'bun:test'
import { matchable } from './queries.ts'

// Search text that no stored id, order id, address or hash can equal matches nothing instead of reaching
// Postgres (which refuses NUL in text and would fail the whole request).

describe('matchable', () => {
  test('ids, order ids, addresses and hashes up to 256 characters can match', () => {
    expect(matchable('pay_0190f3c2a1b24c7e8d9f0a1b2c3d4e5f')).toBe(true)
    expect(matchable("<img src=x onerror=alert(1)> 'order' #42")).toBe(true)
    expect(matchable('x'.repeat(256))).toBe(true)
    expect(matchable('')).toBe(true)
  })

  test('longer text, NUL and other control characters cannot', () => {
    expect(matchable('x'.repeat(257))).toBe(false)
    expect(matchable('a\u0000b')).toBe(false)
    expect(matchable('line\nbreak')).toBe(false)
    expect(matchable('tab\there')).toBe(false)
    expect(matchable('del\u007f')).toBe(false)
  })
})
