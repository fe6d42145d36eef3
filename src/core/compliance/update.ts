import { isDriverError } from '@tollgate/sdk'
import type { ChainRegistry, LoadedKytProvider } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { GatewayError } from '../errors.ts'
import type { ComplianceContext } from './checks.ts'
import { type RescreenResult, rescreenOpenDeposits } from './rescreen.ts'

/** One provider that could not reload: its name, the error's code and message, and whether a retry can help. */
export type ReloadFailure = { provider: string; code: string; message: string; retryable: boolean }

/**
 * Reloading the providers' data failed for the providers named in `failures`. Each provider replaces its data
 * only when its whole reload succeeded, so the ones that failed keep answering from what they had.
 */
export class KytReloadError extends GatewayError {
  readonly failures: readonly ReloadFailure[]
  constructor(failures: readonly ReloadFailure[]) {
    super(
      // a list server that is down or rate-limits can be tried again; a missing or malformed list cannot
      failures.every((f) => f.retryable) ? 'retryable' : 'permanent',
      'KYT_RELOAD_FAILED',
      failures.map((f) => `kyt provider "${f.provider}": ${f.code}: ${f.message}`).join('\n'),
    )
    this.name = 'KytReloadError'
    this.failures = failures
  }
}

/** What a reload did for one provider: reloaded its data, or had none to reload (it answers live). */
export type ProviderReload = { provider: string; reloaded: boolean }

/**
 * Reloads the data of every provider that keeps some (`reload()`, e.g. sanctions lists), all at once. Throws a
 * {@link KytReloadError} naming every provider that failed; providers without `reload` are reported as such.
 *
 * @example
 * const reloads = await reloadKytProviders(ctx.compliance.providers)
 * // [{ provider: 'sanctions', reloaded: true }, { provider: 'oracle', reloaded: false }]
 */
export async function reloadKytProviders(
  providers: readonly LoadedKytProvider[],
  signal?: AbortSignal,
): Promise<ProviderReload[]> {
  const results = await Promise.allSettled(
    providers.map(async (p) => {
      if (!p.provider.reload) return false
      await p.provider.reload(signal)
      return true
    }),
  )
  const failures = results.flatMap((r, i): ReloadFailure[] => {
    if (r.status === 'fulfilled') return []
    const provider = (providers[i] as LoadedKytProvider).name
    const err = r.reason as unknown
    const message = err instanceof Error ? err.message : String(err)
    return isDriverError(err)
      ? [{ provider, code: err.code, message, retryable: err.retryable }]
      : [{ provider, code: 'KYT_RELOAD_FAILED', message, retryable: true }]
  })
  if (failures.length > 0) throw new KytReloadError(failures)
  return results.map((r, i) => ({
    provider: (providers[i] as LoadedKytProvider).name,
    reloaded: r.status === 'fulfilled' && r.value,
  }))
}

/**
 * Screens every open deposit again after the providers' data changed ({@link rescreenOpenDeposits}) and
 * records it in the audit log (`kyt.rescreened`, gateway-wide: no merchant) with the counts, the payments it
 * held and the providers reloaded.
 *
 * @example
 * const { screened, held, failed } = await rescreenAfterUpdate({ db, compliance, chains }, { actor: { cli: true }, reloaded: ['sanctions'] })
 */
export async function rescreenAfterUpdate(
  ctx: ComplianceContext & { chains: ChainRegistry },
  params: { actor: AuditActor; reloaded: readonly string[] },
): Promise<RescreenResult> {
  const result = await rescreenOpenDeposits(ctx)
  const heldPayments = [
    ...new Set(result.changes.filter((c) => c.to === 'HELD').map((c) => c.paymentId)),
  ].sort()
  await recordAudit(ctx.db, {
    merchantId: null,
    actor: params.actor,
    action: 'kyt.rescreened',
    target: { type: 'kyt_providers', id: ctx.compliance.providers.map((p) => p.name).join(',') },
    data: {
      reloaded: [...params.reloaded],
      screened: result.screened,
      held: result.held,
      failed: result.failed,
      heldPayments,
    },
  })
  return result
}
