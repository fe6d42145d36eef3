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
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST
  const base = env.PUBLIC_URL ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${env.PORT}`
  return `${base}/pay/${encodeURIComponent(payment.id)}?secret=${encodeURIComponent(payment.clientSecret)}`
}
