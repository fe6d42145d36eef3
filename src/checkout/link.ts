import type { Env } from '../env.ts'

/**
 * The hosted checkout link for a payment: `PUBLIC_URL` (or this server's own address) + `/pay/:id?secret=…`.
 *
 * @example
 * checkoutLink(env, payment) // 'https://pay.example.com/pay/pay_0193…?secret=cs_…'
 */
export function checkoutLink(
  env: Pick<Env, 'PUBLIC_URL' | 'HOST' | 'PORT'>,
  payment: { id: string; clientSecret: string },
): string {
  return `${baseUrl(env)}/pay/${encodeURIComponent(payment.id)}?secret=${encodeURIComponent(payment.clientSecret)}`
}

function baseUrl(env: Pick<Env, 'PUBLIC_URL' | 'HOST' | 'PORT'>): string {
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST
  return env.PUBLIC_URL ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${env.PORT}`
}

/**
 * The page where a refund's buyer enters the address to be refunded to: `/refund/:id?secret=…`; null for a refund
 * whose address the merchant gave.
 *
 * @example
 * refundLink(env, refund) // 'https://pay.example.com/refund/rf_0193…?secret=rfs_…'
 */
export function refundLink(
  env: Pick<Env, 'PUBLIC_URL' | 'HOST' | 'PORT'>,
  refund: { id: string; linkSecret: string | null },
): string | null {
  if (!refund.linkSecret) return null
  return `${baseUrl(env)}/refund/${encodeURIComponent(refund.id)}?secret=${encodeURIComponent(refund.linkSecret)}`
}
