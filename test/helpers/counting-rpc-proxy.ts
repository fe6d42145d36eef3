import type { ServerWebSocket } from 'bun'

/** One JSON-RPC call the proxy passed on, and how it came. */
export type ProxiedCall = { method: string; transport: 'http' | 'ws' }

function parseCall(text: string): { id?: unknown; method?: string } | undefined {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

type SocketData = { upstream?: WebSocket; pending: string[]; subscribeIds: Set<unknown> }

/**
 * A transparent proxy in front of a node's JSON-RPC, over HTTP and WebSocket on one port (as anvil and geth
 * serve both), that writes down every call it passes on and can take the WebSocket side away: `dropSockets`
 * closes every open socket, `refuseSockets(true)` answers new upgrades with 503 as a load balancer with no
 * backend does.
 *
 * @example
 * const proxy = await startCountingRpcProxy(devnet.url)
 * watchEvmHeads({ rpcUrls: [proxy.httpUrl, proxy.wsUrl], headPollMs: 50, timeoutMs: 1000 }, onHead)
 * proxy.count('eth_blockNumber') // 0 while subscribed
 */
export function startCountingRpcProxy(upstreamHttpUrl: string) {
  const upstreamWsUrl = upstreamHttpUrl.replace(/^http/, 'ws')
  const calls: ProxiedCall[] = []
  const sockets = new Set<ServerWebSocket<SocketData>>()
  let refusing = false
  let offersSubscribe = true
  /** Subscriptions the node granted (an answer to `eth_subscribe` with an id) on sockets open now. */
  let granted = 0
  const grantedOn = new Map<ServerWebSocket<SocketData>, number>()

  const record = (body: string, transport: ProxiedCall['transport']) => {
    try {
      const parsed = JSON.parse(body)
      for (const call of Array.isArray(parsed) ? parsed : [parsed])
        if (typeof call?.method === 'string') calls.push({ method: call.method, transport })
    } catch {
      // not JSON-RPC: passed on uncounted, the node answers it as it would
    }
  }

  const server = Bun.serve<SocketData, never>({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req, srv) {
      if (req.headers.get('upgrade')?.toLowerCase() === 'websocket') {
        if (refusing) return new Response('no healthy upstream', { status: 503 })
        if (srv.upgrade(req, { data: { pending: [], subscribeIds: new Set() } })) return undefined
        return new Response('upgrade failed', { status: 400 })
      }
      const body = await req.text()
      record(body, 'http')
      const res = await fetch(upstreamHttpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      return new Response(await res.text(), {
        status: res.status,
        headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
      })
    },
    websocket: {
      open(ws) {
        sockets.add(ws)
        const upstream = new WebSocket(upstreamWsUrl)
        ws.data.upstream = upstream
        upstream.onopen = () => {
          for (const message of ws.data.pending.splice(0)) upstream.send(message)
        }
        upstream.onmessage = (event) => {
          const text = String(event.data)
          const answer = parseCall(text) as { id?: unknown; result?: unknown } | undefined
          if (answer && ws.data.subscribeIds.delete(answer.id) && typeof answer.result === 'string') {
            granted++
            grantedOn.set(ws, (grantedOn.get(ws) ?? 0) + 1)
          }
          ws.send(text)
        }
        upstream.onclose = () => ws.close()
      },
      message(ws, message) {
        const text = String(message)
        record(text, 'ws')
        const call = parseCall(text)
        if (call?.method === 'eth_subscribe') ws.data.subscribeIds.add(call.id)
        if (!offersSubscribe && call?.method === 'eth_subscribe') {
          // geth's answer for a method it does not serve
          const message = `the method ${call.method} does not exist/is not available`
          ws.send(JSON.stringify({ jsonrpc: '2.0', id: call.id, error: { code: -32601, message } }))
          return
        }
        const upstream = ws.data.upstream
        if (upstream?.readyState === WebSocket.OPEN) upstream.send(text)
        else ws.data.pending.push(text)
      },
      close(ws) {
        sockets.delete(ws)
        granted -= grantedOn.get(ws) ?? 0
        grantedOn.delete(ws)
        ws.data.upstream?.close()
      },
    },
  })

  return {
    httpUrl: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}`,
    /** Every call passed on so far, in order. */
    calls,
    /** How many `method` calls were passed on after the first `since` calls (a `calls.length` taken earlier). */
    count: (method: string, since = 0) => calls.slice(since).filter((c) => c.method === method).length,
    /** Subscriptions standing now: granted by the node on a socket still open. */
    subscriptions: () => granted,
    /** WebSocket connections open now. */
    openSockets: () => sockets.size,
    /** Closes every open WebSocket connection, as a restarting node or load balancer does. */
    dropSockets() {
      for (const ws of sockets) ws.close(1012, 'service restart')
    },
    /** While false, `eth_subscribe` is answered as by a node that does not offer it. */
    serveSubscriptions(serve: boolean) {
      offersSubscribe = serve
    },
    /** While true, new WebSocket connections are refused (HTTP keeps working). */
    refuseSockets(refuse: boolean) {
      refusing = refuse
    },
    stop() {
      for (const ws of sockets) ws.close()
      server.stop(true)
    },
  }
}
export type CountingRpcProxy = ReturnType<typeof startCountingRpcProxy>
