import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { pinnedLookup, type ReceiverConnections } from './connections.ts'
import type { WebhookTarget } from './url-guard.ts'

export type PinnedPost = {
  headers: Record<string, string>
  body: string
  /** For the whole exchange: connecting, sending, the answer's head and the part of its body that is kept. */
  timeoutMs: number
  /** How much of the answer's body is read and kept; the rest is not downloaded. */
  maxResponseBytes: number
  /** Trusted roots instead of the system's (tests with their own certificate authority). */
  ca?: string | string[]
  /** Kept-alive connections to reuse; without them the request opens (and closes) its own. */
  connections?: ReceiverConnections
}

export type PinnedAnswer = { statusCode: number; body: string }

function readCapped(
  res: IncomingMessage,
  maxBytes: number,
  done: (body: string) => void,
  fail: (err: Error) => void,
) {
  const chunks: Buffer[] = []
  let size = 0
  const finish = () => done(Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'))
  res.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    size += chunk.byteLength
    if (size >= maxBytes) {
      // enough kept: stop downloading, whatever the receiver still sends
      res.removeAllListeners('data')
      res.destroy()
      finish()
    }
  })
  res.on('end', finish)
  res.on('error', fail)
}

/**
 * POSTs to `target.url` over a connection to one of `target.addresses` (the first that accepts) and nowhere
 * else: the host name is never looked up again (the lookup hook answers with the checked addresses), while
 * the Host header and, for https, SNI and certificate verification still use the URL's host name. Redirects
 * are not followed (a 3xx is the answer). With `connections`, the request may reuse a kept connection, but only
 * one made to the same checked addresses (see createReceiverConnections); without, it opens its own.
 *
 * @example
 * const target = await resolveWebhookTarget(url, { allowInternal: false })
 * const { statusCode } = await postToPinnedAddress(target, { headers, body, timeoutMs: 10_000, maxResponseBytes: 1024 })
 */
export function postToPinnedAddress(target: WebhookTarget, post: PinnedPost): Promise<PinnedAnswer> {
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<PinnedAnswer>((resolve, reject) => {
    let settled = false
    let req: ClientRequest | undefined
    const settle = (error: Error | null, answer?: PinnedAnswer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) {
        req?.destroy()
        reject(error)
      } else resolve(answer as PinnedAnswer)
    }
    const timer = setTimeout(() => settle(new Error(`no answer within ${post.timeoutMs} ms`)), post.timeoutMs)
    req = send(
      target.url.href,
      {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        agent: post.connections ? post.connections.agentFor(target, post.ca) : false,
        lookup: pinnedLookup(target.addresses) as never,
        ...(post.ca ? { ca: post.ca } : {}),
      },
      (res) =>
        readCapped(
          res,
          post.maxResponseBytes,
          (body) => settle(null, { statusCode: res.statusCode ?? 0, body }),
          (err) => settle(err),
        ),
    )
    req.on('error', (err) => settle(err))
    req.end(post.body)
  })
}
