import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AppContext } from '../context.ts'
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

/** The page may run only its own script and talk only to its own origin; `frame-ancestors` decides embedding. */
function pageHeaders(embed: boolean, contentType: string): Headers {
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
      "form-action 'none'",
      embed ? 'frame-ancestors *' : "frame-ancestors 'none'",
    ].join('; '),
  })
}

function notFound(embed: boolean): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Payment not found</title><link rel="stylesheet" href="/pay/assets/checkout.css"></head><body><main class="checkout"><h1>Payment not found</h1><p>Check the link you were given, or ask the merchant for a new one.</p></main></body></html>`
  return new Response(body, { status: 404, headers: pageHeaders(embed, 'text/html; charset=utf-8') })
}

/**
 * The hosted checkout under `/pay/`: the page (`/pay/:id?secret=…`, `&embed=1` for an iframe), the QR code of
 * the payment's current wallet URI (`/pay/:id/qr.svg?secret=…`), and the page's static assets. A wrong id and a
 * wrong secret get the same 404.
 *
 * @example
 * if (path.startsWith('/pay/')) return handleCheckout(app, request, path)
 */
export async function handleCheckout(
  app: Pick<AppContext, 'db' | 'chains'>,
  request: Request,
  path: string,
): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return new Response('method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } })
  const parts = path.split('/').filter(Boolean) // ['pay', id, 'qr.svg'?]
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
  const id = parts[1] ?? ''
  const secret = url.searchParams.get('secret') ?? ''
  if (!paymentIdPattern.test(id) || secret.length === 0 || secret.length > 200 || parts.length > 3)
    return notFound(embed)
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
