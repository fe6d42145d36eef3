import {
  type AssetInfo,
  DriverError,
  isDriverError,
  type PayoutDriver,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { outboundTxs, withdrawals } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { crashPoint } from '../crash-points.ts'
import { isDeadlineError } from '../deadlines.ts'
import { failureText } from '../errors.ts'
import { postWithdrawalRelease } from '../ledger/postings.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { freshChangeAddress, lockCoins, spendableCoins } from './coins.ts'
import { commitNonce, ensureSenderNonce, peekNonce } from './nonces.ts'
import { roleWallet } from './wallet-roles.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawal-transitions.ts'

export type PayoutContext = { db: Db; xpubFor(accountPath: string): string }

/** Non-retryable build failures before a withdrawal is failed and its reserve released. */
const maxBuildAttempts = 3

/**
 * What the treasury can still pay in `asset`: its balance less what built but unconfirmed transactions will take
 * (UTXO chains: its coins nothing is spending yet).
 */
async function treasuryAvailable(
  tx: Tx,
  chain: LoadedChain,
  payouts: PayoutDriver,
  treasury: WalletAddress,
  asset: AssetInfo,
): Promise<bigint> {
  if (can(chain, 'coins'))
    return (await spendableCoins(tx, chain, 'treasury', 10_000)).reduce((sum, c) => sum + c.amount, 0n)
  const [pending] = await tx
    .select({ total: sql<string>`coalesce(sum(${outboundTxs.amount}), 0)` })
    .from(outboundTxs)
    .where(
      and(
        eq(outboundTxs.chain, chain.name),
        eq(outboundTxs.fromAddress, treasury.address),
        eq(outboundTxs.asset, asset.id),
        inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
      ),
    )
  return (await payouts.balance(treasury.address, asset)) - BigInt(pending?.total ?? '0')
}

/**
 * A group whose transaction could not be built stays QUEUED with the error; after `maxBuildAttempts`
 * non-retryable failures (the destination refuses the token, say) each of its withdrawals fails and is released.
 */
async function recordBuildFailure(
  tx: Tx,
  group: readonly WithdrawalRow[],
  err: Pick<DriverError, 'retryable' | 'message'>,
): Promise<void> {
  for (const w of group) {
    const attempts = w.buildAttempts + 1
    if (!err.retryable && attempts >= maxBuildAttempts) {
      const failed = await transitionWithdrawal(tx, w.id, ['QUEUED'], 'FAILED', {
        failureReason: `its transaction cannot be built: ${failureText(err)}`.slice(0, 500),
      })
      if (failed) await postWithdrawalRelease(tx, failed)
      continue
    }
    await tx
      .update(withdrawals)
      .set({ buildAttempts: attempts, lastError: failureText(err) })
      .where(eq(withdrawals.id, w.id))
  }
}

/** Which queued withdrawals go out now: per asset, the oldest first, unless a batch window is still open. */
function pickBatches(queued: WithdrawalRow[], chain: LoadedChain, now: number): WithdrawalRow[][] {
  const { mode, maxBatch, windowMs } = chain.settings.payouts
  const byAsset = new Map<string, WithdrawalRow[]>()
  for (const w of queued) byAsset.set(w.asset, [...(byAsset.get(w.asset) ?? []), w])
  const out: WithdrawalRow[][] = []
  for (const group of byAsset.values()) {
    const oldest = group[0] as WithdrawalRow
    const windowOpen =
      mode === 'batch' && group.length < maxBatch && oldest.createdAt.getTime() + windowMs > now
    if (!windowOpen) out.push(group.slice(0, maxBatch))
  }
  return out
}

/**
 * A batch cut into transactions: as the driver's `planOutputs` says where it has one (which outputs are cheaper
 * together, which must go alone), else in order into chunks of at most `maxOutputs`; a withdrawal whose fee comes
 * out of its amount goes alone (its fee is its own).
 */
async function outputGroups(
  batch: readonly WithdrawalRow[],
  maxOutputs: number,
  plan?: { payouts: PayoutDriver; from: WalletAddress; asset: AssetInfo },
): Promise<WithdrawalRow[][]> {
  const shared = batch.filter((w) => !w.feeFromAmount)
  const groups: WithdrawalRow[][] = []
  const planned =
    plan?.payouts.planOutputs && shared.length > 1 && maxOutputs > 1
      ? await plan.payouts
          .planOutputs({
            from: plan.from,
            asset: plan.asset,
            outputs: shared.map((w) => ({ to: w.toAddress, amount: w.amount })),
          })
          // a node that cannot be asked: each alone this time (a batch nobody simulated could sink the others)
          .catch((err) => {
            if (!isDriverError(err) && !isDeadlineError(err)) throw err
            return shared.map((_, i) => [i])
          })
      : undefined
  if (planned) {
    const seen = new Set<number>()
    for (const indexes of planned) {
      const group: WithdrawalRow[] = []
      for (const i of indexes) {
        if (seen.has(i) || i < 0 || i >= shared.length) continue
        seen.add(i)
        group.push(shared[i] as WithdrawalRow)
      }
      for (let i = 0; i < group.length; i += maxOutputs) groups.push(group.slice(i, i + maxOutputs))
    }
    // whatever the plan left out still goes, alone
    for (const [i, w] of shared.entries()) if (!seen.has(i)) groups.push([w])
  } else for (let i = 0; i < shared.length; i += maxOutputs) groups.push(shared.slice(i, i + maxOutputs))
  for (const w of batch) if (w.feeFromAmount) groups.push([w])
  return groups
}

/**
 * What a lone withdrawal whose fee comes out of its amount pays once the fee of its first build is taken off;
 * undefined when it pays the whole amount (a token: the fee is in another asset). A refund that cannot cover its
 * fee cannot be built: a permanent driver-style refusal, so it fails and its reserve goes back.
 */
function feeDeducted(
  group: readonly WithdrawalRow[],
  asset: AssetInfo,
  unsigned: UnsignedTx,
  minOutput: PayoutDriver['minOutput'],
): bigint | undefined {
  const w = group[0] as WithdrawalRow
  if (group.length !== 1 || !w.feeFromAmount || !asset.native) return undefined
  const left = w.amount - unsigned.maxFee
  if (left <= 0n || left < (minOutput?.(w.toAddress, asset) ?? 0n))
    throw new DriverError(
      'FEE_ABOVE_AMOUNT',
      `the network fee (${unsigned.maxFee} base units) leaves too little of ${w.amount} to send`,
      { retryable: false },
    )
  return left
}

/**
 * Turns queued withdrawals into outbound transactions from the treasury: per (chain, asset) up to `maxBatch`
 * at a time, `maxOutputs` outputs per transaction, nonces taken from the database in the same transaction that
 * stores the unsigned transactions and marks the withdrawals BATCHED. A crash anywhere leaves either all of that
 * or none of it.
 *
 * @example
 * const made = await batchWithdrawals(ctx, chain) // number of outbound transactions built
 */
export async function batchWithdrawals(
  ctx: PayoutContext,
  chain: LoadedChain,
  now = Date.now(),
): Promise<number> {
  const payouts = chain.driver.payouts
  if (!payouts) return 0
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  const built = await ctx.db.transaction(async (tx) => {
    const queued = await tx
      .select()
      .from(withdrawals)
      .where(and(eq(withdrawals.chain, chain.name), eq(withdrawals.status, 'QUEUED')))
      .orderBy(asc(withdrawals.createdAt), asc(withdrawals.id))
      .limit(chain.settings.payouts.maxBatch * 4)
      .for('update', { skipLocked: true })
    let built = 0
    // the treasury's nonce row stays locked until this transaction ends: it is the only sender meanwhile
    let nextNonce = await peekNonce(tx, chain, treasury.address)
    for (const batch of pickBatches(queued, chain, now)) {
      const asset = resolveAsset(chain, (batch[0] as WithdrawalRow).asset)
      // asked once per asset and pass, then spent down as transactions are built
      let available = await treasuryAvailable(tx, chain, payouts, treasury, asset)
      const groups = await outputGroups(batch, chain.driver.maxOutputs, { payouts, from: treasury, asset })
      for (const group of groups) {
        // the treasury may not hold it yet (the sweeps that fill it are on their way): wait, do not fail
        const total = group.reduce((sum, w) => sum + w.amount, 0n)
        if (available < total) {
          await tx
            .update(withdrawals)
            .set({ lastError: `waiting for the treasury to hold ${total} base units of ${asset.symbol}` })
            .where(
              inArray(
                withdrawals.id,
                group.map((w) => w.id),
              ),
            )
          continue
        }
        // the driver builds first; only a transaction that could be built is stored and takes a nonce
        const nonce = nextNonce
        let outputs = group.map((w) => ({ to: w.toAddress, amount: w.amount }))
        // UTXO chains: the treasury's coins pay, change goes to a fresh internal address of the treasury
        const spendsCoins = can(chain, 'coins')
        const change = spendsCoins ? await freshChangeAddress(ctx, tx, chain) : undefined
        const inputs = spendsCoins ? await spendableCoins(tx, chain, 'treasury') : undefined
        let unsigned: UnsignedTx
        try {
          unsigned = await payouts.build({ from: treasury, asset, outputs, nonce, inputs, change })
          const deducted = feeDeducted(group, asset, unsigned, payouts.minOutput)
          if (deducted !== undefined) {
            // the fee comes out of the amount: built again paying what is left (its own transaction, one output)
            outputs = [{ to: (group[0] as WithdrawalRow).toAddress, amount: deducted }]
            unsigned = await payouts.build({ from: treasury, asset, outputs, nonce, inputs, change })
          }
        } catch (err) {
          // a build past the call deadline is a passing failure of this group: the next groups still go
          if (isDeadlineError(err)) {
            await recordBuildFailure(tx, group, { retryable: true, message: err.message })
            continue
          }
          if (!isDriverError(err)) throw err
          await recordBuildFailure(tx, group, err)
          continue
        }
        if (nextNonce !== undefined) nextNonce++
        const id = await insertOutbound(tx, chain, {
          purpose: 'withdrawal',
          from: treasury,
          asset: asset.id,
          nonce,
          unsigned,
          request: { ...storedTransfer({ outputs }), ...(change ? { change } : {}) },
        })
        await lockCoins(tx, chain, unsigned.spends ?? [], id)
        for (const w of group)
          await transitionWithdrawal(tx, w.id, ['QUEUED'], 'BATCHED', {
            outboundTxId: id,
            ...(w.feeFromAmount && asset.native
              ? { amountSent: (outputs[0] as { amount: bigint }).amount }
              : {}),
          })
        built++
        available -= total
      }
    }
    await commitNonce(tx, chain, treasury.address, nextNonce)
    return built
  })
  if (built > 0) crashPoint('outbound:built')
  return built
}

/**
 * Stores what the treasury must send once before the driver can batch (`batchSetup`: on EVM the batch contract's
 * deployment and one token approval each) as ordinary outbound transactions of purpose `setup`, nonces taken as
 * for withdrawals; the payout pass signs, sends and tracks them, and their fees are booked from the treasury.
 * Nothing is stored while earlier setup transactions of the chain are still open.
 *
 * @example
 * const stored = await storeBatchSetup(ctx, chain) // [{ id: 'otx_…', what: 'deploy BatchPayouts at 0x…' }]
 */
export async function storeBatchSetup(
  ctx: PayoutContext,
  chain: LoadedChain,
): Promise<Array<{ id: string; what: string }>> {
  const payouts = chain.driver.payouts
  if (!payouts?.batchSetup)
    throw new DriverError('NOT_SUPPORTED', `${chain.name} has no batch payouts`, { retryable: false })
  const setup = payouts.batchSetup
  const treasury = roleWallet(ctx, chain, 'treasury')
  await ensureSenderNonce(ctx, chain, treasury.address)
  return ctx.db.transaction(async (tx) => {
    const open = await tx
      .select({ id: outboundTxs.id })
      .from(outboundTxs)
      .where(
        and(
          eq(outboundTxs.chain, chain.name),
          eq(outboundTxs.purpose, 'setup'),
          inArray(outboundTxs.status, ['built', 'signed', 'broadcast']),
        ),
      )
    if (open.length > 0) return []
    const nonce = await peekNonce(tx, chain, treasury.address)
    const txs = await setup({ from: treasury, nonce })
    const stored: Array<{ id: string; what: string }> = []
    for (const [i, t] of txs.entries()) {
      const id = await insertOutbound(tx, chain, {
        purpose: 'setup',
        from: treasury,
        asset: t.asset.id,
        nonce: nonce === undefined ? undefined : nonce + BigInt(i),
        unsigned: t.unsigned,
        request: { kind: 'setup', what: t.what },
      })
      stored.push({ id, what: t.what })
    }
    await commitNonce(
      tx,
      chain,
      treasury.address,
      nonce === undefined ? undefined : nonce + BigInt(txs.length),
    )
    return stored
  })
}
