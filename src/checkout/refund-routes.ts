import { eq } from 'drizzle-orm'
import type { AppContext } from '../context.ts'
import { assetById } from '../core/chains.ts'
import { TollgateError } from '../core/errors.ts'
import { formatAmount } from '../core/money.ts'
import { claimRefund, type RefundsContext, refundForLink } from '../core/payouts/refunds.ts'
import { collectWithdrawalChanges } from '../core/payouts/withdrawal-changes.ts'
import { outboundTxs, type RefundRow, withdrawals } from '../db/schema/index.ts'
import { refundLink } from './link.ts'
import { type RefundPageView, renderRefundPage } from './refund-page.ts'
import { formActionOf, notFound, pageHeaders, plain, readForm } from './routes.ts'

/** What the refund page needs: the refunds' context (a claim creates the payout), the env for links, the bus. */
export type RefundPageContext = RefundsContext & Pick<AppContext, 'env' | 'bus'>

const refundIdPattern = /^rf_[A-Za-z0-9_-]{1,64}$/

async function viewOf(app: RefundPageContext, r: RefundRow): Promise<RefundPageView> {
  const asset = assetById(app.chains, r.chain, r.asset)
  const [payout] = r.withdrawalId
    ? await app.db
        .select({ hash: outboundTxs.hash })
        .from(withdrawals)
        .innerJoin(outboundTxs, eq(outboundTxs.id, withdrawals.outboundTxId))
        .where(eq(withdrawals.id, r.withdrawalId))
    : []
  return {
    id: r.id,
    status: r.status,
    amount: formatAmount(r.amount, asset.decimals),
    symbol: asset.symbol,
    chainName: r.chain,
    to: r.toAddress,
    txHash: payout?.hash ?? null,
  }
}

async function page(app: RefundPageContext, r: RefundRow, secret: string, status = 200, error?: string) {
  return new Response(renderRefundPage(await viewOf(app, r), { secret, ...(error ? { error } : {}) }), {
    status,
    headers: pageHeaders(false, 'text/html; charset=utf-8', formActionOf(app.env)),
  })
}

/** The status a refused address re-renders the page with. */
function claimStatus(code: TollgateError['code']): number {
  if (code === 'REFUND_LINK_USED') return 409
  if (code === 'CHAIN_UNAVAILABLE') return 503
  return 400
}

/**
 * The refund link's page under `/refund/`: `GET /refund/rf_…?secret=…` shows the refund and, while unused, a form
 * for the buyer's address; `POST /refund/rf_…` (secret, to) gives it, once: the address is validated by the
 * chain's driver and screened like any payout, the payout is queued, and the answer is a 303 back to the page.
 * A refused address writes nothing and shows the form again with the reason (400), a used link says so (409),
 * and a wrong id or secret is a 404 ("Refund not found").
 *
 * @example
 * if (path.startsWith('/refund/')) return handleRefundPage(app, request, path)
 */
export async function handleRefundPage(
  app: RefundPageContext,
  request: Request,
  path: string,
): Promise<Response> {
  const parts = path.split('/').filter(Boolean) // ['refund', id]
  const id = parts[1] ?? ''
  if (parts.length !== 2 || !refundIdPattern.test(id)) return notFound(false, 'Refund')
  if (request.method === 'POST') {
    const form = await readForm(request)
    if (form instanceof Response) return form
    const secret = form.get('secret') ?? ''
    const to = (form.get('to') ?? '').trim()
    if (secret.length === 0 || secret.length > 200) return notFound(false, 'Refund')
    const refund = await refundForLink(app, id, secret)
    if (!refund) return notFound(false, 'Refund')
    try {
      const { result, changes } = await collectWithdrawalChanges(() => claimRefund(app, id, secret, to))
      app.bus.publishWithdrawals(changes)
      return new Response(null, {
        status: 303,
        headers: {
          location: refundLink(app.env, result) ?? '/',
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        },
      })
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      if (err.code === 'NOT_FOUND') return notFound(false, 'Refund')
      const now = (await refundForLink(app, id, secret)) ?? refund
      return page(app, now, secret, claimStatus(err.code), err.message)
    }
  }
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return plain(405, 'method not allowed', { allow: 'GET, HEAD, POST' })
  const secret = new URL(request.url).searchParams.get('secret') ?? ''
  if (secret.length === 0 || secret.length > 200) return notFound(false, 'Refund')
  const refund = await refundForLink(app, id, secret)
  return refund ? page(app, refund, secret) : notFound(false, 'Refund')
}
