import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DriverError } from './errors.ts'
import {
  type JsonRequestOptions,
  redactSecrets,
  requestJson,
  retryAfterSeconds,
  withoutSecrets,
} from './http.ts'
import { driverRejection } from './testing.ts'

// requestJson against a local server whose every path answers one way: each status, each body, a hang, an
// endless stream, a redirect; the outcome is the answer or the typed error a plugin hands on.

type Seen = { method: string; path: string; headers: Headers; body: string }
const seen: Seen[] = []
let cancelledStreams = 0
let server: ReturnType<typeof Bun.serve>
let url: (path: string) => string

const json = (body: unknown, init: ResponseInit = {}) =>
  new Response(JSON.stringify(body), {
    ...init,
    headers: { 'Content-Type': 'application/json', ...init.headers },
  })

/** A body that never ends; counts the client's cancel of it. */
const endless = () =>
  new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(16 << 10).fill(32))
    },
    cancel() {
      cancelledStreams++
    },
  })

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname
      seen.push({ method: req.method, path, headers: req.headers, body: await req.text() })
      switch (path) {
        case '/ok':
          return json({ price: '65000.12' }, { headers: { Date: 'Fri, 04 Dec 2026 10:00:00 GMT' } })
        case '/undated':
          return json({ price: '1' }, { headers: { Date: 'not a date' } })
        case '/empty':
          return new Response(null, { status: 204 })
        case '/created':
          return json({ id: 7 }, { status: 201 })
        case '/conflict':
          return json({ message: 'already registered' }, { status: 409 })
        case '/hang':
          return new Promise<Response>(() => {})
        case '/limited-seconds':
          return json({ message: 'slow down' }, { status: 429, headers: { 'Retry-After': '30' } })
        case '/limited-date':
          return json(
            {},
            { status: 429, headers: { 'Retry-After': new Date(Date.now() + 3_600_000).toUTCString() } },
          )
        case '/limited':
          return json({}, { status: 429 })
        case '/garbage':
          return new Response('<html>not json</html>')
        case '/huge-declared':
          return new Response('x'.repeat(4096), { headers: { 'Content-Length': '4096' } })
        case '/endless':
          return new Response(endless())
        case '/busy-huge':
          return new Response(endless(), { status: 503 })
        case '/echo-key':
          return json({ message: `key ${req.headers.get('x-key')} is blocked` }, { status: 401 })
        case '/long-message':
          return json({ message: 'y'.repeat(1000) }, { status: 400 })
        case '/text-error':
          return new Response('plain words', { status: 400 })
        case '/redirect':
          return Response.redirect(url('/ok'), 302)
        default: {
          const status = Number(path.slice(1))
          return json({ message: `said with ${status}` }, { status: Number.isInteger(status) ? status : 500 })
        }
      }
    },
  })
  url = (path) => `http://127.0.0.1:${server.port}${path}`
})

afterAll(() => server.stop(true))

const base: JsonRequestOptions = {
  timeoutMs: 2_000,
  maxResponseBytes: 1024,
  codePrefix: 'RATE',
  errorMessage: (body) => (body as { message?: string } | undefined)?.message,
}
const request = (path: string, options: Partial<JsonRequestOptions> = {}) =>
  requestJson(url(path), { ...base, ...options })
const rejection = (path: string, options: Partial<JsonRequestOptions> = {}) =>
  driverRejection(request(path, options))

describe('requestJson', () => {
  test('default: a GET answers the status, the parsed body and the Date header as the answer time', async () => {
    seen.length = 0
    const answer = await request('/ok')
    expect(answer).toEqual({
      status: 200,
      body: { price: '65000.12' },
      answeredAt: new Date('2026-12-04T10:00:00Z'),
    })
    expect(seen).toHaveLength(1)
    expect(seen[0]?.method).toBe('GET')
    expect(seen[0]?.headers.get('accept')).toBe('application/json')
  })

  test('behavior: without a valid Date header the answer is dated by its arrival', async () => {
    const before = Date.now()
    const { answeredAt } = await request('/undated')
    expect(answeredAt.getTime()).toBeGreaterThanOrEqual(before)
    expect(answeredAt.getTime()).toBeLessThanOrEqual(Date.now())
  })

  test('args: method, headers and a JSON body are sent; an empty answer is an undefined body', async () => {
    seen.length = 0
    const answer = await request('/created', {
      method: 'POST',
      headers: { Token: 'k-1' },
      body: { address: 'a' },
    })
    expect(answer).toMatchObject({ status: 201, body: { id: 7 } })
    expect(seen[0]?.method).toBe('POST')
    expect(seen[0]?.headers.get('token')).toBe('k-1')
    expect(seen[0]?.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ address: 'a' })
    expect(await request('/empty')).toMatchObject({ status: 204, body: undefined })
  })

  test('args: a status in accept is handed back with its body instead of thrown', async () => {
    expect(await request('/conflict', { accept: [409] })).toMatchObject({
      status: 409,
      body: { message: 'already registered' },
    })
    expect(await rejection('/conflict')).toMatchObject({ code: 'RATE_REJECTED', retryable: false })
  })

  test('error: no answer within timeoutMs is the retryable <prefix>_TIMEOUT; so is HTTP 408', async () => {
    const hung = await rejection('/hang', { timeoutMs: 100, what: 'GET /hang' })
    expect(hung).toMatchObject({ code: 'RATE_TIMEOUT', retryable: true })
    expect(hung.message).toBe('GET /hang: no complete answer within 100 ms')
    expect(await rejection('/408', { codePrefix: 'KYT' })).toMatchObject({
      code: 'KYT_TIMEOUT',
      retryable: true,
    })
  })

  test('error: the caller’s abort is the retryable <prefix>_ABORTED', async () => {
    const abort = new AbortController()
    const pending = rejection('/hang', { signal: abort.signal, timeoutMs: 60_000, codePrefix: 'KYT' })
    abort.abort()
    expect(await pending).toMatchObject({ code: 'KYT_ABORTED', retryable: true })
  })

  test('error: a refused connection and 5xx are the retryable <prefix>_UNAVAILABLE, naming the service', async () => {
    const gone = Bun.serve({ port: 0, fetch: () => new Response() })
    const goneUrl = `http://127.0.0.1:${gone.port}/rates`
    await gone.stop(true)
    const refused = await driverRejection(requestJson(`${goneUrl}?q=1`, { ...base, service: 'Kraken' }))
    expect(refused).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    // named by the method and the URL without its query, unless `what` is given
    expect(refused.message).toStartWith(`GET ${goneUrl}: Kraken cannot be reached: `)
    for (const status of [500, 502, 503]) {
      const err = await rejection(`/${status}`)
      expect(err).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
      expect(err.message).toBe(`GET ${url(`/${status}`)}: HTTP ${status}: said with ${status}`)
    }
  })

  test('error: 429 is the retryable RATE_LIMITED (KYT_RATE_LIMITED for KYT) with the Retry-After seconds', async () => {
    const seconds = await rejection('/limited-seconds', { what: 'GET /prices' })
    expect(seconds).toMatchObject({ code: 'RATE_LIMITED', retryable: true })
    expect(seconds.message).toBe('GET /prices: HTTP 429, rate limited (retry after 30 s): slow down')
    const dated = await rejection('/limited-date', { codePrefix: 'KYT' })
    expect(dated).toMatchObject({ code: 'KYT_RATE_LIMITED', retryable: true })
    expect(dated.message).toMatch(/retry after (3599|3600) s/)
    expect((await rejection('/limited')).message).toContain('(no Retry-After given)')
  })

  test('error: 401 and 403 are the non-retryable <prefix>_AUTH; another 4xx is <prefix>_REJECTED', async () => {
    for (const status of [401, 403]) {
      const err = await rejection(`/${status}`, { what: 'GET /x' })
      expect(err).toMatchObject({ code: 'RATE_AUTH', retryable: false })
      expect(err.message).toBe(`GET /x: HTTP ${status}, access refused: said with ${status}`)
    }
    const sent = await rejection('/401', { what: 'GET /x', secrets: ['k'] })
    expect(sent.message).toBe('GET /x: HTTP 401, the credentials were refused: said with 401')
    for (const status of [400, 404, 418])
      expect(await rejection(`/${status}`, { codePrefix: 'KYT' })).toMatchObject({
        code: 'KYT_REJECTED',
        retryable: false,
      })
  })

  test('args: errorMessage reads the body (parsed or as text); its words are cut at 200 characters', async () => {
    expect((await rejection('/404', { errorMessage: undefined, what: 'GET /x' })).message).toBe(
      'GET /x: HTTP 404',
    )
    const long = await rejection('/long-message', { what: 'GET /x' })
    expect(long.message).toBe(`GET /x: HTTP 400: ${'y'.repeat(200)}…`)
    const text = await rejection('/text-error', {
      what: 'GET /x',
      errorMessage: (body, raw) => `${body}|${raw}`,
    })
    expect(text.message).toBe('GET /x: HTTP 400: undefined|plain words')
  })

  test('error: a body that is not JSON is the non-retryable <prefix>_BAD_ANSWER', async () => {
    const err = await rejection('/garbage', { what: 'GET /x' })
    expect(err).toMatchObject({ code: 'RATE_BAD_ANSWER', retryable: false })
    expect(err.message).toBe('GET /x: HTTP 200 with a body that is not JSON')
  })

  test('error: a body over maxResponseBytes is <prefix>_BAD_ANSWER, declared or streamed; the stream is cancelled', async () => {
    const declared = await rejection('/huge-declared', { what: 'GET /x' })
    expect(declared).toMatchObject({ code: 'RATE_BAD_ANSWER', retryable: false })
    expect(declared.message).toBe('GET /x: HTTP 200 with a body over the 1024 bytes allowed')
    const cancelled = cancelledStreams
    expect(await rejection('/endless', { codePrefix: 'KYT' })).toMatchObject({
      code: 'KYT_BAD_ANSWER',
      retryable: false,
    })
    // a 503 is judged by its status, however large its page
    expect(await rejection('/busy-huge')).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    for (let i = 0; i < 100 && cancelledStreams < cancelled + 2; i++) await Bun.sleep(5)
    expect(cancelledStreams).toBe(cancelled + 2)
  })

  test('error: a redirect is refused, not followed (it would carry the credentials along)', async () => {
    seen.length = 0
    expect(await rejection('/redirect')).toMatchObject({ code: 'RATE_UNAVAILABLE', retryable: true })
    expect(seen.map((s) => s.path)).toEqual(['/redirect'])
  })

  test('behavior: secrets are blanked in every message, and a cause that holds one is left out', async () => {
    const key = 'sk-live-0123456789'
    const echoed = await rejection('/echo-key', { headers: { 'x-key': key }, secrets: [key] })
    expect(echoed).toMatchObject({ code: 'RATE_AUTH', retryable: false })
    expect(echoed.message).toEndWith(': key [redacted] is blocked')
    // a network error's text quotes the URL, and the query carries the key
    const gone = Bun.serve({ port: 0, fetch: () => new Response() })
    const goneUrl = `http://127.0.0.1:${gone.port}/rates?key=${key}`
    await gone.stop(true)
    const refused = await driverRejection(
      requestJson(goneUrl, { ...base, what: `GET ${goneUrl}`, secrets: [key] }),
    )
    expect(refused.code).toBe('RATE_UNAVAILABLE')
    expect(refused.message).not.toContain(key)
    expect(refused.message).toContain('?key=[redacted]')
    expect(String(refused.cause ?? '')).not.toContain(key)
  })
})

describe('retryAfterSeconds', () => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  test('args: delta-seconds or an HTTP date counted from now, never below 0; anything else is undefined', () => {
    expect(retryAfterSeconds('120', now)).toBe(120)
    expect(retryAfterSeconds(' 0 ', now)).toBe(0)
    expect(retryAfterSeconds('Wed, 01 Jan 2025 00:01:30 GMT', now)).toBe(90)
    expect(retryAfterSeconds('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0)
    expect(retryAfterSeconds('-5', now)).toBeUndefined()
    expect(retryAfterSeconds('3.5', now)).toBeUndefined()
    expect(retryAfterSeconds('soon', now)).toBeUndefined()
    expect(retryAfterSeconds(null, now)).toBeUndefined()
  })
})

describe('redactSecrets and withoutSecrets', () => {
  test('behavior: every occurrence of every secret is blanked; an empty secret blanks nothing', () => {
    expect(redactSecrets('a abc b abc c xyz', ['abc', 'xyz', ''])).toBe(
      'a [redacted] b [redacted] c [redacted]',
    )
    expect(redactSecrets('nothing here', [])).toBe('nothing here')
  })

  test('behavior: a DriverError that mentions a secret comes back redacted, its leaky cause left out', () => {
    const cause = new Error('GET https://x.example/?key=abc failed')
    const leaky = withoutSecrets(
      new DriverError('RATE_AUTH', 'key abc refused', { retryable: false, cause }),
      ['abc'],
    ) as DriverError
    expect(leaky).toMatchObject({ code: 'RATE_AUTH', retryable: false, message: 'key [redacted] refused' })
    expect(leaky.cause).toBeUndefined()
    const safeCause = new Error('socket closed')
    const kept = withoutSecrets(
      new DriverError('KYT_UNAVAILABLE', 'abc', { retryable: true, cause: safeCause }),
      ['abc'],
    ) as DriverError
    expect(kept).toMatchObject({ code: 'KYT_UNAVAILABLE', retryable: true, message: '[redacted]' })
    expect(kept.cause).toBe(safeCause)
  })

  test('behavior: an error without a secret, or not a DriverError, is handed back as it is', () => {
    const clean = new DriverError('RATE_TIMEOUT', 'slow', { retryable: true })
    expect(withoutSecrets(clean, ['abc'])).toBe(clean)
    const other = new Error('abc')
    expect(withoutSecrets(other, ['abc'])).toBe(other)
    expect(withoutSecrets(clean, [])).toBe(clean)
  })
})
