import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AppContext } from '../context.ts'
import { TollgateError } from '../core/errors.ts'
import type { PaymentsContext } from '../core/payments/create.ts'
import { chooseInvoiceMethod } from '../core/payments/invoice-method.ts'
import { notFoundPage } from './html.ts'
import { renderInvoicePage } from './invoice-page.ts'
import { loadInvoiceView } from './invoice-view.ts'
import { checkoutLink } from './link.ts'
import { renderCheckoutPage } from './page.ts'
import { qrSvg } from './qr.ts'
import { loadCheckoutView } from './view.ts'

const assetTypes: Record<string, string> = {
  'checkout.js': 'text/javascript; charset=utf-8',
  'checkout.css': 'text/css; charset=utf-8',
  'embed.js': 'text/javascript; charset=utf-8',
}
// read once: they are part of the release, not operator data
const assets = new Map(
  Object.keys(assetTypes).map((name) => [name, readFileSync(join(import.meta.dir, 'assets', name), 'utf8')]),
)

const paymentIdPattern = /^pay_[A-Za-z0-9_-]{1,64}$/
const invoiceIdPattern = /^inv_[A-Za-z0-9_-]{1,64}$/
/** A method form carries a secret, a chain and an asset id: a few hundred bytes. */
const maxFormBytes = 2048

/** What the checkout needs: payments' context (an invoice's method becomes one), the env for links, the bus. */
export type CheckoutContext = PaymentsContext & Pick<AppContext, 'env' | 'bus'>

/**
 * The page may run only its own script and talk only to its own origin; `frame-ancestors` decides embedding.
 * Only the invoice page submits forms (`formAction`: its own origin, and `PUBLIC_URL`'s, where the choice
 * redirects to); every other page submits none.
 */
export function pageHeaders(embed: boolean, contentType: string, formAction = "'none'"): Headers {
  return new Headers({
    'content-type': contentType,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      `form-action ${formAction}`,
      embed ? 'frame-ancestors *' : "frame-ancestors 'none'",
    ].join('; '),
  })
}

export function notFound(embed: boolean, what: 'Payment' | 'Refund' = 'Payment'): Response {
  return new Response(notFoundPage(what), {
    status: 404,
    headers: pageHeaders(embed, 'text/html; charset=utf-8'),
  })
}

/** A form page's form-action: its own origin, and the one its answers redirect to when `PUBLIC_URL` is set. */
export function formActionOf(env: CheckoutContext['env']): string {
  const base = env.PUBLIC_URL ? new URL(env.PUBLIC_URL).origin : undefined
  return base ? `'self' ${base}` : "'self'"
}

function invoicePage(
  app: CheckoutContext,
  view: NonNullable<Awaited<ReturnType<typeof loadInvoiceView>>>,
  options: { clientSecret: string; embed: boolean; error?: string; status?: number },
): Response {
  return new Response(renderInvoicePage(view, options), {
    status: options.status ?? 200,
    headers: pageHeaders(options.embed, 'text/html; charset=utf-8', formActionOf(app.env)),
  })
}

export function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

/**
 * A method form's fields, or the refusal: only `application/x-www-form-urlencoded`, at most `maxFormBytes`
 * (counted as the body streams in, whatever Content-Length claims).
 */
export async function readForm(request: Request): Promise<URLSearchParams | Response> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded')
    return plain(415, 'unsupported media type: send application/x-www-form-urlencoded')
  const declared = request.headers.get('content-length')
  if (declared !== null && !(Number(declared) <= maxFormBytes)) return plain(413, 'request body too large')
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    const reader = request.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxFormBytes) {
        await reader.cancel()
        return plain(413, 'request body too large')
      }
      chunks.push(value)
    }
  }
  return new URLSearchParams(new TextDecoder().decode(Buffer.concat(chunks)))
}

/** The status a refused choice re-renders the invoice page with. */
function choiceStatus(code: TollgateError['code']): number {
  if (code === 'INVALID_STATE') return 409
  if (code === 'CHAIN_UNAVAILABLE' || code === 'RATE_UNAVAILABLE' || code === 'ADDRESS_POOL_EXHAUSTED')
    return 503
  return 400
}

/**
 * `POST /pay/:invoiceId/methods` (secret, chain, asset): the buyer chooses how to pay an invoice. The method
 * becomes (or, chosen before, is again quoted as) a payment of the invoice, and the answer is a 303 to that
 * payment's own page. A refused choice (a closed invoice, an asset it does not accept, a chain not ready)
 * writes nothing and shows the invoice page again with the reason; a wrong id or secret is the usual 404.
 */
async function chooseMethod(app: CheckoutContext, request: Request, invoiceId: string): Promise<Response> {
  const form = await readForm(request)
  if (form instanceof Response) return form
  const secret = form.get('secret') ?? ''
  const chain = form.get('chain') ?? ''
  const asset = form.get('asset') ?? ''
  const embed = form.get('embed') === '1'
  if (secret.length === 0 || secret.length > 200) return notFound(embed)
  try {
    if (chain.length === 0 || asset.length === 0 || chain.length > 100 || asset.length > 200)
      throw new TollgateError('INVALID_INPUT', 'Choose one of the methods below.', 'asset')
    const { payment, changes } = await chooseInvoiceMethod(
      app,
      { clientSecret: secret },
      { invoiceId, chain, asset },
    )
    if (changes.length > 0) app.bus.publish(changes)
    const location = `${checkoutLink(app.env, payment)}${embed ? '&embed=1' : ''}`
    return new Response(null, {
      status: 303,
      headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
    })
  } catch (err) {
    if (!(err instanceof TollgateError)) throw err
    // the secret is checked again here: a refusal shows the invoice only to the holder of its secret
    const view = await loadInvoiceView(app, invoiceId, secret)
    if (!view || err.code === 'NOT_FOUND') return notFound(embed)
    return invoicePage(app, view, {
      clientSecret: secret,
      embed,
      error: err.message,
      status: choiceStatus(err.code),
    })
  }
}

/**
 * The hosted checkout under `/pay/`: a payment's page (`/pay/pay_…?secret=…`, `&embed=1` for an iframe), the QR
 * code of its current wallet URI (`/pay/pay_…/qr.svg?secret=…`), an invoice's page (`/pay/inv_…?secret=…`, one
 * form per accepted asset) and the POST those forms send (`/pay/inv_…/methods`), and the pages' static assets.
 * A wrong id and a wrong secret get the same 404. Only the method choice takes a POST; everything else is
 * GET or HEAD.
 *
 * @example
 * if (path.startsWith('/pay/')) return handleCheckout(app, request, path)
 */
export async function handleCheckout(
  app: CheckoutContext,
  request: Request,
  path: string,
): Promise<Response> {
  const parts = path.split('/').filter(Boolean) // ['pay', id, 'qr.svg' | 'methods'?]
  const id = parts[1] ?? ''
  const invoice = invoiceIdPattern.test(id)
  if (invoice && parts.length === 3 && parts[2] === 'methods') {
    if (request.method !== 'POST')
      return new Response('method not allowed', { status: 405, headers: { allow: 'POST' } })
    return chooseMethod(app, request, id)
  }
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return new Response('method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } })
  if (parts[1] === 'assets' && parts.length === 3) {
    const name = parts[2] as string
    const body = assets.get(name)
    if (body === undefined) return new Response('not found', { status: 404 })
    return new Response(body, {
      headers: {
        'content-type': assetTypes[name] as string,
        'cache-control': 'public, max-age=300',
        'x-content-type-options': 'nosniff',
        // the embed script is loaded by merchants' pages on other origins
        ...(name === 'embed.js' ? { 'access-control-allow-origin': '*' } : {}),
      },
    })
  }
  const url = new URL(request.url)
  const embed = url.searchParams.get('embed') === '1'
  const secret = url.searchParams.get('secret') ?? ''
  if (secret.length === 0 || secret.length > 200) return notFound(embed)
  if (invoice) {
    if (parts.length !== 2) return notFound(embed)
    const view = await loadInvoiceView(app, id, secret)
    return view ? invoicePage(app, view, { clientSecret: secret, embed }) : notFound(embed)
  }
  if (!paymentIdPattern.test(id) || parts.length > 3) return notFound(embed)
  if (parts.length === 3 && parts[2] !== 'qr.svg') return notFound(embed)
  const view = await loadCheckoutView(app, id, secret)
  if (!view) return notFound(embed)
  if (parts[2] === 'qr.svg')
    return new Response(qrSvg(view.paymentUri, { label: `QR code of ${view.paymentUri}` }), {
      headers: pageHeaders(embed, 'image/svg+xml'),
    })
  return new Response(renderCheckoutPage(view, { clientSecret: secret, embed }), {
    headers: pageHeaders(embed, 'text/html; charset=utf-8'),
  })
}
