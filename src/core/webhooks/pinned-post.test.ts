import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { isIP } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { postToPinnedAddress } from './pinned-post.ts'
import type { WebhookTarget } from './url-guard.ts'

const tlsFile = (name: string) =>
  readFileSync(new URL(`../../../test/fixtures/tls/${name}`, import.meta.url), 'utf8')
// a name no resolver knows: a request that looked it up instead of using the pinned address would fail
const pinnedName = 'hooks.pinned.test'
const hooksCert = tlsFile('hooks-pinned-test.crt')

type Seen = { receiver: string; host?: string; sni?: string; body: string; length?: string }
const seen: Seen[] = []

/** A plain-http receiver on `hostname`, answering by path. */
function plainReceiver(receiver: string, hostname: string, port = 0) {
  return Bun.serve({
    port,
    hostname,
    fetch: async (req) => {
      const path = new URL(req.url).pathname
      seen.push({
        receiver,
        host: req.headers.get('host') ?? undefined,
        body: await req.text(),
        length: req.headers.get('content-length') ?? undefined,
      })
      if (path === '/redirect') return Response.redirect('http://127.0.0.1:9/elsewhere', 302)
      if (path === '/endless')
        // a body that never ends: only a reader that stops at its cap gets an answer
        return new Response(
          new ReadableStream({
            pull: async (controller) => {
              controller.enqueue(new TextEncoder().encode('y'.repeat(4096)))
              await Bun.sleep(1)
            },
          }),
        )
      if (path === '/silent') return new Promise<Response>(() => {})
      return new Response(`hello from ${receiver}`)
    },
  })
}

/** An https receiver on 127.0.0.1 presenting `cert`; records the SNI name the client sent. */
function tlsReceiver(receiver: string, cert: string, key: string): Promise<Server> {
  const server = createServer({ cert, key }, (req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      seen.push({
        receiver,
        host: req.headers.host,
        sni: (req.socket as TLSSocket).servername || undefined,
        body,
      })
      res.end(`hello from ${receiver}`)
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const portOf = (server: Server) => (server.address() as { port: number }).port

let loopbackA: ReturnType<typeof Bun.serve>
let loopbackB: ReturnType<typeof Bun.serve>
let loopbackV6: ReturnType<typeof Bun.serve>
let hooksTls: Server
let otherTls: Server

beforeAll(async () => {
  loopbackA = plainReceiver('A', '127.0.0.1')
  // the same port on another loopback address: which one answers shows where the connection went
  loopbackB = plainReceiver('B', '127.0.0.2', loopbackA.port)
  loopbackV6 = plainReceiver('V6', '::1')
  hooksTls = await tlsReceiver('tls-hooks', hooksCert, tlsFile('hooks-pinned-test.key'))
  otherTls = await tlsReceiver('tls-other', tlsFile('other-test.crt'), tlsFile('other-test.key'))
})
afterAll(() => {
  for (const server of [loopbackA, loopbackB, loopbackV6]) server.stop(true)
  hooksTls.close()
  otherTls.close()
})

/** A target for `url` pinned to `addresses`, tried in order. */
function target(url: string, ...addresses: string[]): WebhookTarget {
  return {
    url: new URL(url),
    addresses: addresses.map((address) => ({ address, family: isIP(address) as 4 | 6 })),
  }
}

const post = {
  headers: { 'content-type': 'application/json' },
  body: '{"n":1}',
  timeoutMs: 5000,
  maxResponseBytes: 1024,
}

/** What the receivers saw of requests carrying `body`. */
async function postTagged(to: WebhookTarget, options: Partial<typeof post> & { ca?: string } = {}) {
  const body = JSON.stringify({ tag: crypto.randomUUID() })
  const answer = await postToPinnedAddress(to, { ...post, body, ...options })
  return { answer, seen: seen.filter((s) => s.body === body) }
}

describe('postToPinnedAddress', () => {
  test('default: the request goes to the pinned address with the URL’s Host header, body and length', async () => {
    const { answer, seen } = await postTagged(
      target(`http://${pinnedName}:${loopbackA.port}/hook?x=1`, '127.0.0.1'),
    )
    expect(answer).toEqual({ statusCode: 200, body: 'hello from A' })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.receiver).toBe('A')
    expect(seen[0]!.host).toBe(`${pinnedName}:${loopbackA.port}`)
    expect(seen[0]!.length).toBe(String(Buffer.byteLength(seen[0]!.body)))
  })

  test('behavior: each request connects to its own pinned address, never through an earlier connection', async () => {
    const url = `http://${pinnedName}:${loopbackA.port}/hook`
    const order = ['127.0.0.2', '127.0.0.1', '127.0.0.2', '127.0.0.2', '127.0.0.1']
    const receivers: string[] = []
    for (const address of order) {
      const { answer } = await postTagged(target(url, address))
      receivers.push(answer.body)
    }
    expect(receivers).toEqual(order.map((a) => (a === '127.0.0.1' ? 'hello from A' : 'hello from B')))
  })

  test('behavior: checked addresses are tried in order until one accepts; none other is reached', async () => {
    const url = `http://${pinnedName}:${loopbackA.port}/hook`
    // nothing listens on 127.0.0.3 and 127.0.0.4
    expect((await postTagged(target(url, '127.0.0.3', '127.0.0.2'))).answer.body).toBe('hello from B')
    expect((await postTagged(target(url, '127.0.0.3', '127.0.0.4', '127.0.0.1'))).answer.body).toBe(
      'hello from A',
    )
    expect((await postTagged(target(url, '127.0.0.2', '127.0.0.1'))).answer.body).toBe('hello from B')
  })

  test('behavior: an IPv6 pinned address is reached, the Host header still the name', async () => {
    const { answer, seen } = await postTagged(target(`http://${pinnedName}:${loopbackV6.port}/`, '::1'))
    expect(answer.body).toBe('hello from V6')
    expect(seen[0]!.host).toBe(`${pinnedName}:${loopbackV6.port}`)
  })

  test('behavior: https sends the host name as SNI and Host, and verifies the certificate against it', async () => {
    const { answer, seen } = await postTagged(
      target(`https://${pinnedName}:${portOf(hooksTls)}/hook`, '127.0.0.1'),
      { ca: hooksCert },
    )
    expect(answer).toEqual({ statusCode: 200, body: 'hello from tls-hooks' })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.sni).toBe(pinnedName)
    expect(seen[0]!.host).toBe(`${pinnedName}:${portOf(hooksTls)}`)
  })

  test('behavior: a redirect is the answer, not followed', async () => {
    const { answer, seen } = await postTagged(
      target(`http://${pinnedName}:${loopbackA.port}/redirect`, '127.0.0.1'),
    )
    expect(answer.statusCode).toBe(302)
    expect(seen).toHaveLength(1)
  })

  test('behavior: only maxResponseBytes of the answer are read, even of a body that never ends', async () => {
    const { answer } = await postTagged(
      target(`http://${pinnedName}:${loopbackA.port}/endless`, '127.0.0.1'),
      {
        maxResponseBytes: 100,
      },
    )
    expect(answer).toEqual({ statusCode: 200, body: 'y'.repeat(100) })
  })

  test('error: a target without addresses is an error, not a lookup', async () => {
    await expect(postTagged(target(`http://localhost:${loopbackA.port}/hook`))).rejects.toThrow()
  })

  test('error: a receiver that does not answer in time is an error', async () => {
    const request = postTagged(target(`http://${pinnedName}:${loopbackA.port}/silent`, '127.0.0.1'), {
      timeoutMs: 200,
    })
    await expect(request).rejects.toThrow('no answer within 200 ms')
  })

  test('error: a certificate for another name is refused although the pinned address serves it', async () => {
    const tag = crypto.randomUUID()
    const request = postToPinnedAddress(
      target(`https://${pinnedName}:${portOf(otherTls)}/hook`, '127.0.0.1'),
      {
        ...post,
        body: tag,
        ca: [hooksCert, tlsFile('other-test.crt')],
      },
    )
    await expect(request).rejects.toThrow(/altname|hostname|host name/i)
    expect(seen.filter((s) => s.body === tag)).toEqual([])
  })

  test('error: a certificate no trusted root signed is refused (verification is on by default)', async () => {
    const tag = crypto.randomUUID()
    const request = postToPinnedAddress(
      target(`https://${pinnedName}:${portOf(hooksTls)}/hook`, '127.0.0.1'),
      {
        ...post,
        body: tag,
      },
    )
    await expect(request).rejects.toThrow(/self.signed|certificate/i)
    expect(seen.filter((s) => s.body === tag)).toEqual([])
  })

  test('error: nothing listening at the pinned address is a connection error, not another address', async () => {
    const tag = crypto.randomUUID()
    // 127.0.0.3 and 127.0.0.4 have no receiver on this port; the name must not lead anywhere else
    const request = postToPinnedAddress(
      target(`http://${pinnedName}:${loopbackA.port}/`, '127.0.0.3', '127.0.0.4'),
      {
        ...post,
        body: tag,
      },
    )
    await expect(request).rejects.toThrow()
    expect(seen.filter((s) => s.body === tag)).toEqual([])
  })
})
