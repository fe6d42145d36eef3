import type { AppContext } from '../context.ts'
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  claimDuration,
  releaseClaims,
} from '../core/webhooks/claims.ts'
import { createReceiverConnections, type ReceiverConnections } from '../core/webhooks/connections.ts'
import { sendClaimedDelivery } from '../core/webhooks/delivery.ts'
import { dispatchWebhookEvents } from '../core/webhooks/dispatch.ts'
import { type AttemptRecord, recordAttempts } from '../core/webhooks/record-attempts.ts'
import { alarm } from './alarm.ts'
import { createLogThrottle } from './log-throttle.ts'

export type DeliveryPump = {
  /** New events or due deliveries may be waiting: dispatch and claim now rather than at the next tick. */
  poke(): void
  /** Stops claiming, finishes the attempts under way, hands unsent claims back. */
  stop(): Promise<void>
}

export type DeliveryPumpOptions = {
  /** Deliveries sent at once by this process (default 64). */
  lanes?: number
  /**
   * Deliveries of one endpoint this process holds at once, sent or claimed (default 16): as many concurrent
   * requests as a receiver gets from one worker, and so a receiver that hangs, or one merchant's backlog, takes
   * this many lanes and no more.
   */
  perEndpoint?: number
  /** How often an idle pump looks for new events and deliveries that came due. */
  idleMs?: number
  connections?: ReceiverConnections
}

/**
 * Batches writes that arrive while one is under way into the next: one transaction per batch, not per item.
 * `add` resolves once the item is taken in; `whenRoom` waits while `maxWaiting` items are not yet written (so
 * senders cannot run far ahead of the database); `flushed` waits for everything added so far.
 */
function groupCommit<T>(
  write: (items: T[]) => Promise<unknown>,
  onError: (err: unknown) => void,
  maxWaiting: number,
) {
  let waiting: T[] = []
  let writing: Promise<void> | undefined
  const roomWaiters: Array<() => void> = []
  const drain = async () => {
    while (waiting.length > 0) {
      const batch = waiting
      waiting = []
      for (const wake of roomWaiters.splice(0)) wake()
      await write(batch).catch(onError)
    }
    writing = undefined
  }
  return {
    add(item: T) {
      waiting.push(item)
      writing ??= drain()
    },
    whenRoom: () =>
      waiting.length < maxWaiting ? Promise.resolve() : new Promise<void>((wake) => roomWaiters.push(wake)),
    flushed: () => writing ?? Promise.resolve(),
  }
}

/**
 * Delivers webhooks straight from the database, with no job per delivery: one loop dispatches the outboxes
 * into deliveries and claims due ones in batches (a claim is a lease: see claimDueDeliveries), `lanes` loops
 * send them over kept-alive connections, and their attempts are recorded a batch per transaction. Retries are
 * rows whose next attempt lies ahead, found by the same claim once due; so deliveries need nothing from Redis,
 * and any number of processes can run a pump side by side.
 *
 * @example
 * const pump = startDeliveryPump(ctx)
 * pump.poke() // after a status change
 * await pump.stop()
 */
export function startDeliveryPump(ctx: AppContext, options: DeliveryPumpOptions = {}): DeliveryPump {
  const lanes = options.lanes ?? 64
  const perEndpoint = options.perEndpoint ?? 16
  const idleMs = options.idleMs ?? 500
  const claimFor = claimDuration(ctx.webhooks.timeoutMs)
  const connections = options.connections ?? createReceiverConnections()
  const deliveryCtx = { ...ctx, connections }
  const throttle = createLogThrottle(30_000)
  // a long outage logs once per 30 s per message, not once per attempt
  const warn = (fields: object, message: string) => {
    const pass = throttle.take(message)
    if (pass) ctx.log.warn({ ...fields, suppressed: pass.suppressed }, message)
  }
  // unrecorded, a delivery's claim runs out and it is sent again: at least once, never lost
  const records = groupCommit(
    (batch: AttemptRecord[]) => recordAttempts(ctx, batch),
    (err) =>
      warn({ err: (err as Error).message }, 'could not record webhook attempts; they will be sent again'),
    4 * lanes,
  )

  // claimed, not yet taken by a lane
  const waiting: ClaimedDelivery[] = []
  // per endpoint: being sent, and in hand (being sent or waiting); an endpoint is claimed for up to four times its
  // share, so a fast receiver's next deliveries are ready when its requests end
  const sending = counts()
  const inHand = counts()
  const handCap = 4 * perEndpoint
  // waiting deliveries a free lane could take now (those of endpoints sending their share wait for them)
  const ready = () =>
    waiting.reduce((n, c) => (sending.of(c.delivery.endpointId) < perEndpoint ? n + 1 : n), 0)
  let stopped = false
  // the last claim came back full: more are due, so the feeder claims again as soon as the lanes run low
  let moreDue = false
  // endpoints that got all the room they had at the last claim: they may have more due
  const atCap = new Set<string>()
  const dispatcher = alarm()
  const feeder = alarm()
  const lanesIdle = alarm()
  let idleCount = 0

  /** The oldest waiting delivery whose endpoint has room to send. */
  const pick = (): ClaimedDelivery | undefined => {
    const i = waiting.findIndex((c) => sending.of(c.delivery.endpointId) < perEndpoint)
    return i < 0 ? undefined : waiting.splice(i, 1)[0]
  }

  // a claim about to run out could be taken over mid-send: it is left to whoever claims it next
  const send = (claimed: ClaimedDelivery) =>
    claimed.claimedUntil.getTime() - Date.now() < ctx.webhooks.timeoutMs
      ? undefined
      : sendClaimedDelivery(deliveryCtx, claimed)

  const lane = async () => {
    while (!stopped) {
      const claimed = pick()
      if (!claimed) {
        idleCount++
        await lanesIdle.sleep(idleMs)
        idleCount--
        continue
      }
      const endpointId = claimed.delivery.endpointId
      sending.add(endpointId, 1)
      if (moreDue && ready() < lanes) feeder.ring()
      const attempt = await send(claimed)
      sending.add(endpointId, -1)
      inHand.add(endpointId, -1)
      // another of this endpoint may be waiting for the room this request just freed
      if (waiting.length > 0) lanesIdle.ring()
      if (atCap.has(endpointId) && inHand.of(endpointId) <= handCap / 2) {
        atCap.delete(endpointId)
        feeder.ring()
      }
      if (!attempt) continue
      if (attempt.outcome.kind === 'failed')
        ctx.log.warn(
          { deliveryId: claimed.delivery.id, statusCode: attempt.statusCode, error: attempt.error },
          'webhook delivery failed for good',
        )
      records.add(attempt)
      await records.whenRoom()
    }
  }

  // outboxes → deliveries, a batch at a time, each handed to the feeder at once
  const dispatch = async () => {
    while (!stopped) {
      try {
        if ((await dispatchWebhookEvents(ctx)).length > 0) {
          feeder.ring()
          continue
        }
      } catch (err) {
        warn({ err: (err as Error).message }, 'webhook dispatch could not reach the database; retrying')
      }
      await dispatcher.sleep(1_000)
    }
  }

  const feed = async () => {
    while (!stopped) {
      try {
        const readyNow = ready()
        if (readyNow < lanes) {
          const limit = 2 * lanes - readyNow
          const share = { cap: handCap, held: inHand.snapshot() }
          const claimed = await claimDueDeliveries(ctx, { limit, claimFor, share })
          moreDue = claimed.length === limit
          const got = counts()
          for (const c of claimed) {
            got.add(c.delivery.endpointId, 1)
            inHand.add(c.delivery.endpointId, 1)
            waiting.push(c)
          }
          if (claimed.length > 0 && idleCount > 0) lanesIdle.ring()
          // claimed for again once its hand is half empty, at once if it already is
          let again = moreDue && ready() < lanes
          for (const [endpointId, n] of share.held) if (n >= handCap) atCap.add(endpointId)
          for (const [endpointId, n] of got.entries())
            if (n >= handCap - (share.held.get(endpointId) ?? 0)) atCap.add(endpointId)
          for (const endpointId of atCap)
            if (inHand.of(endpointId) <= handCap / 2) {
              atCap.delete(endpointId)
              again = true
            }
          if (again) continue
        }
      } catch (err) {
        moreDue = false
        warn({ err: (err as Error).message }, 'webhook pump could not reach the database; retrying')
      }
      await feeder.sleep(idleMs)
    }
  }

  const running = [dispatch(), feed(), ...Array.from({ length: lanes }, lane)]
  return {
    poke() {
      dispatcher.ring()
    },
    async stop() {
      stopped = true
      dispatcher.ring()
      feeder.ring()
      lanesIdle.ring()
      await Promise.all(running)
      await records.flushed()
      await releaseClaims(ctx, waiting.splice(0)).catch(() => {})
      if (!options.connections) connections.close()
    },
  }
}

/** Counts per key; a key at zero is dropped. */
function counts() {
  const map = new Map<string, number>()
  const of = (key: string) => map.get(key) ?? 0
  return {
    of,
    add(key: string, by: number) {
      const n = of(key) + by
      if (n > 0) map.set(key, n)
      else map.delete(key)
    },
    entries: () => map.entries(),
    snapshot: () => new Map(map),
  }
}
