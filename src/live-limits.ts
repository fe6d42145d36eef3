import type { Env } from './env.ts'

/**
 * Counts what each holder (a client address) has open against a cap. `take` answers the function that gives
 * the slot back (safe to call more than once), or undefined when the holder is at the cap.
 */
export type SlotCounter = {
  take(holder: string): (() => void) | undefined
  held(holder: string): number
  readonly max: number
}

/**
 * A cap on what each holder may hold at once.
 *
 * @example
 * const sockets = slotCounter(100)
 * const release = sockets.take('203.0.113.9')
 * if (!release) refuse()
 */
export function slotCounter(max: number): SlotCounter {
  const open = new Map<string, number>()
  return {
    max,
    take(holder) {
      const held = open.get(holder) ?? 0
      if (held >= max) return undefined
      open.set(holder, held + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (open.get(holder) ?? 1) - 1
        if (left <= 0) open.delete(holder)
        else open.set(holder, left)
      }
    },
    held: (holder) => open.get(holder) ?? 0,
  }
}

/**
 * What one API process lets a client hold open: graphql-ws sockets per address, subscriptions per socket, and
 * subscriptions per address over graphql-ws and server-sent events together. Counted per process (a client
 * spread over several API processes behind a balancer gets each process's caps).
 */
export type LiveLimits = {
  socketsPerAddress: SlotCounter
  subscriptionsPerAddress: SlotCounter
  subscriptionsPerSocket: number
}

const limitsOfApp = new WeakMap<object, LiveLimits>()

/**
 * The live limits of an app (one set per app context, made from its settings on first use).
 *
 * @example
 * const release = liveLimits(ctx.app).subscriptionsPerAddress.take(address)
 */
export function liveLimits(app: {
  env: Pick<
    Env,
    'WS_MAX_CONNECTIONS_PER_IP' | 'WS_MAX_SUBSCRIPTIONS_PER_CONNECTION' | 'SUBSCRIPTIONS_MAX_PER_IP'
  >
}): LiveLimits {
  let limits = limitsOfApp.get(app)
  if (!limits) {
    limits = {
      socketsPerAddress: slotCounter(app.env.WS_MAX_CONNECTIONS_PER_IP),
      subscriptionsPerAddress: slotCounter(app.env.SUBSCRIPTIONS_MAX_PER_IP),
      subscriptionsPerSocket: app.env.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
    }
    limitsOfApp.set(app, limits)
  }
  return limits
}
