import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ledgerPostings } from '../../db/schema/index.ts'
import { invariantBroken } from '../errors.ts'

/** The merchant's spendable balance of an asset. */
export const merchantAvailable = 'merchant:available'
/** Counter-account of payment credits: what deposits brought in. */
export const depositsReceived = 'gateway:deposits'
/** Merchant funds held for withdrawals in flight. */
export const merchantReserved = 'merchant:reserved'
/**
 * What the gateway holds, per wallet role, in the ledger's sign: a holding of X is a balance of -X (the same
 * side as `gateway:deposits`), so merchant balances and holdings sum to zero with the operator's accounts.
 */
export const holdings = {
  deposits: depositsReceived,
  treasury: 'gateway:treasury',
  gas: 'gateway:gas',
  cold: 'gateway:cold',
} as const
export type HoldingRole = keyof typeof holdings
/** Network fees the gateway paid: the operator's expense (native asset). */
export const operatorFees = 'operator:fees'
/** Funds the operator put into the gateway's own wallets (treasury float, gas tank). */
export const operatorFunds = 'operator:funds'
/** Wrong-network deposits the gateway holds and owes, not (yet) any merchant's balance. */
export const misdirectedHeld = 'gateway:misdirected'
/**
 * Deposits never credited to anyone (an underpaid, canceled or rejected payment's funds) that the gateway took
 * into its books to refund them: the treasury pays the buyer, the deposit stays at its address. Not compared
 * with the chain (those addresses are not swept): what it holds is what was returned out of such funds.
 */
export const uncreditedRefunded = 'gateway:uncredited'

type Posting = { account: string; amount: bigint; merchantId: string | null }

/**
 * Writes balanced postings for one business event; `(refType, refId, account)` makes a re-run a no-op. Postings
 * to one account are merged first (a move from a wallet to itself moves nothing). The set is written whole or
 * not at all: a reference already used for part of it is a bug, never a half-written ledger.
 */
async function post(
  tx: Tx,
  ref: { chain: string; asset: string; refType: string; refId: string },
  postings: readonly Posting[],
): Promise<void> {
  const merged = new Map<string, Posting>()
  for (const p of postings) {
    const prior = merged.get(p.account)
    merged.set(p.account, prior ? { ...prior, amount: prior.amount + p.amount } : p)
  }
  const rows = [...merged.values()].filter((p) => p.amount !== 0n)
  if (rows.reduce((sum, p) => sum + p.amount, 0n) !== 0n)
    throw invariantBroken('UNBALANCED_POSTINGS', 'unbalanced postings')
  if (rows.length === 0) return
  const written = await tx
    .insert(ledgerPostings)
    .values(rows.map((p) => ({ ...ref, ...p })))
    .onConflictDoNothing()
    .returning({ account: ledgerPostings.account })
  if (written.length !== 0 && written.length !== rows.length)
    throw invariantBroken(
      'PARTIAL_POSTINGS',
      `postings ${ref.refType}/${ref.refId}: ${rows.length - written.length} of ${rows.length} already existed`,
    )
}

type WithdrawalRef = {
  id: string
  merchantId: string
  chain: string
  asset: string
  amount: bigint
  /** A refund of uncredited funds is reserved from (and released to) `gateway:uncredited`, not the balance. */
  fundedFrom?: 'balance' | 'uncredited'
  /** What the output paid when the fee came out of the amount (the rest is the fee recovered). */
  amountSent?: bigint | null
}

/** The account a withdrawal's reserve is taken from and a release returns to. */
const fundingAccount = (w: WithdrawalRef) =>
  w.fundedFrom === 'uncredited' ? uncreditedRefunded : merchantAvailable

/**
 * Moves a withdrawal's amount from available to reserved at request time.
 *
 * @example
 * await postWithdrawalReserve(tx, withdrawal)
 */
export function postWithdrawalReserve(tx: Tx, w: WithdrawalRef): Promise<void> {
  return post(tx, { chain: w.chain, asset: w.asset, refType: 'withdrawal', refId: `${w.id}#reserve` }, [
    { account: fundingAccount(w), amount: -w.amount, merchantId: w.merchantId },
    { account: merchantReserved, amount: w.amount, merchantId: w.merchantId },
  ])
}

/**
 * Returns a canceled or failed withdrawal's reserve to available.
 *
 * @example
 * await postWithdrawalRelease(tx, withdrawal)
 */
export function postWithdrawalRelease(tx: Tx, w: WithdrawalRef): Promise<void> {
  return post(tx, { chain: w.chain, asset: w.asset, refType: 'withdrawal', refId: `${w.id}#release` }, [
    { account: merchantReserved, amount: -w.amount, merchantId: w.merchantId },
    { account: fundingAccount(w), amount: w.amount, merchantId: w.merchantId },
  ])
}

/**
 * Settles a confirmed withdrawal: the reserve leaves the merchant's books as a payout, and the network fee
 * (in the chain's native asset) is the gateway's expense. When the fee came out of the amount, the treasury paid
 * only `amountSent` and the rest of the reserve goes to `operator:fees`, which bore the fee.
 *
 * @example
 * await postWithdrawalSettle(tx, withdrawal, { nativeAsset: 'eip155:1/slip44:60', fee: 42_000_000_000_000n })
 */
export async function postWithdrawalSettle(
  tx: Tx,
  w: WithdrawalRef,
  fee: { nativeAsset: string; amount: bigint },
): Promise<void> {
  const sent = w.amountSent ?? w.amount
  await post(tx, { chain: w.chain, asset: w.asset, refType: 'withdrawal', refId: `${w.id}#settle` }, [
    { account: merchantReserved, amount: -w.amount, merchantId: w.merchantId },
    { account: holdings.treasury, amount: sent, merchantId: null },
    { account: operatorFees, amount: w.amount - sent, merchantId: null },
  ])
  await postFee(
    tx,
    { chain: w.chain, asset: fee.nativeAsset, refType: 'withdrawal', refId: `${w.id}#fee` },
    'treasury',
    fee.amount,
  )
}

type Ref = { chain: string; asset: string; refType: string; refId: string }

type RefundHold = {
  id: string
  merchantId: string
  chain: string
  asset: string
  amount: bigint
  source: 'BALANCE' | 'UNCREDITED'
}

/**
 * Holds a refund's amount while its buyer has not said where to send it (a refund link), so the balance cannot
 * be spent meanwhile; `release` gives it back (the link was claimed: its withdrawal reserves it again, or the
 * refund was canceled).
 *
 * @example
 * await postRefundHold(tx, refund, 'hold')
 */
export function postRefundHold(tx: Tx, r: RefundHold, step: 'hold' | 'release'): Promise<void> {
  const from = r.source === 'UNCREDITED' ? uncreditedRefunded : merchantAvailable
  const sign = step === 'hold' ? 1n : -1n
  return post(tx, { chain: r.chain, asset: r.asset, refType: 'refund', refId: `${r.id}#${step}` }, [
    { account: from, amount: -r.amount * sign, merchantId: r.merchantId },
    { account: merchantReserved, amount: r.amount * sign, merchantId: r.merchantId },
  ])
}

/** A network fee paid from a gateway wallet: the holding shrinks, the operator bears it. */
export function postFee(tx: Tx, ref: Ref, paidBy: HoldingRole, amount: bigint): Promise<void> {
  if (amount === 0n) return Promise.resolve()
  return post(tx, ref, [
    { account: holdings[paidBy], amount, merchantId: null },
    { account: operatorFees, amount: -amount, merchantId: null },
  ])
}

/**
 * Value moved between two of the gateway's own wallets (a sweep, a gas top-up, treasury excess to cold).
 *
 * @example
 * await postInternalMove(tx, { chain, asset, refType: 'sweep', refId: `${sweep.id}#move` }, 'deposits', 'treasury', amount)
 */
export function postInternalMove(
  tx: Tx,
  ref: Ref,
  from: HoldingRole,
  to: HoldingRole,
  amount: bigint,
): Promise<void> {
  if (amount === 0n) return Promise.resolve()
  return post(tx, ref, [
    { account: holdings[from], amount, merchantId: null },
    { account: holdings[to], amount: -amount, merchantId: null },
  ])
}

/** Funds that reached a gateway wallet from outside (the operator topping up the treasury or the gas tank). */
export function postOperatorFunding(tx: Tx, ref: Ref, to: HoldingRole, amount: bigint): Promise<void> {
  return post(tx, ref, [
    { account: holdings[to], amount: -amount, merchantId: null },
    { account: operatorFunds, amount, merchantId: null },
  ])
}

/**
 * Funds the operator took out of a gateway wallet to an address of theirs (a multisig cold wallet's owners
 * moving it elsewhere): the holding shrinks against `operator:funds`.
 *
 * @example
 * await postOperatorWithdrawal(tx, { chain, asset, refType: 'multisig', refId: `${id}#move` }, 'cold', amount)
 */
export function postOperatorWithdrawal(tx: Tx, ref: Ref, from: HoldingRole, amount: bigint): Promise<void> {
  if (amount === 0n) return Promise.resolve()
  return post(tx, ref, [
    { account: holdings[from], amount, merchantId: null },
    { account: operatorFunds, amount: -amount, merchantId: null },
  ])
}

/**
 * Brings what `account` holds under one subject's references (`<subject>#c<n>`) to `target`, posting the
 * difference against `counter` as a balanced pair; a re-run finds nothing to post. Each adjustment has a
 * reference of its own: the same amounts can recur (credited, reversed by a reorg, credited again) and every
 * one of those moves must be written. Callers hold a lock that serializes the subject's adjustments.
 */
async function syncTarget(
  tx: Tx,
  subject: { chain: string; asset: string; refType: string; id: string; merchantId: string },
  accounts: { account: string; counter: string },
  target: bigint,
): Promise<bigint> {
  // the adjustment number counts every adjustment of the subject, whichever account it moved: a subject booked to
  // one account and later to another (a decision changed) never reuses a reference
  const [row] = await tx
    .select({
      credited: sql<string>`coalesce(sum(${ledgerPostings.amount}) filter (where ${ledgerPostings.account} = ${accounts.account}), 0)`,
      count: sql<string>`count(distinct ${ledgerPostings.refId})`,
    })
    .from(ledgerPostings)
    .where(
      and(
        eq(ledgerPostings.refType, subject.refType),
        sql`${ledgerPostings.refId} like ${`${subject.id}#%`}`,
      ),
    )
  const delta = target - BigInt(row?.credited ?? '0')
  if (delta === 0n) return 0n
  const ref = {
    chain: subject.chain,
    asset: subject.asset,
    refType: subject.refType,
    refId: `${subject.id}#c${BigInt(row?.count ?? '0') + 1n}`,
  }
  await post(tx, ref, [
    { account: accounts.account, amount: delta, merchantId: subject.merchantId },
    { account: accounts.counter, amount: -delta, merchantId: subject.merchantId },
  ])
  return delta
}

/**
 * Brings what the ledger credits a merchant for a payment to `target`, by posting the difference (credit or
 * reversal) as a balanced pair. A re-run finds nothing to post. Callers hold the payment's row lock.
 *
 * @example
 * await syncPaymentCredit(tx, { paymentId, merchantId, chain, asset, target: payment.amountConfirmed })
 */
export function syncPaymentCredit(
  tx: Tx,
  p: { paymentId: string; merchantId: string; chain: string; asset: string; target: bigint },
): Promise<bigint> {
  return syncTarget(
    tx,
    { chain: p.chain, asset: p.asset, refType: 'payment', id: p.paymentId, merchantId: p.merchantId },
    { account: merchantAvailable, counter: depositsReceived },
    p.target,
  )
}

/**
 * Books a wrong-network deposit once it is confirmed on the chain it arrived on (and takes it back when a reorg
 * removes it): the deposit wallets hold it and either `gateway:misdirected` owes it (held for the operator) or,
 * with `credit`, the merchant's balance on that chain has it. Whatever an earlier booking put in the other
 * account is taken back, so a changed setting never books one deposit twice. Callers hold the transfer's row
 * lock.
 *
 * @example
 * await syncMisdirectedHolding(tx, { transferId, merchantId, chain: 'bsc', asset, target: amount, credit: false })
 */
export async function syncMisdirectedHolding(
  tx: Tx,
  t: {
    transferId: string
    merchantId: string
    chain: string
    asset: string
    target: bigint
    credit: boolean
  },
): Promise<void> {
  const subject = {
    chain: t.chain,
    asset: t.asset,
    refType: 'misdirected',
    id: t.transferId,
    merchantId: t.merchantId,
  }
  const [to, away] = t.credit ? [merchantAvailable, misdirectedHeld] : [misdirectedHeld, merchantAvailable]
  await bookOneOf(tx, subject, to, away, t.target)
}

/**
 * Books what the deposit wallets hold for one subject under `to` and nothing under `away`, against
 * `gateway:deposits`: whatever an earlier booking put in the other account is taken back first, so a changed
 * decision never books one deposit twice.
 */
async function bookOneOf(
  tx: Tx,
  subject: Parameters<typeof syncTarget>[1],
  to: string,
  away: string,
  target: bigint,
): Promise<void> {
  await syncTarget(tx, subject, { account: away, counter: depositsReceived }, 0n)
  await syncTarget(tx, subject, { account: to, counter: depositsReceived }, target)
}

/**
 * Customer deposits below the merchant's minimum: recorded, never credited to the merchant. The deposit wallets
 * hold them (they are swept with the rest) and the operator owes them to nobody until someone decides.
 */
export const belowMinimumHeld = 'gateway:below-minimum'

/**
 * Books a customer deposit: its amount credited to the merchant's balance (`credit`), or held under
 * `gateway:below-minimum` when it is below the merchant's minimum, or nothing (`target` 0: not confirmed, held by
 * screening, rejected, or reverted by a reorg). Idempotent; a reorg's reversal and a later re-credit are each
 * posted. Callers hold the deposit's row lock.
 *
 * @example
 * await syncDepositCredit(tx, { depositId, merchantId, chain, asset, target: amount, belowMinimum: false })
 */
export async function syncDepositCredit(
  tx: Tx,
  d: {
    depositId: string
    merchantId: string
    chain: string
    asset: string
    target: bigint
    belowMinimum: boolean
  },
): Promise<void> {
  const subject = {
    chain: d.chain,
    asset: d.asset,
    refType: 'deposit',
    id: d.depositId,
    merchantId: d.merchantId,
  }
  const [to, away] = d.belowMinimum
    ? [belowMinimumHeld, merchantAvailable]
    : [merchantAvailable, belowMinimumHeld]
  await bookOneOf(tx, subject, to, away, d.target)
}
