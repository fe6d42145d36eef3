import { createHmac, randomBytes } from 'node:crypto'

/**
 * A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes.
 *
 * @example
 * newWebhookSecret() // 'whsec_…'
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * Standard Webhooks headers for a body: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 * per secret, space-separated (two during a rotation's overlap).
 *
 * @example
 * const headers = signWebhook({ id: 'evt_…', timestamp: 1700000000, body, secrets: [secret] })
 */
export function signWebhook(a: { id: string; timestamp: number; body: string; secrets: readonly string[] }) {
  const content = `${a.id}.${a.timestamp}.${a.body}`
  const signatures = a.secrets.map((secret) => {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
    return `v1,${createHmac('sha256', key).update(content).digest('base64')}`
  })
  return {
    'webhook-id': a.id,
    'webhook-timestamp': String(a.timestamp),
    'webhook-signature': signatures.join(' '),
  }
}
