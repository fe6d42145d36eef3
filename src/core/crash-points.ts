const reached = new Map<string, number>()

/**
 * Fault injection for the crash tests: with `TOLLGATE_ENV=test` and `TOLLGATE_CRASH_AT=<point>` (or
 * `<point>#<n>` for its n-th occurrence), the process kills itself with SIGKILL when it gets there, so a test
 * can prove that every line after a persisted step is safe to lose. Outside tests this is a no-op.
 *
 * @example
 * await persistSignedTx(row)
 * crashPoint('outbound:signed')
 */
export function crashPoint(point: string): void {
  const target = process.env.TOLLGATE_CRASH_AT
  if (process.env.TOLLGATE_ENV !== 'test' || !target) return
  const [name, nth = '1'] = target.split('#')
  if (name !== point) return
  const count = (reached.get(point) ?? 0) + 1
  reached.set(point, count)
  if (count === Number(nth)) process.kill(process.pid, 'SIGKILL')
}
