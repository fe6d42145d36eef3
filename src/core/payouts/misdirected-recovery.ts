import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { payments, sweeps, transfers } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { notFound, TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'

export type RecoveryInput = { paymentId: string; chain: string; asset: string }

/**
 * Recovers wrong-network deposits: opens a sweep, on the chain they arrived on, of the payment address's whole
 * balance in that asset to that chain's treasury (the gateway holds the key there: the address derives the same
 * on every sibling chain). The sweep runs like any other (gas top-up for tokens, persisted before broadcast);
 * the ledger keeps owing the amount under `gateway:misdirected` until it is settled with the merchant or the
 * buyer. Only confirmed misdirected deposits can be recovered; asking again while a recovery is open answers that
 * one, and once it finished a later deposit opens it anew. Audited.
 *
 * @example
 * const sweep = await recoverMisdirected({ db, chains }, merchantId, { paymentId, chain: 'bsc', asset: 'BNB' }, { cli: true })
 */
export async function recoverMisdirected(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
  input: RecoveryInput,
  actor: AuditActor,
): Promise<typeof sweeps.$inferSelect> {
  const chain = resolveChain(ctx.chains, input.chain)
  const asset = resolveAsset(chain, input.asset)
  if (!chain.driver.payouts || !chain.settings.sweeps.enabled)
    throw new TollgateError(
      'PAYOUTS_UNSUPPORTED',
      `${chain.name} does not sweep: nothing can be recovered there`,
      'chain',
    )
  return ctx.db.transaction(async (tx) => {
    const [payment] = await tx
      .select()
      .from(payments)
      .where(and(eq(payments.id, input.paymentId), eq(payments.merchantId, merchantId)))
      .for('update')
    if (!payment) throw notFound('payment')
    if (payment.chain === chain.name)
      throw new TollgateError(
        'INVALID_INPUT',
        `${chain.name} is the payment's own chain: its deposits are swept as the payment's`,
        'chain',
      )
    const [held] = await tx
      .select({ total: sql<string>`coalesce(sum(${transfers.amount}), 0)` })
      .from(transfers)
      .where(
        and(
          eq(transfers.misdirectedPaymentId, payment.id),
          eq(transfers.chain, chain.name),
          eq(transfers.asset, asset.id),
          eq(transfers.status, 'confirmed'),
        ),
      )
    if (BigInt(held?.total ?? '0') === 0n)
      throw new TollgateError(
        'INVALID_STATE',
        `no confirmed misdirected ${asset.symbol} deposit on ${chain.name} for this payment`,
        'asset',
      )
    const opened = {
      id: newId('swp'),
      chain: chain.name,
      paymentId: payment.id,
      asset: asset.id,
      fromAddress: payment.address,
      fromPath: `${chain.driver.accountPath}/0/${payment.derivationIndex}`,
      status: 'pending' as const,
    }
    const [sweep] = await tx
      .insert(sweeps)
      .values(opened)
      .onConflictDoUpdate({
        target: [sweeps.paymentId, sweeps.chain, sweeps.asset],
        // a finished recovery is opened anew for what arrived since; an open one is left as it is
        set: {
          status: sql`case when ${sweeps.status} in ('done', 'skipped') then 'pending' else ${sweeps.status} end`,
          fundingTxId: sql`case when ${sweeps.status} in ('done', 'skipped') then null else ${sweeps.fundingTxId} end`,
          sweepTxId: sql`case when ${sweeps.status} in ('done', 'skipped') then null else ${sweeps.sweepTxId} end`,
          defundingTxId: sql`case when ${sweeps.status} in ('done', 'skipped') then null else ${sweeps.defundingTxId} end`,
          attempts: sql`case when ${sweeps.status} in ('done', 'skipped') then 0 else ${sweeps.attempts} end`,
          skipReason: sql`case when ${sweeps.status} in ('done', 'skipped') then null else ${sweeps.skipReason} end`,
          updatedAt: sql`now()`,
        },
      })
      .returning()
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'payment.misdirected_recovered',
      target: { type: 'payment', id: payment.id },
      data: { chain: chain.name, asset: asset.symbol, sweepId: sweep?.id },
    })
    return sweep as typeof sweeps.$inferSelect
  })
}

/**
 * `recoverMisdirected` for the operator at the command line: the payment's own merchant is looked up, the action
 * is audited as the CLI's.
 *
 * @example
 * const { merchantId, sweep } = await recoverMisdirectedAsOperator({ db, chains }, { paymentId, chain: 'bsc', asset: 'USDT' })
 */
export async function recoverMisdirectedAsOperator(
  ctx: { db: Db; chains: ChainRegistry },
  input: RecoveryInput,
): Promise<{ merchantId: string; sweep: typeof sweeps.$inferSelect }> {
  const [payment] = await ctx.db
    .select({ merchantId: payments.merchantId })
    .from(payments)
    .where(eq(payments.id, input.paymentId))
  if (!payment) throw notFound('payment')
  const sweep = await recoverMisdirected(ctx, payment.merchantId, input, { cli: true })
  return { merchantId: payment.merchantId, sweep }
}
