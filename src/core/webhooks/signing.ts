import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

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

/**
 * Checks a delivery the way a merchant's receiver should: one of the `webhook-signature` entries is the HMAC of
 * `id.timestamp.body` under the endpoint's secret (compared in constant time), and the timestamp is within
 * `toleranceSeconds` of now (so a captured delivery cannot be replayed later).
 *
 * @example
 * if (!verifyWebhook({ headers: request.headers, body: await request.text(), secret })) return new Response(null, { status: 400 })
 */
export function verifyWebhook(a: {
  headers: Headers
  body: string
  secret: string
  toleranceSeconds?: number
  now?: number
}): boolean {
  const id = a.headers.get('webhook-id')
  const timestamp = Number(a.headers.get('webhook-timestamp'))
  const signatures = (a.headers.get('webhook-signature') ?? '').split(' ').filter(Boolean)
  if (!id || !Number.isInteger(timestamp) || signatures.length === 0) return false
  const now = a.now ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - timestamp) > (a.toleranceSeconds ?? 300)) return false
  const expected = Buffer.from(
    signWebhook({ id, timestamp, body: a.body, secrets: [a.secret] })['webhook-signature'],
  )
  return signatures.some((candidate) => {
    const given = Buffer.from(candidate)
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
