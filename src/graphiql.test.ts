import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { createTestApp, type TestApp } from '../test/helpers/app.ts'
import {
  graphiqlAssetsPath,
  graphiqlContentSecurityPolicy,
  renderSelfHostedGraphiQL,
  serveGraphiQLAsset,
} from './graphiql.ts'

const bundleDir = new URL('../node_modules/@graphql-yoga/graphiql/dist/', import.meta.url)

/** The URLs a page's <link> and <script> elements load. */
const loadedUrls = (html: string) =>
  [...html.matchAll(/<(?:link|script)\b[^>]*\b(?:href|src)="([^"]*)"/g)].map((m) => m[1] as string)

const get = (path: string, init?: RequestInit) => new Request(`http://gateway.test${path}`, init)

describe('the self-hosted GraphiQL page', () => {
  test('default: it loads its stylesheet and scripts from our own origin, under the versioned path; no inline script', () => {
    const html = renderSelfHostedGraphiQL({ title: 'Tollgate' })
    const urls = loadedUrls(html)
    expect(urls).toEqual([
      'data:,',
      `${graphiqlAssetsPath}graphiql.css`,
      expect.stringMatching(new RegExp(`^${graphiqlAssetsPath}tollgate-boot\\.[0-9a-f]{12}\\.js$`)),
      `${graphiqlAssetsPath}yoga-graphiql.umd.js`,
    ])
    expect(graphiqlAssetsPath).toBe(
      `/graphql-assets/${JSON.parse(readFileSync(new URL('../package.json', bundleDir), 'utf8')).version}/`,
    )
    // every script element either names a file or is data
    for (const tag of html.match(/<script\b[^>]*>/g) ?? [])
      expect(tag).toMatch(/ src="|type="application\/json"/)
    expect(html).not.toMatch(/unpkg|https?:\/\/| on[a-z]+=/)
    expect(html).toContain('<title>Tollgate</title>')
  })

  test('args: options reach the page as JSON that no value can break out of, and the title is escaped', () => {
    const options = {
      title: '</title><script>alert(1)</script>',
      headers: JSON.stringify({ 'x-note': '</script><script>alert(2)</script><!--' }),
      defaultQuery: '{ __typename } # \u2028',
    }
    const html = renderSelfHostedGraphiQL(options)
    const block = html.match(
      /<script type="application\/json" id="graphiql-options">([\s\S]*?)<\/script>/,
    )?.[1]
    expect(block).toBeDefined()
    expect(block).not.toContain('<')
    expect(JSON.parse(block as string)).toEqual(options)
    expect(html).toContain('<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>')
    expect(html.match(/<script\b/g)).toHaveLength(3)
  })

  test('default: every file the page loads is served with its type, cached for good, not sniffed, and is the published file', async () => {
    const page = renderSelfHostedGraphiQL({ title: 'Tollgate' })
    const served = new Map<string, Response>()
    for (const url of loadedUrls(page).filter((u) => u.startsWith('/'))) {
      const res = serveGraphiQLAsset(get(url), url)
      expect({ url, status: res.status }).toEqual({ url, status: 200 })
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      served.set(url, res)
    }
    const css = served.get(`${graphiqlAssetsPath}graphiql.css`) as Response
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(await css.text()).toBe(readFileSync(new URL('graphiql.css', bundleDir), 'utf8'))
    const umd = served.get(`${graphiqlAssetsPath}yoga-graphiql.umd.js`) as Response
    expect(umd.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await umd.text()).toBe(readFileSync(new URL('yoga-graphiql.umd.js', bundleDir), 'utf8'))

    // the boot script: reads the options block, gives Monaco its workers by same-origin URL, renders
    const bootUrl = loadedUrls(page).find((u) => u.includes('tollgate-boot')) as string
    const boot = await (served.get(bootUrl) as Response).text()
    expect(boot).toContain("document.getElementById('graphiql-options')")
    expect(boot).toContain('YogaGraphiQL.renderYogaGraphiQL(')
    expect(boot).toContain('globalAPI: false')
    const workers = JSON.parse(boot.match(/const workers = (\{[^}]*\})/)?.[1] as string) as Record<
      string,
      string
    >
    expect(Object.keys(workers).sort()).toEqual(['editorWorkerService', 'graphql', 'json'])
    for (const [label, url] of Object.entries(workers)) {
      expect(url.startsWith(`${graphiqlAssetsPath}monacoeditorwork/`)).toBe(true)
      const res = serveGraphiQLAsset(get(url), url)
      expect({ label, status: res.status, type: res.headers.get('content-type') }).toEqual({
        label,
        status: 200,
        type: 'text/javascript; charset=utf-8',
      })
      expect((await res.text()).length).toBeGreaterThan(100_000)
    }
  })

  test('error: names outside the allowlist are 404, other methods 405', () => {
    for (const path of [
      `${graphiqlAssetsPath}../../package.json`,
      `${graphiqlAssetsPath}..%2f..%2fpackage.json`,
      `${graphiqlAssetsPath}monacoeditorwork/..%2f..%2fpackage.json`,
      `${graphiqlAssetsPath}monacoeditorwork/graphql.worker..bundle.js`,
      `${graphiqlAssetsPath}yoga-graphiql.es.js`,
      `${graphiqlAssetsPath}__proto__`,
      `${graphiqlAssetsPath}toString`,
      `${graphiqlAssetsPath}tollgate-boot.000000000000.js`,
      graphiqlAssetsPath,
      '/graphql-assets/0.0.0/graphiql.css',
      '/graphql-assets/graphiql.css',
    ])
      expect({ path, status: serveGraphiQLAsset(get(path), path).status }).toEqual({ path, status: 404 })
    const css = `${graphiqlAssetsPath}graphiql.css`
    const post = serveGraphiQLAsset(get(css, { method: 'POST', body: 'x' }), css)
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  test('default: the policy allows only our own origin for scripts, workers and requests, and never eval', () => {
    const directives = new Map(
      graphiqlContentSecurityPolicy.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)] as const),
    )
    expect(directives.get('default-src')).toEqual(["'none'"])
    expect(directives.get('script-src')).toEqual(["'self'"])
    expect(directives.get('worker-src')).toEqual(["'self'"])
    expect(directives.get('connect-src')).toEqual(["'self'"])
    expect(directives.get('frame-ancestors')).toEqual(["'none'"])
    expect(directives.get('base-uri')).toEqual(["'none'"])
    expect(directives.get('object-src')).toEqual(["'none'"])
    expect(graphiqlContentSecurityPolicy).not.toContain('unsafe-eval')
    expect(graphiqlContentSecurityPolicy).not.toContain('blob:')
  })
})

describe('GraphiQL on the HTTP handler', () => {
  let on: TestApp
  let off: TestApp
  beforeAll(async () => {
    ;[on, off] = await Promise.all([createTestApp({ env: { GRAPHIQL: 'true' } }), createTestApp()])
  })
  afterAll(async () => {
    await Promise.all([on?.close(), off?.close()])
  })
  const browserGet = (app: TestApp, path: string) =>
    app.fetch(get(path, { headers: { accept: 'text/html,application/xhtml+xml' } }))

  test('default: with GRAPHIQL on, a browser gets our page on /graphql with the strict policy; its files are served', async () => {
    const res = await browserGet(on, '/graphql')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(graphiqlContentSecurityPolicy)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await res.text()
    expect(html).toContain('<title>Tollgate</title>')
    expect(JSON.parse(html.match(/id="graphiql-options">([^<]*)</)?.[1] as string)).toMatchObject({
      title: 'Tollgate',
    })
    expect(html).not.toMatch(/unpkg|https?:\/\//)
    for (const url of loadedUrls(html).filter((u) => u.startsWith('/'))) {
      const asset = await on.fetch(get(url))
      expect({ url, status: asset.status }).toEqual({ url, status: 200 })
      await asset.arrayBuffer()
    }
    // a query is still a query, without the page's headers
    const query = await on.fetch(get('/graphql?query=%7B__typename%7D'))
    expect(await query.json()).toEqual({ data: { __typename: 'Query' } })
    expect(query.headers.get('content-security-policy')).toBeNull()
  })

  test('error: through the handler, traversal and unknown names under /graphql-assets/ are 404', async () => {
    for (const path of [
      `${graphiqlAssetsPath}../../package.json`,
      `${graphiqlAssetsPath}%2e%2e/%2e%2e/package.json`,
      `${graphiqlAssetsPath}..%2f..%2fpackage.json`,
      `${graphiqlAssetsPath}nope.js`,
    ]) {
      const res = await on.fetch(get(path))
      expect({ path, status: res.status }).toEqual({ path, status: 404 })
      expect(await res.text()).not.toContain('"name"')
    }
  })

  test('default: with GRAPHIQL off (not development), /graphql shows no page and its files are not served', async () => {
    const page = await browserGet(off, '/graphql')
    expect(await page.text()).not.toContain('graphiql-options')
    expect(page.headers.get('content-type') ?? '').not.toContain('text/html')
    expect((await off.fetch(get(`${graphiqlAssetsPath}graphiql.css`))).status).toBe(404)
  })
})
