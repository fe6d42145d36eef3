import { createPublicClient, http } from 'viem'
import type { EvmOptions } from './options.ts'

/** What head watching reads of the driver's options. */
export type HeadWatchOptions = Pick<EvmOptions, 'rpcUrls' | 'headPollMs' | 'timeoutMs'>

/** Where head watching reports losing and regaining its subscription (never with a node's URL). */
export type HeadWatchLog = {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

/**
 * The first reconnect waits this long; each one since the subscription last delivered a head doubles it, up to
 * `maxReconnectDelayMs`.
 */
const firstReconnectDelayMs = 250
const maxReconnectDelayMs = 10_000
/**
 * A subscription that delivers nothing may be a quiet chain or a connection that died without closing: this
 * often the socket is asked something small, and one that does not answer within `timeoutMs` is dropped.
 */
const livenessEveryMs = 30_000

/** What a node sends on the socket: answers to our requests, and the subscription's notifications. */
type SocketMessage = {
  id?: number
  result?: unknown
  error?: { message?: string }
  method?: string
  params?: { subscription?: string; result?: { number?: string } }
}

const isWebSocketUrl = (url: string) => /^wss?:/i.test(url)

/**
 * Calls `onHead` with the number of each new block. With a WebSocket URL configured, through an `eth_subscribe`
 * `newHeads` subscription: nothing is polled while it stands, and every head it announces is reported (a reorg
 * announces a height again). When the socket closes, fails, does not answer, or the node refuses the
 * subscription, it reconnects with a growing delay (250 ms doubling to 10 s, for as long as the watch runs), and
 * meanwhile heads are polled every `headPollMs` over the first HTTP URL, if one is configured; once subscribed
 * again, one last poll catches up on the heads missed between, and polling stops. Without a WebSocket URL, heads
 * are polled over HTTP. Returns the stop function, which closes the socket and ends polling.
 *
 * @example
 * const stop = watchEvmHeads({ rpcUrls: ['https://…', 'wss://…'], headPollMs: 1000, timeoutMs: 10_000 }, (h) =>
 *   scans.trigger('ethereum'),
 * )
 */
export function watchEvmHeads(
  options: HeadWatchOptions,
  onHead: (height: bigint) => void,
  log?: HeadWatchLog,
): () => void {
  const wsUrl = options.rpcUrls.find(isWebSocketUrl)
  const httpUrl = options.rpcUrls.find((u) => !isWebSocketUrl(u))
  let stopped = false
  /** The highest head reported; polls report only heads above it, the subscription every head. */
  let lastHead: bigint | undefined

  const report = (height: bigint, fromPoll: boolean) => {
    if (stopped || (fromPoll && lastHead !== undefined && height <= lastHead)) return
    if (lastHead === undefined || height > lastHead) lastHead = height
    try {
      onHead(height)
    } catch {
      // the watcher's caller owns its errors; a throwing callback must not end the watch
    }
  }

  const poller = httpUrl
    ? createPoller(httpUrl, options, (height) => report(height, true))
    : // over the WebSocket URL alone, a poll would go where the subscription just failed: reconnecting is all
      { start() {}, stop() {}, pollOnce() {} }
  if (!wsUrl) {
    poller.start()
    return () => {
      stopped = true
      poller.stop()
    }
  }

  /** Closes the current socket without counting it as lost (on stop). */
  let closeSocket: (() => void) | undefined
  let reconnectTimer: Timer | undefined
  let failedAttempts = 0
  /** The subscription was down since it last stood: when it stands again, that is logged and missed heads polled. */
  let down = false

  /** The socket is gone (or never came up): poll meanwhile and try again later. */
  const onDown = (reason: string) => {
    closeSocket = undefined
    if (stopped) return
    if (!down) {
      down = true
      log?.warn({ reason }, 'no head subscription; polling for heads until it is back')
    }
    poller.start()
    const delay = Math.min(maxReconnectDelayMs, firstReconnectDelayMs * 2 ** failedAttempts)
    failedAttempts++
    reconnectTimer = setTimeout(connect, delay)
  }

  const onSubscribed = () => {
    if (!down) return
    down = false
    log?.info({}, 'head subscription back; polling stopped')
    // heads mined between the last poll and the subscription are announced by nobody: one last look
    poller.stop()
    poller.pollOnce()
  }

  function connect() {
    reconnectTimer = undefined
    if (stopped) return
    let ws: WebSocket
    try {
      ws = new WebSocket(wsUrl as string)
    } catch (err) {
      onDown((err as Error).message)
      return
    }
    const ids = { subscribe: 1, liveness: 2 }
    let subscription: string | undefined
    let closed = false
    let answerTimer: Timer | undefined
    let livenessTimer: Timer | undefined
    const close = () => {
      if (closed) return false
      closed = true
      clearTimeout(answerTimer)
      clearInterval(livenessTimer)
      ws.close()
      return true
    }
    closeSocket = close
    /** Closes this socket once, for `reason`: polling takes over and a reconnect is planned. */
    const drop = (reason: string) => {
      if (close()) onDown(reason)
    }
    /** The node must answer within `timeoutMs`, else the socket counts as dead. */
    const awaitAnswer = (what: string) => {
      clearTimeout(answerTimer)
      answerTimer = setTimeout(() => drop(`no answer to ${what}`), options.timeoutMs)
    }
    const send = (id: number, method: string, params: unknown[]) =>
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    awaitAnswer('the connection')
    ws.onopen = () => {
      awaitAnswer('eth_subscribe')
      send(ids.subscribe, 'eth_subscribe', ['newHeads'])
    }
    ws.onmessage = (event) => {
      if (closed) return
      let message: SocketMessage | null
      try {
        message = JSON.parse(String(event.data))
      } catch {
        return
      }
      if (message?.method === 'eth_subscription') {
        const number = message.params?.result?.number
        if (subscription === undefined || message.params?.subscription !== subscription || !number) return
        // a head delivered proves the subscription works: a node that grants it and then drops the socket at
        // once keeps backing off instead
        failedAttempts = 0
        report(BigInt(number), false)
        return
      }
      if (message?.id === ids.liveness) {
        clearTimeout(answerTimer)
        return
      }
      if (message?.id !== ids.subscribe) return
      clearTimeout(answerTimer)
      const id = message.result
      if (typeof id !== 'string') {
        drop(`eth_subscribe refused: ${message.error?.message ?? 'no subscription id'}`)
        return
      }
      subscription = id
      livenessTimer = setInterval(() => {
        awaitAnswer('eth_chainId')
        send(ids.liveness, 'eth_chainId', [])
      }, livenessEveryMs)
      onSubscribed()
    }
    // a failed connection fires 'error' then 'close'; either way the socket is done
    ws.onerror = () => drop('socket error')
    ws.onclose = () => drop('socket closed')
  }

  connect()
  return () => {
    stopped = true
    clearTimeout(reconnectTimer)
    poller.stop()
    closeSocket?.()
  }
}

/**
 * `eth_blockNumber` over HTTP every `headPollMs` while started (the first at once), each answer handed to
 * `onHeight`; failures wait for the next poll.
 */
function createPoller(url: string, options: HeadWatchOptions, onHeight: (height: bigint) => void) {
  let client: ReturnType<typeof createPublicClient> | undefined
  let timer: Timer | undefined
  /** Bumped by every start and stop: a poll in flight when polling stopped plans no next one. */
  let generation = 0
  let running = false
  const pollOnce = async () => {
    // the next poll is the retry
    client ??= createPublicClient({ transport: http(url, { timeout: options.timeoutMs, retryCount: 0 }) })
    try {
      onHeight(await client.getBlockNumber({ cacheTime: 0 }))
    } catch {
      // the node is away: the next poll asks again
    }
  }
  const tick = async (mine: number) => {
    await pollOnce()
    if (running && mine === generation) timer = setTimeout(() => tick(mine), options.headPollMs)
  }
  return {
    pollOnce,
    start() {
      if (running) return
      running = true
      tick(++generation)
    },
    stop() {
      running = false
      generation++
      clearTimeout(timer)
    },
  }
}
