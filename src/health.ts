import {
  type ChainStatus,
  type DegradedReason,
  describePayouts,
  describeScan,
  readChainStatus,
} from './chain-status.ts'
import type { AppContext } from './context.ts'
import { errorCode, withoutUrls } from './core/errors.ts'

/**
 * One readiness check. `degraded` lists why a chain is behind (scanning or payouts past its `degradedAfter`
 * thresholds): reported for alerting, never a reason to be unready (see `readiness`). Node URLs carry API keys
 * and /readyz answers anyone: a detail goes through `withoutUrls`.
 */
export type ReadinessCheck = { name: string; ok: boolean; detail?: string; degraded?: DegradedReason[] }

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
    const line = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)
    const code = errorCode(err)
    return { name, ok: false, detail: withoutUrls(code && !line.includes(code) ? `${code}: ${line}` : line) }
  } finally {
    clearTimeout(timer)
  }
}

const scanReasons: readonly DegradedReason[] = ['SCAN_LAG', 'NODE_BEHIND', 'SCAN_STALLED', 'STALE_TIP']
const payoutReasons: readonly DegradedReason[] = ['PAYOUTS_STALLED', 'PAYOUTS_FAILING', 'PAYOUTS_BACKLOG']

/**
 * Per chain that has been scanned: `scanner:<chain>` ("N blocks behind, last scan Xs ago, …"; not ok only when
 * halted); per chain with payout activity: `payouts:<chain>` (the backlog and the last pass; always ok). Either
 * carries `degraded` reasons past the chain's thresholds.
 */
function chainChecks(statuses: readonly ChainStatus[]): ReadinessCheck[] {
  const checks: ReadinessCheck[] = []
  for (const s of statuses) {
    if (s.scannedHeight !== null) {
      const degraded = s.degraded.filter((r) => scanReasons.includes(r))
      checks.push({
        name: `scanner:${s.chain}`,
        ok: !s.halted,
        detail: withoutUrls(s.halted ? `${s.haltedReason ?? 'halted'}; ${describeScan(s)}` : describeScan(s)),
        ...(degraded.length > 0 ? { degraded } : {}),
      })
    }
    const p = s.payouts
    if (p.lastPass || p.queued.count + p.inFlight.count + p.openTransactions.count > 0) {
      const degraded = s.degraded.filter((r) => payoutReasons.includes(r))
      checks.push({
        name: `payouts:${s.chain}`,
        ok: true,
        detail: describePayouts(p),
        ...(degraded.length > 0 ? { degraded } : {}),
      })
    }
  }
  return checks
}

/**
 * Readiness: the database and Redis answer within the timeout, no scanner is halted and no chain's node is on
 * another network than the configured one (`chain:<name>` not ok, naming both networks); plus, per chain,
 * whether its node answers and how far behind its scanning and payouts are.
 *
 * Lag never makes the process unready: readiness decides whether this process gets traffic, and an API process
 * taken out of the load balancer because a scanner or the signer lags would stop payment creation, checkouts
 * and withdrawal requests without making the scan or the payouts any faster; the same goes for a node that does
 * not answer (its chain is degraded: `NODE_UNREACHABLE`). A node on another network is an operator's error that
 * will not pass on its own (like a halt): that chain is not ready. It shows as `degraded` on the
 * check and at the top instead (and in the metrics, for alerting). A halted scanner stays unready: it needs an
 * operator and will not get better on its own.
 *
 * @example
 * const { ok, degraded, checks } = await readiness(ctx)
 */
export async function readiness(
  ctx: Pick<AppContext, 'db' | 'dbHandle' | 'redis' | 'chains'>,
  timeoutMs = 2000,
): Promise<{ ok: boolean; degraded: boolean; checks: ReadinessCheck[] }> {
  // the database may be the one that is down: its own check says so
  const statuses = readChainStatus(ctx).catch(() => [] as ChainStatus[])
  const checks = await Promise.all([
    check('database', timeoutMs, () => ctx.dbHandle.ping()),
    check('redis', timeoutMs, () => ctx.redis.ping()),
    ...[...ctx.chains.values()].map(async (c) => {
      // one chain's node being away is that chain's degradation, not an outage of this whole process
      const probe = await check(`chain:${c.name}`, timeoutMs, () => c.driver.getTip())
      const network = (await statuses).find((s) => s.chain === c.name)?.network
      if (network)
        return {
          name: probe.name,
          ok: false,
          detail: withoutUrls(
            `WRONG_NETWORK: the node is on ${network.actual}, the chain is configured for ${network.expected}; scanning stopped`,
          ),
          degraded: ['WRONG_NETWORK' as const],
        }
      return probe.ok ? probe : { ...probe, ok: true, degraded: ['NODE_UNREACHABLE' as const] }
    }),
  ])
  checks.push(...chainChecks(await statuses))
  return {
    ok: checks.every((c) => c.ok),
    degraded: checks.some((c) => (c.degraded?.length ?? 0) > 0),
    checks,
  }
}
