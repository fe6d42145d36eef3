import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { createTestApp, type TestApp } from '../../test/helpers/app.ts'
import { loginRefusalText } from './app/messages.ts'
import {
  buildConsole,
  ConsoleBuildError,
  type ConsoleBundle,
  consoleAssetsPath,
  consoleContentSecurityPolicy,
  createConsolePages,
} from './serve.ts'

// The console's pages through the gateway's own handler: the shell under its CSP, the bundled files by their
// content hash, and nothing else under /console but the sign-in API that was there before.

let app: TestApp
let bundle: ConsoleBundle

beforeAll(async () => {
  ;[app, bundle] = await Promise.all([createTestApp(), buildConsole()])
})
afterAll(() => app.close())

const get = (path: string, init?: RequestInit) => app.fetch(new Request(`http://gateway.test${path}`, init))
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The URLs the shell's <link> and <script> elements load. */
const loadedUrls = (html: string) =>
  [...html.matchAll(/<(?:link|script)\b[^>]*\b(?:href|src)="([^"]*)"/g)].map((m) => m[1] as string)

describe('the console page', () => {
  test('default: /console is the HTML shell under the strict CSP, loading one stylesheet and one module script of ours', async () => {
    const res = await get('/console')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    expect(consoleContentSecurityPolicy).not.toContain('unsafe')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await res.text()
    expect(loadedUrls(html)).toEqual([
      'data:,',
      `${consoleAssetsPath}${bundle.style.name}`,
      `${consoleAssetsPath}${bundle.script.name}`,
    ])
    expect(html).toContain(`<script type="module" src="${consoleAssetsPath}${bundle.script.name}"></script>`)
    // no inline script or style, no other origin
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/<style|style=/)
    expect(html).not.toMatch(/https?:\/\//)
    const slash = await get('/console/')
    expect(slash.status).toBe(200)
    expect(await slash.text()).toBe(html)
  })

  test('default: the script and stylesheet are served with their types, named by the SHA-256 of their bytes, immutable', async () => {
    for (const [file, type] of [
      [bundle.script, 'text/javascript; charset=utf-8'],
      [bundle.style, 'text/css; charset=utf-8'],
    ] as const) {
      const res = await get(`${consoleAssetsPath}${file.name}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe(type)
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      const body = new Uint8Array(await res.arrayBuffer())
      expect(body.length).toBeGreaterThan(0)
      const [hash, extension] = file.name.split('.')
      expect(extension).toBe(type.startsWith('text/css') ? 'css' : 'js')
      expect(hash).toMatch(/^[0-9a-f]{20}$/)
      expect(sha256(body).startsWith(hash as string)).toBe(true)
    }
    // the bundle carries preact and the console, minified, without a source map: long lines (the minifier
    // writes a "\n" in a string as a template literal's real line break, so lines are few, never short)
    const script = new TextDecoder().decode(bundle.script.body)
    expect(script).toContain('/console/api/login')
    expect(script).not.toContain('sourceMappingURL')
    expect(script.length / script.split('\n').length).toBeGreaterThan(1000)
  })

  test('default: a second build of the same source gives the same names', async () => {
    const again = await buildConsole()
    expect(again.script.name).toBe(bundle.script.name)
    expect(again.style.name).toBe(bundle.style.name)
  })

  test('error: unknown asset names, traversal and other paths under /console are 404; the sign-in API still answers', async () => {
    for (const path of [
      `${consoleAssetsPath}0000000000000000000a.js`,
      `${consoleAssetsPath}${bundle.script.name.replace('.js', '.css')}`,
      `${consoleAssetsPath}${bundle.script.name}.map`,
      `${consoleAssetsPath}constructor`,
      `${consoleAssetsPath}`,
      `${consoleAssetsPath}..%2f..%2fpackage.json`,
      '/console/main.ts',
      '/console/app/main.ts',
      '/consoles',
    ]) {
      const res = await get(path)
      expect({ path, status: res.status }).toEqual({ path, status: 404 })
      expect(await res.text()).not.toContain('"name": "tollgate"')
    }
    const session = await get('/console/api/session')
    expect(session.status).toBe(401)
    expect(await session.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  test('error: only GET and HEAD; HEAD has the headers and no body', async () => {
    const post = await get('/console', { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    const head = await get(`${consoleAssetsPath}${bundle.script.name}`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await head.text()).toBe('')
  })

  test('error: a build that fails answers 500 and is reported once', async () => {
    const reported: unknown[] = []
    const pages = createConsolePages({
      build: () => Promise.reject(new ConsoleBuildError('broken')),
      onBuildError: (err) => reported.push(err),
    })
    expect((await pages.handle(new Request('http://gateway.test/console'), '/console')).status).toBe(500)
    expect(
      (await pages.handle(new Request('http://gateway.test/console/assets/x.js'), '/console/assets/x.js'))
        .status,
    ).toBe(500)
    expect(reported).toHaveLength(1)
    expect(reported[0]).toBeInstanceOf(ConsoleBuildError)
  })
})

describe('sign-in refusals in words', () => {
  const now = new Date('2030-01-01T12:00:00Z')
  test('default: a wrong password, a locked account with its wait, and the rate limit read as sentences', () => {
    expect(loginRefusalText({ code: 'LOGIN_FAILED', message: 'x' }, now)).toBe(
      'The email, password or code is not right.',
    )
    const locked = loginRefusalText({ code: 'LOGIN_FAILED', message: 'x', retryAfterSeconds: 900 }, now)
    expect(locked).toStartWith(
      'Too many failed sign-ins: this account is locked. Try again in 15 minutes (at ',
    )
    const limited = loginRefusalText({ code: 'RATE_LIMITED', message: 'x', retryAfterSeconds: 30 }, now)
    expect(limited).toStartWith('Too many sign-in attempts. Try again in 30 seconds (at ')
    expect(loginRefusalText({ code: 'INVALID_INPUT', message: 'email is not an email' }, now)).toBe(
      'Sign-in refused: email is not an email.',
    )
  })
})
