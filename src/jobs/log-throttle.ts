/**
 * Lets one log line per key through per interval, counting the ones it held back, so a condition that lasts (a
 * node down for an hour, a pass failing every two seconds) logs once a minute instead of flooding.
 *
 * @example
 * const throttle = createLogThrottle(60_000)
 * const pass = throttle.take(`${chain}:outbound:RPC_DEADLINE`)
 * if (pass) log.warn({ chain, suppressed: pass.suppressed }, 'outbound step failed')
 */
export function createLogThrottle(intervalMs = 60_000, now: () => number = Date.now) {
  const seen = new Map<string, { at: number; held: number }>()
  return {
    /** Whether to log now (with how many were held back since the last line), or undefined to hold this one. */
    take(key: string): { suppressed: number } | undefined {
      const t = now()
      const last = seen.get(key)
      if (last && t - last.at < intervalMs) {
        last.held++
        return undefined
      }
      seen.set(key, { at: t, held: 0 })
      return { suppressed: last?.held ?? 0 }
    },
  }
}
export type LogThrottle = ReturnType<typeof createLogThrottle>
