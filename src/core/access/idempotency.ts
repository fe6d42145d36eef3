import { invalidInput } from '../errors.ts'

const printable = /^[\x20-\x7e]+$/

/** Whether `text` is 1 to `max` printable ASCII characters (what identifiers merchants send us may be). */
export function isPrintable(text: string, max: number): boolean {
  return text.length > 0 && text.length <= max && printable.test(text)
}

/**
 * An idempotency key as merchants may send it (1 to 255 printable ASCII characters), or an INVALID_INPUT error.
 *
 * @example
 * const key = checkIdempotencyKey(input.idempotencyKey)
 */
export function checkIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string' || !isPrintable(key, 255))
    throw invalidInput('idempotencyKey', 'idempotencyKey must be 1 to 255 printable ASCII characters')
  return key
}
