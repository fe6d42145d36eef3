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

export type DeliveryPump = {
  /** New events or due deliveries may be waiting: dispatch and claim now rather than at the next tick. */
  poke(): void
  /** Stops claiming, finishes the attempts under way, hands unsent claims back. */
  stop(): Promise<void>
}

export type DeliveryPumpOptions = {
  /** Deliveries sent at once by this process; a slow receiver holds one lane, not the pump. */
  lanes?: number
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

/** A sleep that `ring` cuts short; a ring while awake cuts the next sleep short, so none is lost. */
function alarm() {
  let rung = false
  let wake: (() => void) | undefined
  return {
    ring() {
      rung = true
      wake?.()
    },
    async sleep(ms: number) {
      if (!rung)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms)
          function done() {
            clearTimeout(timer)
            resolve()
          }
          wake = done
        })
      wake = undefined
      rung = false
    },
  }
}

/** Logs at most once per `everyMs` per message, so a long outage does not flood the log. */
function throttledWarn(log: AppContext['log'], everyMs = 30_000) {
  const last = new Map<string, number>()
  return (fields: object, message: string) => {
    const now = Date.now()
    if (now - (last.get(message) ?? 0) < everyMs) return
    last.set(message, now)
    log.warn(fields, message)
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
  const lanes = options.lanes ?? 16
  const idleMs = options.idleMs ?? 500
  const claimFor = claimDuration(ctx.webhooks.timeoutMs)
  const connections = options.connections ?? createReceiverConnections()
  const deliveryCtx = { ...ctx, connections }
  const warn = throttledWarn(ctx.log)
  // unrecorded, a delivery's claim runs out and it is sent again: at least once, never lost
  const records = groupCommit(
    (batch: AttemptRecord[]) => recordAttempts(ctx, batch),
    (err) =>
      warn({ err: (err as Error).message }, 'could not record webhook attempts; they will be sent again'),
    4 * lanes,
  )

  const buffer: ClaimedDelivery[] = []
  const idleLanes: Array<(claimed: ClaimedDelivery | undefined) => void> = []
  let stopped = false
  // the last claim came back full: more are due, so the feeder refills as soon as the buffer runs low
  let moreDue = false
  const dispatcher = alarm()
  const feeder = alarm()

  const take = (): Promise<ClaimedDelivery | undefined> => {
    if (stopped) return Promise.resolve(undefined)
    const claimed = buffer.shift()
    if (moreDue && buffer.length < lanes) feeder.ring()
    if (claimed) return Promise.resolve(claimed)
    return new Promise((resolve) => idleLanes.push(resolve))
  }

  const lane = async () => {
    for (;;) {
      const claimed = await take()
      if (!claimed) return
      // a claim about to run out could be taken over mid-send: leave it to whoever claims it next
      if (claimed.claimedUntil.getTime() - Date.now() < ctx.webhooks.timeoutMs) continue
      const attempt = await sendClaimedDelivery(deliveryCtx, claimed)
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
        if (buffer.length < lanes) {
          const limit = 2 * lanes - buffer.length
          const claimed = await claimDueDeliveries(ctx, { limit, claimFor })
          moreDue = claimed.length === limit
          for (const c of claimed) {
            const idle = idleLanes.shift()
            if (idle) idle(c)
            else buffer.push(c)
          }
          if (moreDue && buffer.length < lanes) continue
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
      for (const idle of idleLanes.splice(0)) idle(undefined)
      await Promise.all(running)
      await records.flushed()
      const unsent = buffer.splice(0)
      await releaseClaims(ctx, unsent).catch(() => {})
      if (!options.connections) connections.close()
    },
  }
}
