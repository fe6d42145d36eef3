import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { PinnedAddress, WebhookTarget } from './url-guard.ts'

/** Kept-alive connections to webhook receivers, reused between deliveries. */
export type ReceiverConnections = {
  /** The pool for this target: same scheme, host, port, checked addresses and trusted roots. */
  agentFor(target: WebhookTarget, ca?: string | string[]): HttpAgent
  /** Closes every kept connection. */
  close(): void
}

/**
 * One keep-alive pool per (scheme, host name, port, the very addresses the URL guard checked, trusted roots).
 * A pool keyed by host name alone could hand a request a connection made to an address checked for an earlier
 * request (a name that resolves elsewhere now, say to an internal address after a DNS rebinding); keyed by the
 * checked addresses too, a connection is only reused by requests that were checked against the same ones, and a
 * new answer gets a fresh pool. Pools unused for `idleMs` are closed, and at most `maxPools` are kept (the least
 * recently used goes first).
 *
 * @example
 * const connections = createReceiverConnections()
 * await postToPinnedAddress(target, { ...post, connections })
 * connections.close()
 */
export function createReceiverConnections(
  options: { idleMs?: number; maxPools?: number; socketsPerPool?: number } = {},
): ReceiverConnections {
  const idleMs = options.idleMs ?? 30_000
  const maxPools = options.maxPools ?? 256
  const pools = new Map<string, { agent: HttpAgent; lastUsed: number }>()
  const drop = (key: string) => {
    pools.get(key)?.agent.destroy()
    pools.delete(key)
  }
  const sweep = setInterval(
    () => {
      const now = Date.now()
      for (const [key, pool] of pools) if (now - pool.lastUsed > idleMs) drop(key)
    },
    Math.min(idleMs, 10_000),
  )
  sweep.unref?.()
  return {
    agentFor(target, ca) {
      const addresses = target.addresses.map((a) => a.address).join(',')
      const key = [target.url.protocol, target.url.host, addresses, ca ? String(ca) : ''].join('|')
      const found = pools.get(key)
      if (found) {
        // re-inserted: the map's order is the order of use, oldest first
        pools.delete(key)
        found.lastUsed = Date.now()
        pools.set(key, found)
        return found.agent
      }
      const Agent = target.url.protocol === 'https:' ? HttpsAgent : HttpAgent
      const agent = new Agent({
        keepAlive: true,
        maxSockets: options.socketsPerPool ?? 16,
        lookup: pinnedLookup(target.addresses),
      } as ConstructorParameters<typeof HttpAgent>[0])
      pools.set(key, { agent, lastUsed: Date.now() })
      while (pools.size > maxPools) drop(pools.keys().next().value as string)
      return agent
    },
    close() {
      clearInterval(sweep)
      for (const key of [...pools.keys()]) drop(key)
    },
  }
}

/** A lookup that knows only the answers the URL guard checked (tried in order until one connects). */
export function pinnedLookup(addresses: readonly PinnedAddress[]) {
  return (
    _hostname: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | PinnedAddress[], family?: number) => void,
  ) => {
    const [first] = addresses
    if (options.all) callback(null, [...addresses])
    else if (first) callback(null, first.address, first.family)
    else callback(new Error('no checked address to connect to'), '', 4)
  }
}
