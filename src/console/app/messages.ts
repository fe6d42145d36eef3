import type { LoginRefusal } from './api.ts'

/** "in 2 minutes", "in 45 seconds": how long until a lock or limit lifts. */
function waitText(seconds: number): string {
  if (seconds < 90) return `in ${seconds} second${seconds === 1 ? '' : 's'}`
  const minutes = Math.ceil(seconds / 60)
  return `in ${minutes} minutes`
}

/** The clock time `seconds` after `now`, as the reader's locale writes hours and minutes. */
function clockText(now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
  })
}

/**
 * A refused sign-in in words, for the person at the keyboard.
 *
 * @example
 * loginRefusalText({ code: 'LOGIN_FAILED', message: '…', retryAfterSeconds: 900 }, new Date())
 * // 'Too many failed sign-ins: this account is locked. Try again in 15 minutes (at 14:05).'
 */
export function loginRefusalText(refusal: LoginRefusal, now: Date): string {
  const wait = refusal.retryAfterSeconds
  switch (refusal.code) {
    case 'LOGIN_FAILED':
      return wait === undefined
        ? 'The email, password or code is not right.'
        : `Too many failed sign-ins: this account is locked. Try again ${waitText(wait)} (at ${clockText(now, wait)}).`
    case 'RATE_LIMITED':
      return wait === undefined
        ? 'Too many sign-in attempts. Wait a while, then try again.'
        : `Too many sign-in attempts. Try again ${waitText(wait)} (at ${clockText(now, wait)}).`
    case 'TOTP_REQUIRED':
      return 'Enter the 6-digit code from your authenticator app.'
    case 'NETWORK':
      return 'The gateway could not be reached. Check the connection and try again.'
    default:
      return `Sign-in refused: ${refusal.message}.`
  }
}
