import { Secret, TOTP } from 'otpauth'

// RFC 6238 as every authenticator app reads it by default: SHA-1, 6 digits, 30-second steps
const period = 30
const digits = 6
const issuer = 'Tollgate'
const codePattern = /^[0-9]{6}$/

function totpOf(secret: string, label = ''): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits,
    period,
    secret: Secret.fromBase32(secret),
  })
}

/**
 * A new TOTP secret (160 random bits, as RFC 4226 recommends), in base32 as authenticator apps take it.
 *
 * @example
 * const secret = newTotpSecret() // 'JBSWY3DPEHPK3PXP…'
 */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

/**
 * The `otpauth://` URI an authenticator app scans (as a QR code) to enroll `secret` for `account`.
 *
 * @example
 * totpUri(secret, 'ana@example.com') // 'otpauth://totp/Tollgate:ana%40example.com?issuer=Tollgate&secret=…'
 */
export function totpUri(secret: string, account: string): string {
  return totpOf(secret, account).toString()
}

/**
 * The time step (30-second period since the epoch) whose code `code` is, at `now` or one step either side (a
 * phone's clock a little off, a code typed as it turned over); null when it is none of them or not six digits.
 * Callers refuse a step at or before the last one they accepted, so no code works twice.
 *
 * @example
 * const step = totpStep(secret, '123456', new Date())
 * if (step === null || step <= lastStep) refuse()
 */
export function totpStep(secret: string, code: unknown, now: Date): number | null {
  if (typeof code !== 'string' || !codePattern.test(code)) return null
  const timestamp = now.getTime()
  const delta = totpOf(secret).validate({ token: code, timestamp, window: 1 })
  return delta === null ? null : TOTP.counter({ period, timestamp }) + delta
}

/**
 * The code of `secret` at `at` (what an authenticator app shows then).
 *
 * @example
 * totpCode(secret, new Date()) // '492039'
 */
export function totpCode(secret: string, at: Date): string {
  return totpOf(secret).generate({ timestamp: at.getTime() })
}
