import pino from 'pino'

export type Logger = pino.Logger

/**
 * JSON logs. Secrets are redacted by path as a second line of defence; the first is never logging them.
 *
 * @example
 * const log = createLogger('info').child({ role: 'api' })
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tollgate' },
    redact: ['*.authorization', '*.seed', '*.mnemonic', '*.apiKey', '*.key', '*.clientSecret', '*.secret'],
  })
}
