import { UnrecoverableError } from 'bullmq'
import { type ErrorKind, errorCode, errorKind } from '../core/errors.ts'
import type { Logger } from '../log.ts'

/**
 * Logs a job's failure at the level its kind calls for (a passing condition is a warning; configuration and
 * bugs are errors), with the kind and code as fields for alerting. Answers the kind.
 *
 * @example
 * const kind = reportFailure(ctx.log, err, { chain }, 'payout stage failed')
 */
export function reportFailure(log: Logger, err: unknown, bindings: object, msg: string): ErrorKind {
  const kind = errorKind(err)
  const fields = { ...bindings, err, errorKind: kind, errorCode: errorCode(err) }
  if (kind === 'retryable' || kind === 'user') log.warn(fields, msg)
  else log.error(fields, kind === 'bug' ? `${msg} (a bug: report it)` : msg)
  return kind
}

/**
 * Runs a job's work and decides from the error's type what the queue does with a failure: a retryable one is
 * thrown on (the queue retries it, and schedulers run it again on their next tick); anything retrying cannot
 * fix (bad input, configuration, a bug) becomes BullMQ's `UnrecoverableError`, so it fails once, loudly.
 *
 * @example
 * worker('reconcile', (job) => decideRetry(ctx.log, { queue: 'reconcile' }, () => processReconcile(ctx, job.data.chain)))
 */
export async function decideRetry<T>(log: Logger, bindings: object, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    const kind = reportFailure(log, err, bindings, 'job failed')
    if (kind === 'retryable') throw err
    throw new UnrecoverableError(
      `${errorCode(err) ?? kind}: ${err instanceof Error ? err.message : String(err)}`,
    )
  }
}
