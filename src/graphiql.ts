import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import graphiqlPackage from '@graphql-yoga/graphiql/package.json' with { type: 'json' }
import type { GraphiQLOptions } from 'graphql-yoga'

// GraphiQL as the gateway serves it itself: yoga's published bundle (@graphql-yoga/graphiql) from our own origin,
// so the page works where no CDN can be reached and loads nothing an operator did not install.

/** The URL prefix of GraphiQL's files; versioned by the bundle's release, so a file never changes under a URL. */
export const graphiqlAssetsPath = `/graphql-assets/${graphiqlPackage.version}/`

const distDir = join(
  dirname(fileURLToPath(import.meta.resolve('@graphql-yoga/graphiql/package.json'))),
  'dist',
)

const javascript = 'text/javascript; charset=utf-8'

/** The bundle's files the page uses, by their name under `graphiqlAssetsPath`: nothing else is served. */
const bundleFiles: Record<string, { file: string; type: string }> = {
  'graphiql.css': { file: 'graphiql.css', type: 'text/css; charset=utf-8' },
  'yoga-graphiql.umd.js': { file: 'yoga-graphiql.umd.js', type: javascript },
  'monacoeditorwork/editor.worker.bundle.js': {
    file: 'monacoeditorwork/editor.worker.bundle.js',
    type: javascript,
  },
  'monacoeditorwork/json.worker.bundle.js': {
    file: 'monacoeditorwork/json.worker.bundle.js',
    type: javascript,
  },
  // sic: the published file name has two dots
  'monacoeditorwork/graphql.worker.bundle.js': {
    file: 'monacoeditorwork/graphql.worker..bundle.js',
    type: javascript,
  },
}

const assetUrl = (name: string) => `${graphiqlAssetsPath}${name}`

/** Monaco's worker per label it asks for (the editor's own, the variables' JSON, GraphQL). */
const workerUrls = {
  editorWorkerService: assetUrl('monacoeditorwork/editor.worker.bundle.js'),
  json: assetUrl('monacoeditorwork/json.worker.bundle.js'),
  graphql: assetUrl('monacoeditorwork/graphql.worker.bundle.js'),
}

/**
 * Runs before the bundle (Monaco reads `MonacoEnvironment` as it loads) and renders once the document is parsed.
 * Workers come from our own origin, so Monaco can start them by URL: yoga's own page fetches them from a CDN
 * and turns them into blob URLs, which `worker-src 'self'` would refuse.
 */
const bootScript = `'use strict'
;(() => {
  const workers = ${JSON.stringify(workerUrls)}
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: (_moduleId, label) => workers[label] || workers.editorWorkerService,
  }
  document.addEventListener('DOMContentLoaded', () => {
    const options = JSON.parse(document.getElementById('graphiql-options').textContent)
    YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options)
  })
})()
`
/** Named by its content: it lives under the bundle's version but is ours, and may change without it. */
const bootScriptName = `tollgate-boot.${createHash('sha256').update(bootScript).digest('hex').slice(0, 12)}.js`

/**
 * The page may run only scripts from its own origin and talk only to it (queries, SSE subscriptions, and Monaco's
 * workers, started from their URLs).
 */
export const graphiqlContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  // CSP Level 3: 'self' also matches ws:/wss: on the page's own host and port (Chromium, Firefox, Safari)
  "connect-src 'self'",
  "img-src 'self' data:",
  // the stylesheet inlines its fonts as data: URLs
  "font-src 'self' data:",
  // Monaco writes <style> elements at runtime (themes, decorations, sizes) and React sets style attributes:
  // without 'unsafe-inline' the editor renders unstyled; scripts stay strictly 'self'
  "style-src 'self' 'unsafe-inline'",
  "manifest-src 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ')

const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')

/**
 * The GraphiQL page for yoga's `renderGraphiQL`: the bundle's stylesheet and scripts from `graphiqlAssetsPath`
 * on our own origin, yoga's options as a JSON block the boot script reads (no inline script, so the page's CSP
 * needs no 'unsafe-inline' for scripts). The icon is an empty data: URL, so the browser asks for no favicon.
 *
 * @example
 * createYoga({ graphiql: { title: 'Tollgate' }, renderGraphiQL: renderSelfHostedGraphiQL })
 */
export function renderSelfHostedGraphiQL(options: GraphiQLOptions): string {
  const title = escapeHtml(options.title ?? 'GraphiQL')
  // `<` never appears raw inside the block, so no value can close the <script> element or open a comment
  const json = JSON.stringify(options).replaceAll('<', '\\u003c')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl('graphiql.css')}">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="root">Loading ${title}…</div>
<script type="application/json" id="graphiql-options">${json}</script>
<script src="${assetUrl(bootScriptName)}"></script>
<script src="${assetUrl('yoga-graphiql.umd.js')}"></script>
</body>
</html>
`
}

/**
 * Gives yoga's GraphiQL answer on `/graphql` (its HTML, to a browser's GET) the page's headers: the CSP, no
 * caching, no sniffing, no referrer. Any other answer is left as it is.
 *
 * @example
 * const response = await yoga.fetch(request)
 * if (graphiqlEnabled) withGraphiQLPageHeaders(response)
 */
export function withGraphiQLPageHeaders(response: Response): Response {
  if (!(response.headers.get('content-type') ?? '').startsWith('text/html')) return response
  response.headers.set('content-type', 'text/html; charset=utf-8')
  response.headers.set('content-security-policy', graphiqlContentSecurityPolicy)
  response.headers.set('cache-control', 'no-store')
  response.headers.set('x-content-type-options', 'nosniff')
  response.headers.set('referrer-policy', 'no-referrer')
  return response
}

const assetHeaders = (type: string) => ({
  'content-type': type,
  // the URL names the version (the boot script: its content), so a file never changes under it
  'cache-control': 'public, max-age=31536000, immutable',
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
})

/**
 * A GraphiQL file under `graphiqlAssetsPath`: only the names the page uses, each mapped to its file; any other
 * path (another version, `..`, an encoded slash) is a 404. GET and HEAD only.
 *
 * @example
 * if (path.startsWith('/graphql-assets/')) return serveGraphiQLAsset(request, path)
 */
export function serveGraphiQLAsset(request: Request, path: string): Response {
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return new Response('method not allowed\n', { status: 405, headers: { allow: 'GET, HEAD' } })
  const name = path.startsWith(graphiqlAssetsPath) ? path.slice(graphiqlAssetsPath.length) : undefined
  if (name === bootScriptName) return new Response(bootScript, { headers: assetHeaders(javascript) })
  const asset =
    name === undefined ? undefined : Object.hasOwn(bundleFiles, name) ? bundleFiles[name] : undefined
  if (!asset)
    return new Response('not found\n', {
      status: 404,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
    })
  return new Response(Bun.file(join(distDir, asset.file)), { headers: assetHeaders(asset.type) })
}
