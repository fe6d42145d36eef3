import {
  type AssetInfo,
  type BuildRequest,
  isDriverError,
  type PayoutDriver,
  type SweepNeed,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import { and, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import {
  customerAddresses,
  deposits,
  kytChecks,
  type OutboundRow,
  outboundTxs,
  payments,
  type StoredRequest,
  sweeps,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { can, resolveAsset } from '../chains.ts'
import { depositScreening } from '../compliance/queries.ts'
import { crashPoint } from '../crash-points.ts'
import { customerAddressScreening } from '../deposits/sweep-state.ts'
import { driverLacks, errorCode } from '../errors.ts'
import { newId } from '../ids.ts'
import { transactionUnlessRolledBack } from '../rollback.ts'
import { insertOutbound, storedTransfer } from './built-tx.ts'
import { ensureSenderNonce, takeNonce } from './nonces.ts'
import { needFromJson, needToJson } from './sweep-need.ts'
import { roleWallet } from './wallet-roles.ts'

export type SweepRow = typeof sweeps.$inferSelect
export type SweepContext = { db: Db; xpubFor(accountPath: string): string }
export type SweepProgress = {
  found: number
  funded: number
  sent: number
  done: number
  skipped: number
  failed: number
  /** The sweeps whose step failed this pass, with their error's code (for the pass record and logs). */
  errors: Array<{ id: string; code: string }>
}

/**
 * Opens a sweep for every COMPLETED payment of the chain that has none yet and no deposit that screening has not
 * allowed (account chains: one deposit address per payment, so one sweep per payment).
 */
export async function discoverSweeps(ctx: SweepContext, chain: LoadedChain): Promise<number> {
  // account chains: one deposit address per payment, swept on its own (UTXO chains consolidate coins instead)
  if (!chain.settings.sweeps.enabled || !chain.driver.payouts || can(chain, 'coins')) return 0
  const due = await ctx.db
    .select({
      id: payments.id,
      asset: payments.asset,
      address: payments.address,
      index: payments.derivationIndex,
    })
    .from(payments)
    // its own sweep: a recovery of a wrong-network deposit on another chain does not count
    .leftJoin(sweeps, and(eq(sweeps.paymentId, payments.id), eq(sweeps.chain, payments.chain)))
    .where(
      and(
        eq(payments.chain, chain.name),
        eq(payments.status, 'COMPLETED'),
        isNull(sweeps.id),
        // a sweep takes the address's whole balance: not while a deposit there is undecided or held, and never
        // with rejected funds there (they stay for a refund; what was credited stays with them)
        sql`not exists (select 1 from ${kytChecks} where ${kytChecks.paymentId} = ${payments.id}
              and ${kytChecks.state} in ('pending', 'held', 'rejected'))`,
      ),
    )
    .limit(500)
  if (due.length === 0) return discoverCustomerSweeps(ctx, chain)
  const inserted = await ctx.db
    .insert(sweeps)
    .values(
      due.map((p) => ({
        id: newId('swp'),
        chain: chain.name,
        paymentId: p.id,
        asset: p.asset,
        fromAddress: p.address,
        fromPath: `${chain.driver.accountPath}/0/${p.index}`,
        status: 'pending' as const,
      })),
    )
    .onConflictDoNothing()
    .returning({ id: sweeps.id })
  return inserted.length + (await discoverCustomerSweeps(ctx, chain))
}

/**
 * Opens a sweep for each customer address and asset with confirmed deposits not yet swept, once no deposit of
 * that asset there is still unconfirmed, held or rejected (a sweep takes the whole balance) and no sweep of it is
 * open; the deposits it covers point at it. A permanent address is swept again after its next deposits.
 */
async function discoverCustomerSweeps(ctx: SweepContext, chain: LoadedChain): Promise<number> {
  const due = await ctx.db
    .selectDistinct({
      addressId: deposits.customerAddressId,
      asset: deposits.asset,
      address: customerAddresses.address,
      index: customerAddresses.derivationIndex,
    })
    .from(deposits)
    .innerJoin(customerAddresses, eq(customerAddresses.id, deposits.customerAddressId))
    .where(
      and(
        eq(deposits.chain, chain.name),
        eq(deposits.status, 'CONFIRMED'),
        isNull(deposits.sweepId),
        sql`not exists (select 1 from ${deposits} d2 where d2.customer_address_id = ${deposits.customerAddressId}
              and d2.asset = ${deposits.asset} and d2.status in ('SEEN', 'HELD', 'REJECTED'))`,
        sql`not exists (select 1 from ${sweeps} where ${sweeps.customerAddressId} = ${deposits.customerAddressId}
              and ${sweeps.asset} = ${deposits.asset} and ${sweeps.status} not in ('done', 'skipped'))`,
      ),
    )
    .limit(500)
  let opened = 0
  for (const d of due)
    opened += await ctx.db.transaction(async (tx) => {
      const [sweep] = await tx
        .insert(sweeps)
        .values({
          id: newId('swp'),
          chain: chain.name,
          customerAddressId: d.addressId,
          asset: d.asset,
          fromAddress: d.address,
          fromPath: `${chain.driver.accountPath}/0/${d.index}`,
          status: 'pending' as const,
        })
        .onConflictDoNothing()
        .returning({ id: sweeps.id })
      if (!sweep) return 0
      await tx
        .update(deposits)
        .set({ sweepId: sweep.id })
        .where(
          and(
            eq(deposits.customerAddressId, d.addressId),
            eq(deposits.asset, d.asset),
            eq(deposits.status, 'CONFIRMED'),
            isNull(deposits.sweepId),
          ),
        )
      return 1
    })
  return opened
}

/** Whether what a sweep would take is allowed to move (see `depositScreening` and `customerAddressScreening`). */
const sweepScreening = (db: Db, sweep: SweepRow) =>
  sweep.customerAddressId
    ? customerAddressScreening(db, sweep.customerAddressId, sweep.asset)
    : depositScreening(db, sweep.paymentId as string)

/** Failed fundings or transfers before a sweep is given up (and left for an operator). */
const maxAttempts = 5

/** What a `send` build may answer instead of a transaction: the reason not to send one. */
type Decline = { decline: string }

/**
 * Builds one outbound transaction from `from` and records it, with the sweep's next state, atomically. The build
 * may decline (the fee is too large a share, nothing to take back); then nothing is stored, the nonce included,
 * and the reason comes back.
 */
async function send(
  ctx: SweepContext,
  chain: LoadedChain,
  sweep: SweepRow,
  a: {
    purpose: OutboundRow['purpose']
    from: WalletAddress
    asset: AssetInfo
    request: StoredRequest
    build: (nonce: bigint | undefined) => Promise<UnsignedTx | Decline>
    /** Records the sweep's next step; false (it moved on meanwhile) undoes the whole transaction. */
    next: (tx: Tx, outboundId: string, unsigned: UnsignedTx) => Promise<boolean>
  },
): Promise<'sent' | 'moved on' | Decline> {
  await ensureSenderNonce(ctx, chain, a.from.address)
  let declined: Decline | undefined
  // declined, or another pass moved this sweep on first: `rollback` undoes what this one built, unsent
  const built = await transactionUnlessRolledBack(ctx.db, async (tx, rollback) => {
    // the sweep row is claimed first: two passes cannot both build its next transaction
    if (!(await setSweep(tx, sweep, {}))) return false
    const nonce = await takeNonce(tx, chain, a.from.address)
    const unsigned = await a.build(nonce)
    if ('decline' in unsigned) {
      declined = unsigned
      return rollback()
    }
    const id = await insertOutbound(tx, chain, {
      purpose: a.purpose,
      from: a.from,
      asset: a.asset.id,
      nonce,
      unsigned,
      request: a.request,
    })
    if (!(await a.next(tx, id, unsigned))) return rollback()
    return true
  })
  if (built) crashPoint('outbound:built')
  return built ? 'sent' : (declined ?? 'moved on')
}

/**
 * Moves a sweep on, only if it is still as `seen` was read (status and step ids): a pass working from an older
 * read changes nothing. Returns whether it moved.
 */
async function setSweep(tx: Db | Tx, seen: SweepRow, changes: Partial<SweepRow>): Promise<boolean> {
  const moved = await tx
    .update(sweeps)
    .set({ ...changes, updatedAt: new Date() })
    .where(
      and(
        eq(sweeps.id, seen.id),
        eq(sweeps.status, seen.status),
        seen.fundingTxId === null ? isNull(sweeps.fundingTxId) : eq(sweeps.fundingTxId, seen.fundingTxId),
        seen.sweepTxId === null ? isNull(sweeps.sweepTxId) : eq(sweeps.sweepTxId, seen.sweepTxId),
      ),
    )
    .returning({ id: sweeps.id })
  return moved.length > 0
}

/** Everything the deposit address holds of the sweep's asset, to the treasury. */
async function sweepRequest(ctx: SweepContext, chain: LoadedChain, payouts: PayoutDriver, sweep: SweepRow) {
  const asset = resolveAsset(chain, sweep.asset)
  const held = await payouts.balance(sweep.fromAddress, asset)
  const request: BuildRequest = {
    from: { address: sweep.fromAddress, path: sweep.fromPath },
    asset,
    outputs: [{ to: roleWallet(ctx, chain, 'treasury').address, amount: held }],
    sweepAll: true,
  }
  return { request, held }
}

/** The first step: skip dust, fund the gas a token transfer needs, or send straight away. */
async function start(
  ctx: SweepContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  sweep: SweepRow,
): Promise<string> {
  const { request, held } = await sweepRequest(ctx, chain, payouts, sweep)
  const { asset } = request
  if (held === 0n) {
    await setSweep(ctx.db, sweep, { status: 'skipped', skipReason: 'nothing to sweep' })
    return 'skipped'
  }
  if (asset.native) {
    // the fee comes out of the deposit: skip when it would eat more than the configured share of it
    const share = BigInt(chain.settings.sweeps.maxFeeShareBps)
    const sent = await sendSweep(ctx, chain, payouts, sweep, request, (u) =>
      u.maxFee * 10_000n > held * share ? `the fee ${u.maxFee} is too large a share of ${held}` : undefined,
    )
    if (typeof sent === 'object') {
      await setSweep(ctx.db, sweep, { status: 'skipped', skipReason: sent.decline })
      return 'skipped'
    }
    return 'sent'
  }
  const minimum = chain.settings.sweeps.minAmount.get(asset.id)
  if (minimum !== undefined && held < minimum) {
    await setSweep(ctx.db, sweep, {
      status: 'skipped',
      skipReason: `${held} is below the sweep minimum ${minimum}`,
    })
    return 'skipped'
  }
  return fundOrSend(ctx, chain, payouts, sweep, request, { status: 'funding' })
}

/**
 * A token sweep's next transaction: the transfer itself when the deposit address can pay for it, otherwise the
 * gas tank's top-up of what it lacks (first, or again when fees rose meanwhile).
 */
async function fundOrSend(
  ctx: SweepContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  sweep: SweepRow,
  request: BuildRequest,
  onFunding: Partial<SweepRow>,
): Promise<'sent' | 'funded'> {
  const output = request.outputs[0] as { to: string; amount: bigint }
  const need = await payouts.sweepNeed?.({
    address: request.from.address,
    asset: request.asset,
    amount: output.amount,
    to: output.to,
  })
  if (!need) {
    await sendSweep(ctx, chain, payouts, sweep, request)
    return 'sent'
  }
  await sendFunding(ctx, chain, payouts, sweep, request.from.address, need, onFunding)
  return 'funded'
}

/** The gas tank's transaction that gives a deposit address what its token transfer needs; the sweep points at it. */
async function sendFunding(
  ctx: SweepContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  sweep: SweepRow,
  to: string,
  need: SweepNeed,
  changes: Partial<SweepRow>,
): Promise<void> {
  const buildFunding = payouts.buildFunding
  if (!buildFunding) throw driverLacks(chain.name, 'payouts.buildFunding', 'fund a token sweep')
  const gas = roleWallet(ctx, chain, 'gas')
  await send(ctx, chain, sweep, {
    purpose: 'gas',
    from: gas,
    asset: chain.driver.nativeAsset,
    request: { kind: 'funding', to, need: needToJson(need) },
    build: (nonce) => buildFunding({ from: gas, to, need, nonce }),
    next: (tx, id, unsigned) =>
      setSweep(tx, sweep, {
        ...changes,
        fundingTxId: id,
        attempts: sweep.attempts + (changes.status === 'funding' ? 1 : 0),
        // what the gas tank actually moves (a resource delegation moves no coin)
        need: { ...needToJson(need), funded: String(unsigned.amounts?.[0] ?? need.native) },
      }),
  })
}

function sendSweep(
  ctx: SweepContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  sweep: SweepRow,
  request: BuildRequest,
  tooCostly: (unsigned: UnsignedTx) => string | undefined = () => undefined,
) {
  return send(ctx, chain, sweep, {
    purpose: 'sweep',
    from: request.from,
    asset: request.asset,
    request: storedTransfer(request),
    build: async (nonce) => {
      const unsigned = await payouts.build({ ...request, nonce }).catch((err) => {
        // the whole balance does not cover the fee: dust, like a fee too large a share of it
        if (isDriverError(err) && err.code === 'BELOW_FEE')
          return { decline: `the fee is too large a share of ${request.outputs[0]?.amount}` }
        throw err
      })
      if ('decline' in unsigned) return unsigned
      const reason = tooCostly(unsigned)
      return reason ? { decline: reason } : unsigned
    },
    next: (tx, id, unsigned) =>
      setSweep(tx, sweep, { status: 'sweeping', sweepTxId: id, amount: unsigned.amounts?.[0] ?? null }),
  })
}

async function outbound(db: Db, id: string | null): Promise<OutboundRow | undefined> {
  if (!id) return undefined
  const [row] = await db.select().from(outboundTxs).where(eq(outboundTxs.id, id))
  return row
}

/** A sweep pass that did nothing: the start of every pass, and what a failed one reports. */
export const noSweepProgress = (): SweepProgress => ({
  found: 0,
  funded: 0,
  sent: 0,
  done: 0,
  skipped: 0,
  failed: 0,
  errors: [],
})

/**
 * Moves each open sweep of the chain one step: start it (skip dust, fund gas, or send), send the token once its
 * funding is confirmed, book what reached the treasury once the sweep is confirmed, and take back a reclaimable
 * funding. Every transaction goes through the outbound pipeline (persisted before it is signed and sent); the
 * ledger moves in the transaction that records each confirmed step.
 *
 * @example
 * const progress = await advanceSweeps(ctx, chain)
 */
export async function advanceSweeps(ctx: SweepContext, chain: LoadedChain): Promise<SweepProgress> {
  const progress = noSweepProgress()
  const payouts = chain.driver.payouts
  if (!payouts || !chain.settings.sweeps.enabled) return progress
  progress.found = await discoverSweeps(ctx, chain)
  const open = await ctx.db
    .select()
    .from(sweeps)
    .where(
      and(
        eq(sweeps.chain, chain.name),
        inArray(sweeps.status, ['pending', 'funding', 'sweeping', 'defunding']),
      ),
    )
  for (const sweep of open) {
    // one sweep's trouble (a token that reverts, a fee spike) must not hold up the others
    const outcome = await step(ctx, chain, payouts, sweep).catch((err) => {
      progress.errors.push({ id: sweep.id, code: errorCode(err) ?? 'UNKNOWN' })
      return 'failed' as const
    })
    if (outcome === 'failed') progress.failed++
    else if (outcome === 'funded') progress.funded++
    else if (outcome === 'sent') progress.sent++
    else if (outcome === 'done') progress.done++
    else if (outcome === 'skipped') progress.skipped++
  }
  return progress
}

async function step(
  ctx: SweepContext,
  chain: LoadedChain,
  payouts: PayoutDriver,
  sweep: SweepRow,
): Promise<string> {
  if (sweep.status === 'pending') {
    if (sweep.attempts >= maxAttempts) {
      // failing again and again (a paused token, a transfer that reverts): stop spending the gas tank on it
      await setSweep(ctx.db, sweep, {
        status: 'skipped',
        skipReason: `gave up after ${sweep.attempts} attempts`,
      })
      return 'skipped'
    }
    const screening = await sweepScreening(ctx.db, sweep)
    // a deposit that came after the sweep was opened and is not (yet) allowed: the whole balance must stay
    if (screening === 'waiting') return 'waiting'
    if (screening === 'rejected') {
      await setSweep(ctx.db, sweep, {
        status: 'skipped',
        skipReason: 'a rejected deposit is at the address (kept for a refund or the operator)',
      })
      return 'skipped'
    }
    return start(ctx, chain, payouts, sweep)
  }

  if (sweep.status === 'funding') {
    const funding = await outbound(ctx.db, sweep.fundingTxId)
    if (funding?.status === 'failed') {
      await setSweep(ctx.db, sweep, { status: 'pending', fundingTxId: null, attempts: sweep.attempts + 1 })
      return 'retry'
    }
    // confirmed: settlement booked the coin it moved and its fee; a fee spike may call for another top-up
    if (funding?.status !== 'confirmed') return 'waiting'
    if ((await sweepScreening(ctx.db, sweep)) !== 'allowed') return 'waiting'
    // fees may have risen since the top-up: then top up the difference rather than send what cannot be mined
    return fundOrSend(
      ctx,
      chain,
      payouts,
      sweep,
      (await sweepRequest(ctx, chain, payouts, sweep)).request,
      {},
    )
  }

  if (sweep.status === 'sweeping') {
    const sent = await outbound(ctx.db, sweep.sweepTxId)
    if (sent?.status === 'failed') {
      // its fee was booked at settlement (paid from the deposit address); try again from the start
      await setSweep(ctx.db, sweep, { status: 'pending', sweepTxId: null, attempts: sweep.attempts + 1 })
      return 'retry'
    }
    if (sent?.status !== 'confirmed') return 'waiting'
    const gas = roleWallet(ctx, chain, 'gas')
    const buildDefunding = payouts.buildDefunding
    // a funding that can be taken back (a Tron delegation) is; otherwise settlement already booked everything
    const defunded =
      sweep.fundingTxId && buildDefunding
        ? await send(ctx, chain, sweep, {
            purpose: 'defund',
            from: gas,
            asset: chain.driver.nativeAsset,
            request: { kind: 'defunding', to: sweep.fromAddress, need: sweep.need ?? {} },
            build: async (nonce) =>
              (await buildDefunding({
                from: gas,
                to: sweep.fromAddress,
                need: needFromJson(sweep.need),
                nonce,
              })) ?? {
                decline: 'nothing to take back',
              },
            next: (tx, id) => setSweep(tx, sweep, { status: 'defunding', defundingTxId: id }),
          })
        : { decline: 'nothing to take back' }
    if (typeof defunded === 'object') {
      await setSweep(ctx.db, sweep, { status: 'done' })
      return 'done'
    }
    return 'sent'
  }

  // defunding
  const defunding = await outbound(ctx.db, sweep.defundingTxId)
  if (defunding?.status !== 'confirmed' && defunding?.status !== 'failed') return 'waiting'
  await setSweep(ctx.db, sweep, { status: 'done' })
  return 'done'
}
