import { describe, expect, test } from 'bun:test'
import { TollgateError } from '../errors.ts'
import { checkIdempotencyKey, isPrintable } from './idempotency.ts'

describe('isPrintable', () => {
  test('default: 1 to max printable ASCII characters', () => {
    expect(isPrintable('order-1 ~!', 10)).toBe(true)
    expect(isPrintable('x'.repeat(10), 10)).toBe(true)
  })

  test('error: empty, too long, control characters and non-ASCII are not printable', () => {
    for (const text of ['', 'x'.repeat(11), 'a\nb', 'tab\t', 'nul\u0000', 'del\u007f', 'café', '🔑']) {
      expect(isPrintable(text, 10)).toBe(false)
    }
  })
})

describe('checkIdempotencyKey', () => {
  test('default: a key of 1 to 255 printable characters comes back unchanged', () => {
    expect(checkIdempotencyKey('k')).toBe('k')
    const longest = 'k'.repeat(255)
    expect(checkIdempotencyKey(longest)).toBe(longest)
  })

  test('error: anything else is INVALID_INPUT on idempotencyKey', () => {
    for (const key of ['', 'k'.repeat(256), 'line\nbreak', 'ключ', 42, null, undefined, { key: 'k' }]) {
      let caught: unknown
      try {
        checkIdempotencyKey(key)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(TollgateError)
      expect((caught as TollgateError).code).toBe('INVALID_INPUT')
      expect((caught as TollgateError).field).toBe('idempotencyKey')
    }
  })
})
