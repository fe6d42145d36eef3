import { GatewayError } from './core/errors.ts'
import type { Queues } from './queues.ts'

// How the gateway's job queues are doing, for an operator's overview: BullMQ's own counts per queue, read from
// Redis when asked. Gateway-wide figures (every merchant's work shares these queues).

/** One queue's jobs by state; `waiting` includes jobs held back by priority or by a paused queue. */
export type QueueHealth = {
  name: string
  waiting: number
  active: number
  delayed: number
  failed: number
  paused: boolean
}

/**
 * Counts the jobs of every queue by state, in the order the queues are declared (src/queues.ts). Throws a
 * retryable QUEUES_UNREACHABLE when Redis does not answer.
 *
 * @example
 * const health = await queueHealth(ctx.queues)
 * // [{ name: 'address-pool', waiting: 0, active: 0, delayed: 0, failed: 0, paused: false }, …]
 */
export async function queueHealth(queues: Queues): Promise<QueueHealth[]> {
  try {
    return await Promise.all(
      Object.values(queues).map(async (queue) => {
        const [counts, paused] = await Promise.all([
          queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'failed'),
          queue.isPaused(),
        ])
        const n = (state: string) => counts[state] ?? 0
        return {
          name: queue.name,
          waiting: n('wait') + n('prioritized'),
          active: n('active'),
          delayed: n('delayed'),
          failed: n('failed'),
          paused,
        }
      }),
    )
  } catch (err) {
    throw new GatewayError('retryable', 'QUEUES_UNREACHABLE', 'the job queues (Redis) did not answer', {
      cause: err,
    })
  }
}
