import { randomBytes } from 'node:crypto'

/**
 * Time-ordered ids with a type prefix (`pay_…`, `mer_…`), so keyset pagination by id is creation order.
 *
 * @example
 * newId('pay') // 'pay_0193a1c2e4f07b2c9d1e3f405162738a'
 */
export function newId(prefix: string): string {
  return `${prefix}_${Bun.randomUUIDv7().replaceAll('-', '')}`
}

/** A random URL-safe secret with `bytes` bytes of entropy. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
