import { createHash } from 'node:crypto'
import { isDriverError, type MultisigWallet, type TxStatus } from '@tollgate/sdk'
import { and, asc, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import {
  type MultisigProposalRow,
  type MultisigStatus,
  multisigEvents,
  multisigProposals,
  type OutboundRow,
  outboundTxs,
} from '../../db/schema/index.ts'
import type { ChainRegistry, LoadedChain } from '../../plugins/registry.ts'
import { type AuditActor, actorName, recordAudit } from '../access/audit.ts'
import { checkIdempotencyKey } from '../access/idempotency.ts'
import { can, resolveAsset, resolveChain } from '../chains.ts'
import { failureText, invalidInput, TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { postFee, postInternalMove, postOperatorWithdrawal } from '../ledger/postings.ts'
import { parseAmount } from '../money.ts'
import { pageSize, toPage } from '../pages.ts'
import { insertOutbound } from './built-tx.ts'
import { lockCoins, spendableCoins, unlockCoins } from './coins.ts'
import { commitNonce, ensureSenderNonce, peekNonce } from './nonces.ts'
import { roleWallet } from './wallet-roles.ts'

export type MultisigContext = { db: Db; chains: ChainRegistry; xpubFor(accountPath: string): string }

/** A chain's multisig cold wallet and its driver, or the typed refusal. */
function multisigOf(chains: ChainRegistry, name: string) {
  const chain = resolveChain(chains, name)
  const wallet = chain.settings.cold?.multisig
  const driver = chain.driver.multisig
  if (!wallet || !driver)
    throw invalidInput('chain', `${chain.name} has no multisig cold wallet (settings cold.multisig)`)
  return { chain, wallet, driver }
}

async function recordStep(
  tx: Tx,
  p: MultisigProposalRow,
  type: string,
  changes: Partial<MultisigProposalRow>,
  data: Record<string, unknown> = {},
): Promise<MultisigProposalRow> {
  const seq = p.eventSeq + 1
  const [row] = await tx
    .update(multisigProposals)
    .set({ ...changes, eventSeq: seq, updatedAt: new Date() })
    .where(eq(multisigProposals.id, p.id))
    .returning()
  const next = row as MultisigProposalRow
  await tx
    .insert(multisigEvents)
    .values({ proposalId: p.id, merchantId: p.merchantId, seq, type, status: next.status, data })
  return next
}

export type ProposeTransferInput = {
  chain: string
  asset: string
  to: string
  amount: string
  idempotencyKey: string
}

/**
 * Drafts a transfer out of a chain's multisig cold wallet (a Safe, a P2WSH M-of-N address) for its owners to sign:
 * to the treasury (funds back into the hot wallet) or to any address (the operator's withdrawal). UTXO chains
 * spend the wallet's coins the gateway tracks, locked to the draft. Admin only; audited; the same key and
 * parameters answer the same draft.
 *
 * @example
 * const { proposal } = await proposeTransfer(ctx, merchantId, { chain: 'ethereum', asset: 'ETH', to: treasury, amount: '5', idempotencyKey: 'cold-1' }, { keyId })
 */
export async function proposeTransfer(
  ctx: MultisigContext,
  merchantId: string,
  input: ProposeTransferInput,
  actor: AuditActor,
): Promise<{ proposal: MultisigProposalRow; replayed: boolean }> {
  const { chain, wallet, driver } = multisigOf(ctx.chains, input.chain)
  const asset = resolveAsset(chain, input.asset)
  const amount = parseAmount(input.amount, asset.decimals)
  if (typeof input.to !== 'string' || input.to.length === 0 || input.to.length > 200)
    throw new TollgateError('INVALID_ADDRESS', 'to must be an address of the chain', 'to')
  const checked = chain.driver.validateAddress(input.to)
  if (!checked.ok)
    throw new TollgateError('INVALID_ADDRESS', `not a valid ${chain.name} address: ${checked.reason}`, 'to')
  const to = checked.normalized
  if (chain.driver.addressKey(to) === chain.driver.addressKey(wallet.address))
    throw new TollgateError('INVALID_ADDRESS', 'the multisig wallet cannot pay itself', 'to')
  const key = checkIdempotencyKey(input.idempotencyKey)
  const requestHash = createHash('sha256')
    .update(JSON.stringify([chain.name, asset.id, to, amount.toString()]))
    .digest('hex')
  const replayOf = async (db: Db | Tx) => {
    const [existing] = await db
      .select()
      .from(multisigProposals)
      .where(and(eq(multisigProposals.merchantId, merchantId), eq(multisigProposals.idempotencyKey, key)))
    if (!existing) return undefined
    if (existing.requestHash !== requestHash)
      throw new TollgateError(
        'IDEMPOTENCY_KEY_REUSED',
        'this idempotencyKey was used with different parameters',
        'idempotencyKey',
      )
    return { proposal: existing, replayed: true }
  }
  const earlier = await replayOf(ctx.db)
  if (earlier) return earlier
  const treasury = chain.driver.payouts ? roleWallet(ctx, chain, 'treasury').address : undefined
  const destination =
    treasury && chain.driver.addressKey(treasury) === chain.driver.addressKey(to) ? 'treasury' : 'external'
  const inputs = can(chain, 'coins') ? await spendableCoins(ctx.db, chain, 'cold') : undefined
  const draft = await driver
    .propose({ wallet, to, asset, amount, ...(inputs ? { inputs } : {}) })
    .catch((err) => {
      // a wallet short of funds, a node that cannot be asked: the draft is refused as the driver says
      if (isDriverError(err))
        throw new TollgateError(
          'INVALID_STATE',
          `the transfer cannot be drafted: ${failureText(err)}`,
          'amount',
        )
      throw err
    })
  const id = newId('msp')
  return ctx.db
    .transaction(async (tx) => {
      const replay = await replayOf(tx)
      if (replay) return replay
      const [row] = await tx
        .insert(multisigProposals)
        .values({
          id,
          merchantId,
          chain: chain.name,
          asset: asset.id,
          wallet: wallet.address,
          toAddress: to,
          amount,
          destination,
          payload: draft.payload,
          toSign: draft.toSign,
          threshold: wallet.threshold,
          status: 'SIGNING',
          spends: draft.spends ? [...draft.spends] : null,
          idempotencyKey: key,
          requestHash,
          proposedBy: actorName(actor),
        })
        .returning()
      const proposal = row as MultisigProposalRow
      // the coins it spends are the draft's until it is executed or canceled
      await lockCoins(tx, chain, draft.spends ?? [], proposal.id)
      await tx.insert(multisigEvents).values({
        proposalId: id,
        merchantId,
        seq: 1,
        type: 'multisig.proposed',
        status: 'SIGNING',
        data: { toSign: draft.toSign },
      })
      await recordAudit(tx, {
        merchantId,
        actor,
        action: 'multisig.proposed',
        target: { type: 'multisig_proposal', id },
        data: { chain: chain.name, asset: asset.id, to, amount: amount.toString() },
      })
      return { proposal, replayed: false }
    })
    .catch(async (err) => {
      if (!isUniqueViolation(err, 'multisig_proposals_idempotency_uq')) throw err
      const replay = await replayOf(ctx.db)
      if (!replay) throw err
      return replay
    })
}

async function lockProposal(tx: Tx, merchantId: string, id: string): Promise<MultisigProposalRow> {
  if (typeof id !== 'string' || id.length > 100)
    throw new TollgateError('NOT_FOUND', 'proposal not found', 'id')
  const [row] = await tx
    .select()
    .from(multisigProposals)
    .where(and(eq(multisigProposals.id, id), eq(multisigProposals.merchantId, merchantId)))
    .for('update')
  if (!row) throw new TollgateError('NOT_FOUND', 'proposal not found', 'id')
  return row
}

/** The wallet a proposal was drafted for, as configured now (its owners may have changed: then it is refused). */
function walletFor(
  chains: ChainRegistry,
  p: MultisigProposalRow,
): { wallet: MultisigWallet; chain: LoadedChain } {
  const { chain, wallet } = multisigOf(chains, p.chain)
  if (wallet.address !== p.wallet)
    throw new TollgateError(
      'INVALID_STATE',
      'the chain’s multisig wallet changed since this was proposed',
      'id',
    )
  return { wallet, chain }
}

/**
 * Adds one owner's signature to a proposal (an EIP-712 signature of its digest on EVM, a PSBT with partial
 * signatures on Bitcoin). A signature that is not an owner's over this draft is `INVALID_SIGNATURE`, nothing
 * written; an owner who signed already adds nothing. Once `threshold` owners signed it is READY and the signer's
 * next payout pass executes it. Audited.
 *
 * @example
 * const proposal = await addMultisigSignature(ctx, merchantId, 'msp_…', '0x…', { keyId })
 */
export async function addMultisigSignature(
  ctx: MultisigContext,
  merchantId: string,
  id: string,
  signature: unknown,
  actor: AuditActor,
): Promise<MultisigProposalRow> {
  if (typeof signature !== 'string' || signature.length === 0 || signature.length > 200_000)
    throw invalidInput('signature', 'signature is a hex signature or a base64 PSBT')
  return ctx.db.transaction(async (tx) => {
    const p = await lockProposal(tx, merchantId, id)
    if (p.status !== 'SIGNING')
      throw new TollgateError('INVALID_STATE', `a ${p.status} proposal takes no more signatures`, 'id')
    const { wallet, chain } = walletFor(ctx.chains, p)
    let added: { payload: Record<string, unknown>; signers: string[] }
    try {
      added = (chain.driver.multisig as NonNullable<LoadedChain['driver']['multisig']>).addSignature({
        wallet,
        payload: p.payload,
        signature,
      })
    } catch (err) {
      if (isDriverError(err))
        throw new TollgateError(
          'INVALID_SIGNATURE',
          `not a valid owner’s signature of this proposal: ${failureText(err)}`,
          'signature',
        )
      throw err
    }
    const fresh = added.signers.filter((s) => !p.signers.includes(s))
    if (fresh.length === 0) return p
    const ready = added.signers.length >= p.threshold
    const row = await recordStep(
      tx,
      p,
      'multisig.signed',
      { payload: added.payload, signers: added.signers, status: ready ? 'READY' : 'SIGNING' },
      { signers: added.signers, added: fresh, missing: Math.max(0, p.threshold - added.signers.length) },
    )
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'multisig.signed',
      target: { type: 'multisig_proposal', id: p.id },
      data: { owners: fresh, signers: added.signers.length, threshold: p.threshold },
    })
    return row
  })
}

/**
 * Cancels a proposal not executed yet (SIGNING or READY); its coins are free again. Audited.
 *
 * @example
 * await cancelMultisigProposal(ctx, merchantId, 'msp_…', { keyId })
 */
export async function cancelMultisigProposal(
  ctx: { db: Db },
  merchantId: string,
  id: string,
  actor: AuditActor,
): Promise<MultisigProposalRow> {
  return ctx.db.transaction(async (tx) => {
    const p = await lockProposal(tx, merchantId, id)
    if (p.status !== 'SIGNING' && p.status !== 'READY')
      throw new TollgateError('INVALID_STATE', `a ${p.status} proposal can no longer be canceled`, 'id')
    await freeCoins(tx, p.id)
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'multisig.canceled',
      target: { type: 'multisig_proposal', id: p.id },
    })
    return recordStep(tx, p, 'multisig.canceled', { status: 'CANCELED' })
  })
}

const freeCoins = (tx: Tx, lockedBy: string) => unlockCoins(tx, [lockedBy])

/**
 * The signer's step for a chain: every READY proposal becomes an outbound transaction, persisted before it is
 * sent. A draft the owners completed (Bitcoin) is stored signed, as it will be broadcast; one the gateway must send
 * (a Safe's `execTransaction`) is built from the gas tank with the next nonce and goes through signing like any
 * payout. A draft the driver cannot complete fails with the reason.
 *
 * @example
 * const executed = await executeReadyProposals(ctx, chain)
 */
export async function executeReadyProposals(ctx: MultisigContext, chain: LoadedChain): Promise<number> {
  const driver = chain.driver.multisig
  const payouts = chain.driver.payouts
  if (!driver || !payouts || !chain.settings.cold?.multisig) return 0
  const ready = await ctx.db
    .select({ id: multisigProposals.id, wallet: multisigProposals.wallet })
    .from(multisigProposals)
    .where(and(eq(multisigProposals.chain, chain.name), eq(multisigProposals.status, 'READY')))
    .orderBy(asc(multisigProposals.createdAt))
    .limit(20)
  // one execution at a time per wallet: drafts of an account wallet (a Safe) take its nonce when drafted, so two
  // sent together would both be mined and the second revert, its fee spent; the next waits for the first to settle
  const busy = new Set(
    (
      await ctx.db
        .selectDistinct({ wallet: multisigProposals.wallet })
        .from(multisigProposals)
        .where(and(eq(multisigProposals.chain, chain.name), eq(multisigProposals.status, 'EXECUTING')))
    ).map((r) => r.wallet),
  )
  let executed = 0
  for (const { id, wallet: address } of ready) {
    if (busy.has(address)) continue
    busy.add(address)
    const [row] = await ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, id))
    if (!row) continue
    const { wallet } = walletFor(ctx.chains, row)
    let execution: Awaited<ReturnType<typeof driver.finalize>>
    try {
      execution = await driver.finalize({ wallet, payload: row.payload })
    } catch (err) {
      if (!isDriverError(err) || err.retryable) throw err
      await ctx.db.transaction(async (tx) => {
        const p = await lockProposal(tx, row.merchantId, row.id)
        if (p.status !== 'READY') return
        await freeCoins(tx, p.id)
        await recordStep(
          tx,
          p,
          'multisig.failed',
          { status: 'FAILED', failureReason: failureText(err) },
          { reason: failureText(err) },
        )
      })
      continue
    }
    const gas = roleWallet(ctx, chain, 'gas')
    if ('call' in execution) await ensureSenderNonce(ctx, chain, gas.address)
    const native = chain.driver.nativeAsset
    await ctx.db.transaction(async (tx) => {
      const p = await lockProposal(tx, row.merchantId, row.id)
      if (p.status !== 'READY') return
      let outboundId: string
      if ('signed' in execution) {
        outboundId = newId('otx')
        await tx.insert(outboundTxs).values({
          id: outboundId,
          chain: chain.name,
          purpose: 'multisig',
          fromAddress: wallet.address,
          fromPath: '',
          asset: p.asset,
          nonce: null,
          status: 'signed',
          unsigned: {},
          request: null,
          amount: p.amount,
          amounts: [p.amount.toString()],
          spends: p.spends,
          maxFee: 0n,
          raw: execution.signed.raw,
          hash: execution.signed.hash,
        })
        await lockCoins(tx, chain, p.spends ?? [], outboundId, p.id)
      } else {
        // the gas tank's nonce is taken in this transaction, with the row that uses it
        const nonce = await peekNonce(tx, chain, gas.address)
        const built = await payouts.build({
          from: gas,
          asset: native,
          outputs: [],
          call: execution.call,
          nonce,
        })
        outboundId = await insertOutbound(tx, chain, {
          purpose: 'multisig',
          from: gas,
          asset: native.id,
          nonce,
          unsigned: { ...built, amounts: [0n] },
          request: { kind: 'transfer', to: execution.call.to },
        })
        if (nonce !== undefined) await commitNonce(tx, chain, gas.address, nonce + 1n)
      }
      await recordStep(tx, p, 'multisig.executed', { status: 'EXECUTING', outboundTxId: outboundId })
      await recordAudit(tx, {
        merchantId: p.merchantId,
        actor: { system: 'signer' },
        action: 'multisig.executed',
        target: { type: 'multisig_proposal', id: p.id },
        data: { signers: p.signers, threshold: p.threshold, outboundTxId: outboundId },
      })
      executed++
    })
  }
  return executed
}

/**
 * Books a proposal's transaction once the chain decided it, in the transaction that settles the outbound row: the
 * amount leaves cold storage (to the treasury, or to the operator), the fee is paid by whoever sent it (the cold
 * wallet itself on Bitcoin, the gas tank for a Safe), and the proposal is CONFIRMED or FAILED.
 *
 * @example
 * await settleMultisig(tx, chain, outboundRow, { state: 'mined', success: true, blockHeight, fee })
 */
export async function settleMultisig(
  tx: Tx,
  chain: LoadedChain,
  winner: OutboundRow,
  status: Extract<TxStatus, { state: 'mined' }>,
): Promise<void> {
  const [p] = await tx
    .select()
    .from(multisigProposals)
    .where(eq(multisigProposals.outboundTxId, winner.id))
    .for('update')
  const paidBy = winner.fromPath === '' ? 'cold' : 'gas'
  const ref = (suffix: string, asset: string) => ({
    chain: chain.name,
    asset,
    refType: 'multisig',
    refId: `${p?.id ?? winner.id}#${suffix}`,
  })
  await postFee(tx, ref('fee', chain.driver.nativeAsset.id), paidBy, status.fee)
  if (!p || p.status !== 'EXECUTING') return
  if (status.success) {
    if (p.destination === 'treasury')
      await postInternalMove(tx, ref('move', p.asset), 'cold', 'treasury', p.amount)
    else await postOperatorWithdrawal(tx, ref('move', p.asset), 'cold', p.amount)
  }
  await recordStep(
    tx,
    p,
    status.success ? 'multisig.confirmed' : 'multisig.failed',
    status.success
      ? { status: 'CONFIRMED' }
      : { status: 'FAILED', failureReason: 'the transaction failed on chain' },
    { hash: winner.hash, blockHeight: status.blockHeight.toString() },
  )
}

/** A proposal whose transaction was given up (never includable): FAILED with the reason. */
export async function abandonMultisig(tx: Tx, outboundId: string, reason: string): Promise<void> {
  const [p] = await tx
    .select()
    .from(multisigProposals)
    .where(eq(multisigProposals.outboundTxId, outboundId))
    .for('update')
  if (!p || p.status !== 'EXECUTING') return
  await recordStep(tx, p, 'multisig.failed', { status: 'FAILED', failureReason: reason }, { reason })
}

/**
 * One of the merchant's proposals; undefined for an unknown id or another merchant's.
 *
 * @example
 * const p = await getMultisigProposal({ db }, merchantId, 'msp_…')
 */
export async function getMultisigProposal(ctx: { db: Db }, merchantId: string, id: string) {
  if (typeof id !== 'string' || id.length > 100) return undefined
  const [row] = await ctx.db
    .select()
    .from(multisigProposals)
    .where(and(eq(multisigProposals.id, id), eq(multisigProposals.merchantId, merchantId)))
  return row
}

/**
 * The merchant's proposals, newest first (keyset by id).
 *
 * @example
 * const { rows } = await listMultisigProposals({ db }, merchantId, { first: 20, status: 'SIGNING' })
 */
export async function listMultisigProposals(
  ctx: { db: Db },
  merchantId: string,
  params: {
    first?: number | null
    after?: string | null
    status?: MultisigStatus | null
    chain?: string | null
  },
): Promise<{ rows: MultisigProposalRow[]; hasNextPage: boolean }> {
  const first = pageSize(params.first)
  const conditions: SQL[] = [eq(multisigProposals.merchantId, merchantId)]
  if (params.after) conditions.push(lt(multisigProposals.id, params.after))
  if (params.status) conditions.push(eq(multisigProposals.status, params.status))
  if (params.chain) conditions.push(eq(multisigProposals.chain, params.chain))
  const rows = await ctx.db
    .select()
    .from(multisigProposals)
    .where(and(...conditions))
    .orderBy(desc(multisigProposals.id))
    .limit(first + 1)
  return toPage(rows, first)
}
