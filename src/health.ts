import { isNotNull } from 'drizzle-orm'
import type { AppContext } from './context.ts'
import { chainCursors } from './db/schema/index.ts'

export type ReadinessCheck = { name: string; ok: boolean; detail?: string }

async function check(
  name: string,
  timeoutMs: number,
  probe: () => Promise<unknown>,
): Promise<ReadinessCheck> {
  let timer: Timer | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([probe(), timeout])
    return { name, ok: true }
  } catch (err) {
    return { name, ok: false, detail: err instanceof Error ? err.message.split('\n')[0] : String(err) }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Readiness: the database, Redis, and each chain's RPC answer within the timeout.
 *
 * @example
 * const { ok, checks } = await readiness(ctx)
 */
export async function readiness(
  ctx: Pick<AppContext, 'db' | 'dbHandle' | 'redis' | 'chains'>,
  timeoutMs = 2000,
): Promise<{ ok: boolean; checks: ReadinessCheck[] }> {
  const checks = await Promise.all([
    check('database', timeoutMs, () => ctx.dbHandle.ping()),
    check('redis', timeoutMs, () => ctx.redis.ping()),
    ...[...ctx.chains.values()].map((c) => check(`chain:${c.name}`, timeoutMs, () => c.driver.getTip())),
  ])
  // a scanner halted on a too-deep reorg needs an operator: the gateway is not ready until then
  const halted = await ctx.db
    .select({ chain: chainCursors.chain, reason: chainCursors.haltedReason })
    .from(chainCursors)
    .where(isNotNull(chainCursors.haltedReason))
    .catch(() => [])
  for (const h of halted) checks.push({ name: `scanner:${h.chain}`, ok: false, detail: h.reason ?? 'halted' })
  return { ok: checks.every((c) => c.ok), checks }
}
