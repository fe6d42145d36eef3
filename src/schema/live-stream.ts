import { Repeater } from 'graphql-yoga'

/**
 * What a live stream sends: a value, or the error that ends it. The field's resolver throws the error (see
 * `liveValue`), so it reaches the client coded and masked like any resolver's.
 */
export type LiveItem<T> = { value: T } | { error: unknown }

/**
 * The resolver of a field whose `subscribe` returns a `liveStream`.
 *
 * @example
 * t.field({ type: PaymentRef, subscribe: () => liveStream({ … }), resolve: liveValue })
 */
export function liveValue<T>(item: LiveItem<T>): T {
  if ('error' in item) throw item.error
  return item.value
}

export type LiveStreamOptions<T> = {
  /** "Look again" signals; their content is handed to `read`. */
  signals: AsyncIterable<unknown>
  /**
   * What to send: called once at the start (with no signal) and after each signal. Undefined sends nothing
   * this time; null ends the stream.
   */
  read(signal?: unknown): Promise<T | undefined | null>
  /**
   * Whether the caller may still have what the stream sends: null when it may, else the error that ends the
   * stream. Asked before every value is sent and whenever `watch` wakes the stream.
   */
  recheck?: () => Promise<unknown | null>
  /** Arranges for `wake` to be called when the caller's right may have changed; answers how to stop. */
  watch?: (wake: () => void) => () => void
  /** Runs once when the stream ends, however it ends (a slot taken for it is given back here). */
  release?: () => void
}

const stopped = Symbol('stopped')
const woken = Symbol('woken')

/**
 * A subscription's stream of values. Unlike an async generator, which cannot be stopped while it awaits its
 * next signal, it ends at once when the client leaves (`return()` from graphql-ws or yoga's SSE), when a
 * recheck refuses (revoked or expired key, lost scope: the refusal is the last item), when the signals end or
 * `read` answers null; then it stops listening and calls `release`. An error thrown while reading ends it too,
 * sent as its last item.
 *
 * @example
 * return liveStream({ signals: app.bus.merchant(id), read: (s) => load(s), recheck, watch, release })
 */
export function liveStream<T>(options: LiveStreamOptions<T>): AsyncIterableIterator<LiveItem<T>> {
  let released = false
  const release = () => {
    if (released) return
    released = true
    options.release?.()
  }
  const repeater = new Repeater<LiveItem<T>>(async (push, stop) => {
    let isStopped = false
    const stopping = stop.then((): typeof stopped => {
      isStopped = true
      return stopped
    })
    let wake: () => void = () => {}
    const nextWake = () =>
      new Promise<typeof woken>((resolve) => {
        wake = () => resolve(woken)
      })
    let waking = nextWake()
    const unwatch = options.watch?.(() => wake())
    const iterator = options.signals[Symbol.asyncIterator]()
    // listen before the first read, so a change committed in between is not missed
    let pending = iterator.next()
    pending.catch(() => {})
    /** Sends `item`; false when the client left meanwhile. */
    const send = async (item: LiveItem<T>) => {
      await Promise.race([push(item), stopping])
      return !isStopped
    }
    try {
      // the watch is up only now: a revocation heard before it would otherwise wait for the next value
      const refusal = (await options.recheck?.()) ?? null
      if (isStopped) return
      if (refusal !== null) {
        await send({ error: refusal })
        return
      }
      let signal: unknown
      let first = true
      for (;;) {
        if (first || signal !== woken) {
          const value = await options.read(first ? undefined : signal)
          if (isStopped || value === null) return
          if (value !== undefined) {
            const refusal = (await options.recheck?.()) ?? null
            if (isStopped) return
            if (refusal !== null) {
              await send({ error: refusal })
              return
            }
            if (!(await send({ value }))) return
          }
        } else {
          const refusal = (await options.recheck?.()) ?? null
          if (isStopped) return
          if (refusal !== null) {
            await send({ error: refusal })
            return
          }
        }
        first = false
        const next: IteratorResult<unknown> | typeof stopped | typeof woken = await Promise.race([
          pending,
          stopping,
          waking,
        ])
        if (next === stopped) return
        if (next === woken) {
          waking = nextWake()
          signal = woken
          continue
        }
        if (next.done) return
        signal = next.value
        pending = iterator.next()
        pending.catch(() => {})
      }
    } catch (err) {
      if (!isStopped) await send({ error: err })
    } finally {
      unwatch?.()
      release()
      iterator.return?.()?.catch(() => {})
      stop()
    }
  })
  // a stream the client leaves before pulling from it never starts its executor: release here too
  return {
    next: () => repeater.next(),
    return: (value?: unknown) => {
      release()
      return repeater.return(value as never)
    },
    throw: (error?: unknown) => {
      release()
      return repeater.throw(error)
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}
