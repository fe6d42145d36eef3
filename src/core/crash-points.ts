/**
 * Fault injection for the crash tests: with `TOLLGATE_ENV=test` and `TOLLGATE_CRASH_AT=<point>`, the process
 * kills itself with SIGKILL when it reaches that point, so a test can prove that every line after a persisted
 * step is safe to lose. Outside tests this is a no-op.
 *
 * @example
 * await persistSignedTx(row)
 * crashPoint('outbound:signed')
 */
export function crashPoint(point: string): void {
  if (process.env.TOLLGATE_ENV !== 'test' || process.env.TOLLGATE_CRASH_AT !== point) return
  process.kill(process.pid, 'SIGKILL')
}
