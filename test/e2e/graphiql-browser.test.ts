import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Browser, Response as PlaywrightResponse } from 'playwright-core'
import { graphiqlAssetsPath } from '../../src/graphiql.ts'
import { artifactsDir, launchBrowser } from '../helpers/browser.ts'
import { freePort, gatewayMnemonic } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { spawnApi, waitFor } from '../helpers/processes.ts'

// GraphiQL in Chromium against a real API process with GRAPHIQL on and every other host unreachable, as in an
// air-gapped deployment: the editor loads from the gateway alone, under its strict CSP, and runs a query.

/** Monaco's workers as the page's boot script names them. */
const monacoWorkers = {
  editor: `${graphiqlAssetsPath}monacoeditorwork/editor.worker.bundle.js`,
  json: `${graphiqlAssetsPath}monacoeditorwork/json.worker.bundle.js`,
  graphql: `${graphiqlAssetsPath}monacoeditorwork/graphql.worker.bundle.js`,
}

let db: Awaited<ReturnType<typeof createTestDatabase>>
let api: Awaited<ReturnType<typeof spawnApi>>
let browser: Browser

beforeAll(async () => {
  ;[db, browser] = await Promise.all([createTestDatabase(), launchBrowser()])
  api = await spawnApi({
    DATABASE_URL: db.url,
    REDIS_PREFIX: `graphiql-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_SEED: gatewayMnemonic,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    // nothing listens there: GraphiQL needs no chain
    TEST_RPC_URL: `http://127.0.0.1:${await freePort()}`,
    GRAPHIQL: 'true',
    GRAPHQL_INTROSPECTION: 'true',
    LOG_LEVEL: 'info',
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await api?.stop()
  await db?.drop()
})

describe('GraphiQL in Chromium with no other host reachable', () => {
  test('default: the editor loads from the gateway alone, its Monaco workers start, and { __typename } answers "Query"; no foreign request, CSP violation or page error', async () => {
    const gatewayHost = new URL(api.url).host
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    context.setDefaultTimeout(20_000)
    const foreign: string[] = []
    const requested: string[] = []
    // every request of the context (page and workers): another host's is refused and recorded
    await context.route('**/*', (route) => {
      const url = route.request().url()
      requested.push(url)
      if (new URL(url).host !== gatewayHost) {
        foreign.push(url)
        return route.abort('blockedbyclient')
      }
      return route.continue()
    })
    await context.addInitScript(() => {
      const seen: string[] = []
      ;(globalThis as unknown as { cspViolations: string[] }).cspViolations = seen
      document.addEventListener('securitypolicyviolation', (e) =>
        seen.push(`${e.violatedDirective} ${e.blockedURI}`),
      )
    })
    const page = await context.newPage()
    const errors: string[] = []
    const consoleErrors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /content security policy/i.test(msg.text()))
        consoleErrors.push(msg.text())
    })
    page.on('requestfailed', (r) => errors.push(`failed: ${r.url()} ${r.failure()?.errorText}`))
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`)
    })

    const isIntrospection = (r: PlaywrightResponse) =>
      r.request().method() === 'POST' && (r.request().postData() ?? '').includes('IntrospectionQuery')
    const introspected = page.waitForResponse(isIntrospection)
    const opened = await page.goto(`${api.url}/graphql`)
    expect(opened?.status()).toBe(200)
    expect(opened?.headers()['content-security-policy']).toContain("script-src 'self'")
    expect(await page.title()).toBe('Tollgate')

    await page.locator('.graphiql-container').first().waitFor()
    // the schema is loaded and Monaco started its three workers (the editor's own, the JSON and GraphQL ones)
    expect((await introspected).status()).toBe(200)
    await waitFor('the Monaco workers', () => {
      const started = page.workers().map((w) => new URL(w.url()).pathname)
      return Object.values(monacoWorkers).every((path) => started.includes(path))
    })
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first()
    await editor.click()
    await page.keyboard.press('ControlOrMeta+A')
    await page.keyboard.press('Delete')
    // Monaco closes the brace itself
    await page.keyboard.type('{ __typename ')
    // the schema's suggestions open as one types, over the run button: opened for certain, then closed
    const suggestions = page.locator('.graphiql-query-editor .suggest-widget')
    await page.keyboard.press('Control+Space')
    await suggestions.and(page.locator('.visible')).waitFor()
    await page.keyboard.press('Escape')
    await suggestions.and(page.locator('.visible')).waitFor({ state: 'detached' })
    expect(await page.locator('.graphiql-query-editor .view-lines').textContent()).toBe(
      '{\u00a0__typename\u00a0}',
    )
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${api.url}/graphql` && !isIntrospection(r)),
      page.locator('.graphiql-execute-button').click(),
    ])
    expect(answer.request().postDataJSON()).toMatchObject({ query: '{__typename}' })
    expect(answer.status()).toBe(200)
    const result = page.locator('.graphiql-response')
    await page.waitForFunction(() =>
      (document.querySelector('.graphiql-response')?.textContent ?? '').includes('"Query"'),
    )
    expect(await result.textContent()).toContain('"__typename"')
    await page.screenshot({ path: join(artifactsDir, 'graphiql.png') })

    for (const worker of page.workers()) expect(new URL(worker.url()).origin).toBe(api.url)

    const violations = await page.evaluate(
      () => (globalThis as unknown as { cspViolations: string[] }).cspViolations,
    )
    expect(foreign).toEqual([])
    expect(violations).toEqual([])
    expect(consoleErrors).toEqual([])
    expect(errors).toEqual([])
    expect(requested.some((url) => url.includes(`${graphiqlAssetsPath}yoga-graphiql.umd.js`))).toBe(true)
    await context.close()
  }, 60_000)

  test('error: the files route answers 404 for traversal, encoded traversal, another version and unknown names', async () => {
    const ok = await fetch(`${api.url}${graphiqlAssetsPath}graphiql.css`)
    expect(ok.status).toBe(200)
    await ok.arrayBuffer()
    for (const path of [
      `${graphiqlAssetsPath}../../package.json`,
      `${graphiqlAssetsPath}%2e%2e/%2e%2e/package.json`,
      `${graphiqlAssetsPath}..%2f..%2fpackage.json`,
      `${graphiqlAssetsPath}monacoeditorwork%2f..%2f..%2fpackage.json`,
      `${graphiqlAssetsPath}monacoeditorwork/graphql.worker..bundle.js`,
      '/graphql-assets/0.0.1/graphiql.css',
      `${graphiqlAssetsPath}yoga-graphiql.es.js`,
      `${graphiqlAssetsPath}constructor`,
      `${graphiqlAssetsPath}`,
    ]) {
      // raw: fetch would resolve `..` before sending
      const res = await rawGet(path)
      expect({ path, status: res.status }).toEqual({ path, status: 404 })
      expect(res.body).not.toContain('"name": "tollgate"')
    }
  })

  test('default: the page names no other origin, and no URL of unpkg or any other host', async () => {
    const res = await fetch(`${api.url}/graphql`, { headers: { accept: 'text/html' } })
    const html = await res.text()
    expect(html).toContain(`<link rel="stylesheet" href="${graphiqlAssetsPath}graphiql.css">`)
    expect(html).not.toContain('unpkg')
    expect(html).not.toContain('http://')
    expect(html).not.toContain('https://')
    expect(html).not.toMatch(/<script>/)
  })
})

/** A GET sent exactly as written (no URL normalisation), over a plain socket: status and body. */
async function rawGet(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(api.url)
  let received = ''
  const { promise, resolve, reject } = Promise.withResolvers<void>()
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data: (_s, chunk) => {
        received += new TextDecoder().decode(chunk)
      },
      close: () => resolve(),
      error: (_s, err) => reject(err),
    },
  })
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`)
  await promise
  const status = Number(received.match(/^HTTP\/1\.1 (\d{3})/)?.[1])
  return { status, body: received.slice(received.indexOf('\r\n\r\n') + 4) }
}
