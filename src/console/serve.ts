import { createHash } from 'node:crypto'
import { join } from 'node:path'

// The console's pages as the gateway serves them itself: the client under ./app is bundled by Bun.build once per
// process (in memory, minified), its files named by their content, and served with the HTML shell under a CSP
// that lets the page load and talk to nothing but its own origin. Nothing comes from a CDN.

/** The URL path of the console's page. */
export const consolePath = '/console'
/** The URL prefix of the console's bundled files. */
export const consoleAssetsPath = '/console/assets/'

/**
 * The page runs only its own script and stylesheet, connects only to its own origin (the sign-in routes and
 * /graphql), and cannot be framed or have its base or form targets moved elsewhere.
 */
export const consoleContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')

/** One bundled file: its name under `consoleAssetsPath` (`<sha-256 prefix>.js|css`), its bytes and type. */
export type ConsoleAsset = { name: string; body: Uint8Array<ArrayBuffer>; type: string }

/** The built console: the script and stylesheet the shell links, and every file by name. */
export type ConsoleBundle = {
  script: ConsoleAsset
  style: ConsoleAsset
  files: ReadonlyMap<string, ConsoleAsset>
}

/** A failed build of the console's client: the bundler's messages. */
export class ConsoleBuildError extends Error {
  override name = 'ConsoleBuildError'
}

const appDir = join(import.meta.dir, 'app')

function asset(body: Uint8Array<ArrayBuffer>, extension: 'js' | 'css', type: string): ConsoleAsset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 20)
  return { name: `${hash}.${extension}`, body, type }
}

/**
 * Bundles the console's client (app/main.ts and app/console.css) with Bun's bundler, in memory and minified;
 * each file is named by the SHA-256 of its bytes, so a URL never serves two contents.
 *
 * @example
 * const bundle = await buildConsole()
 * bundle.script.name // 'a1b2c3d4e5f6a7b8c9d0.js'
 */
export async function buildConsole(): Promise<ConsoleBundle> {
  const built = await Bun.build({
    entrypoints: [join(appDir, 'main.ts'), join(appDir, 'console.css')],
    target: 'browser',
    format: 'esm',
    minify: true,
    sourcemap: 'none',
    throw: false,
  })
  if (!built.success)
    throw new ConsoleBuildError(
      `the console could not be built: ${built.logs.map((l) => l.message).join('; ')}`,
    )
  let script: ConsoleAsset | undefined
  let style: ConsoleAsset | undefined
  for (const output of built.outputs) {
    const body = new Uint8Array(await output.arrayBuffer())
    if (output.path.endsWith('.js') && output.kind === 'entry-point')
      script = asset(body, 'js', 'text/javascript; charset=utf-8')
    else if (output.path.endsWith('.css')) style = asset(body, 'css', 'text/css; charset=utf-8')
  }
  if (!script || !style) throw new ConsoleBuildError('the console build gave no script or no stylesheet')
  return { script, style, files: new Map([script, style].map((file) => [file.name, file])) }
}

/**
 * The console's HTML shell: the bundle's stylesheet and module script from our own origin, no inline code.
 *
 * @example
 * consoleShell(await buildConsole()) // '<!doctype html>…'
 */
export function consoleShell(bundle: Pick<ConsoleBundle, 'script' | 'style'>): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${consoleAssetsPath}${bundle.style.name}">
</head>
<body>
<div id="app"><noscript>The console needs JavaScript.</noscript></div>
<script type="module" src="${consoleAssetsPath}${bundle.script.name}"></script>
</body>
</html>
`
}

const pageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': consoleContentSecurityPolicy,
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

const notFound = () =>
  new Response(JSON.stringify({ error: 'not found' }), {
    status: 404,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  })

/** Whether `path` is one the console's pages answer (its page and its files; not the sign-in API). */
export const isConsolePagePath = (path: string) =>
  path === consolePath || path === `${consolePath}/` || path.startsWith(consoleAssetsPath)

// one build per process, shared by every handler made in it (tests make many)
let sharedBuild: Promise<ConsoleBundle> | undefined

/** The process's one build of the console, started on first use. */
function processBuild(): Promise<ConsoleBundle> {
  sharedBuild ??= buildConsole()
  return sharedBuild
}

/**
 * The console's pages: starts the build at once (the first requests wait for it) and answers `/console` with the
 * shell and `/console/assets/<name>` with a bundled file; anything else, and any name not in the bundle, is 404.
 * A build that fails answers 500 and is logged through `onBuildError`.
 *
 * @example
 * const consolePages = createConsolePages({ onBuildError: (err) => log.error({ err }, 'console build failed') })
 * if (isConsolePagePath(path)) return consolePages.handle(request, path)
 */
export function createConsolePages(
  options: { build?: () => Promise<ConsoleBundle>; onBuildError?: (err: unknown) => void } = {},
) {
  const bundle = options.build ? options.build() : processBuild()
  let reported = false
  bundle.catch((err) => {
    if (reported) return
    reported = true
    options.onBuildError?.(err)
  })

  async function handle(request: Request, path: string): Promise<Response> {
    if (!isConsolePagePath(path)) return notFound()
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return new Response(JSON.stringify({ error: 'method not allowed' }), {
        status: 405,
        headers: { 'content-type': 'application/json', allow: 'GET, HEAD' },
      })
    let built: ConsoleBundle
    try {
      built = await bundle
    } catch {
      return new Response(JSON.stringify({ error: 'the console is unavailable' }), {
        status: 500,
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      })
    }
    const head = request.method === 'HEAD'
    if (!path.startsWith(consoleAssetsPath))
      return new Response(head ? null : consoleShell(built), { headers: pageHeaders })
    const file = built.files.get(path.slice(consoleAssetsPath.length))
    if (!file) return notFound()
    return new Response(head ? null : file.body, {
      headers: {
        'content-type': file.type,
        // named by its content: the bytes under a name never change
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
        'cross-origin-resource-policy': 'same-origin',
      },
    })
  }

  return { handle }
}
