import { describe, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { newWebhookSecret, signWebhook, verifyWebhook } from './signing.ts'

const body = JSON.stringify({ id: 'evt_1', type: 'payment.completed', data: { amount: '12.5' } })
const now = 1_800_000_000

/** Headers as the independent Standard Webhooks library signs them. */
function signedByLibrary(secret: string, timestamp = now) {
  const signature = new Webhook(secret).sign('msg_1', new Date(timestamp * 1000), body)
  return new Headers({
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  })
}

describe('verifyWebhook', () => {
  test('default: accepts what the Standard Webhooks library signs, and what signWebhook signs', () => {
    const secret = newWebhookSecret()
    expect(verifyWebhook({ headers: signedByLibrary(secret), body, secret, now })).toBe(true)
    // the library checks against the real clock
    const timestamp = Math.floor(Date.now() / 1000)
    const ours = new Headers(signWebhook({ id: 'msg_2', timestamp, body, secrets: [secret] }))
    expect(new Webhook(secret).verify(body, Object.fromEntries(ours))).toEqual(JSON.parse(body))
    expect(verifyWebhook({ headers: ours, body, secret })).toBe(true)
  })

  test('behavior: during a rotation either secret verifies (two signatures in one header)', () => {
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()]
    const headers = new Headers(
      signWebhook({ id: 'm', timestamp: now, body, secrets: [oldSecret, newSecret] }),
    )
    expect(verifyWebhook({ headers, body, secret: oldSecret, now })).toBe(true)
    expect(verifyWebhook({ headers, body, secret: newSecret, now })).toBe(true)
  })

  test('error: a changed body, another secret, a stale or future timestamp, or missing headers fail', () => {
    const secret = newWebhookSecret()
    const headers = signedByLibrary(secret)
    expect(verifyWebhook({ headers, body: body.replace('12.5', '99'), secret, now })).toBe(false)
    expect(verifyWebhook({ headers, body, secret: newWebhookSecret(), now })).toBe(false)
    expect(verifyWebhook({ headers, body, secret, now: now + 301 })).toBe(false)
    expect(verifyWebhook({ headers: signedByLibrary(secret, now + 600), body, secret, now })).toBe(false)
    expect(verifyWebhook({ headers: new Headers(), body, secret, now })).toBe(false)
    const noSignature = new Headers(headers)
    noSignature.set('webhook-signature', 'v1,')
    expect(verifyWebhook({ headers: noSignature, body, secret, now })).toBe(false)
  })
})
