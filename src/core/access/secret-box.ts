import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { GatewayError } from '../errors.ts'

// A console user's TOTP secret at rest: sealed with AES-256-GCM under the operator's CONSOLE_SECRET_KEY, the
// user's id bound in as associated data, so a copied database alone yields no second factor, and a sealed
// secret moved to another user's row does not open.

const sealedPrefix = 'v1.'

/**
 * Whether a stored secret is sealed (else it was stored before the operator set a key).
 *
 * @example
 * isSealed('v1.AAAA.BBBB') // true
 */
export const isSealed = (stored: string) => stored.startsWith(sealedPrefix)

/**
 * The key of CONSOLE_SECRET_KEY (64 hex digits), or undefined when none is set.
 *
 * @example
 * const key = secretKeyOf(env.CONSOLE_SECRET_KEY)
 */
export function secretKeyOf(hex: string | undefined): Buffer | undefined {
  if (hex === undefined) return undefined
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('CONSOLE_SECRET_KEY: must be 64 hex digits (32 bytes)')
  return Buffer.from(hex, 'hex')
}

/**
 * Seals `secret` for the user `owner` under `key`; without a key the secret is stored as it is.
 *
 * @example
 * const stored = sealSecret(key, user.id, 'JBSWY3DPEHPK3PXP') // 'v1.<iv>.<ciphertext+tag>'
 */
export function sealSecret(key: Buffer | undefined, owner: string, secret: string): string {
  if (!key) return secret
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(owner, 'utf8'))
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return `${sealedPrefix}${iv.toString('base64url')}.${sealed.toString('base64url')}`
}

/**
 * The secret a stored value holds for `owner`. A sealed value without the key, under another key, or of another
 * user is a permanent TOTP_SECRET_UNREADABLE (the operator's configuration, never the user's fault): nothing is
 * guessed.
 *
 * @example
 * const secret = openSecret(key, user.id, row.totpSecret)
 */
export function openSecret(key: Buffer | undefined, owner: string, stored: string): string {
  if (!isSealed(stored)) return stored
  const refuse = (why: string) =>
    new GatewayError('permanent', 'TOTP_SECRET_UNREADABLE', `a console TOTP secret cannot be opened: ${why}`)
  if (!key) throw refuse('it is sealed and CONSOLE_SECRET_KEY is not set')
  const [iv, body] = stored.slice(sealedPrefix.length).split('.')
  const sealed = Buffer.from(body ?? '', 'base64url')
  if (!iv || sealed.length < 17) throw refuse('the stored value is malformed')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(owner, 'utf8'))
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - 16)),
      decipher.final(),
    ]).toString('utf8')
  } catch {
    throw refuse('it was sealed under another key, or for another user')
  }
}
