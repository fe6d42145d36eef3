import { describe, expect, test } from 'bun:test'
import { and, asc, eq, like, sql } from 'drizzle-orm'
import { late, refundScene, refundSceneDb } from '../../../test/helpers/refund-scene.ts'
import {
  creditOf,
  eventTypes,
  paymentRow,
  rejection,
  unitMerchant,
  unitWebhookContext,
} from '../../../test/helpers/unit.ts'
import {
  auditLog,
  type KytState,
  ledgerPostings,
  type RefundRow,
  refundEvents,
  refunds,
  webhookDeliveries,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { setRefundFee } from '../access/merchants.ts'
import { accountTotals, getBalances } from '../ledger/balances.ts'
import {
  merchantAvailable,
  merchantReserved,
  operatorFees,
  postWithdrawalRelease,
  postWithdrawalSettle,
  uncreditedRefunded,
} from '../ledger/postings.ts'
import type { PaymentRow } from '../payments/queries.ts'
import { dispatchWebhookEvents } from '../webhooks/dispatch.ts'
import { createWebhookEndpoint } from '../webhooks/endpoints.ts'
import {
  cancelRefund,
  claimRefund,
  getRefund,
  listRefunds,
  type RefundPaymentInput,
  refundAmountSent,
  refundForLink,
  refundPayment,
} from './refunds.ts'
import { transitionWithdrawal, type WithdrawalRow } from './withdrawal-transitions.ts'
import { decideWithdrawal, requestWithdrawal } from './withdrawals.ts'

const handle = await refundSceneDb(6)
const { db } = handle
const shop = await unitMerchant(handle, 'Refund Shop')
const otherShop = await unitMerchant(handle, 'Other Shop')
const actor = { keyId: 'key_refunder', requestId: 'req_r' }
/** Every chain of this file's scenes: webhook payloads read the asset of whatever the outbox holds. */
const chains = new Map<string, LoadedChain>()
const buyer = 'toybuyer'

/**
 * The merchant's refund scene (approval needed above `approvalAbove` base units), its deposits confirmed and
 * answering the payment as stored, with completed and underpaid payments made in one step and the merchant's
 * balance and `gateway:uncredited` to read.
 */
function setup(options: { merchantId?: string; approvalAbove?: bigint } = {}) {
  const merchantId = options.merchantId ?? shop
  const s = refundScene(handle, { merchantId, name: 'refunds', actor })
  const { chain } = s
  chains.set(chain, s.toy.chain)
  if (options.approvalAbove !== undefined)
    s.toy.chain.settings.payouts.approvalAbove = new Map([[s.toy.native.id, options.approvalAbove]])
  /** A confirmed deposit into the payment's address, screened to `kyt` when given; then a refresh at `at`. */
  const deposit = async (p: PaymentRow, amount: bigint, o: { kyt?: KytState; at?: Date } = {}) => {
    await s.deposit(p, amount, o)
    return paymentRow(db, p.id)
  }
  /** A payment of `due` paid `paid` and COMPLETED (the merchant credited `paid`). */
  const completed = async (due: bigint, paid = due) => {
    const p = await deposit(await s.create(due), paid)
    expect(p.status).toBe('COMPLETED')
    return p
  }
  /** A payment of `due` paid `paid` (less) and past its deadline: UNDERPAID, nothing credited. */
  const underpaid = async (due: bigint, paid: bigint) => {
    const p = await deposit(await s.create(due), paid, { at: late() })
    expect(p.status).toBe('UNDERPAID')
    return p
  }
  const balance = async () => {
    const b = (await getBalances({ db }, merchantId)).find((x) => x.chain === chain)
    return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
  }
  /** What `gateway:uncredited` took in for this merchant on this chain (negative: refunded out of deposits). */
  const uncredited = async () =>
    (await accountTotals(db, { accounts: [uncreditedRefunded], merchantId, chain }))[0]?.total ?? 0n
  return { ...s, deposit, completed, underpaid, balance, uncredited }
}

const withdrawalOf = async (r: Pick<RefundRow, 'withdrawalId'>) =>
  (await db.select().from(withdrawals).where(eq(withdrawals.id, r.withdrawalId!)))[0] as WithdrawalRow
const refundRow = async (id: string) => (await db.select().from(refunds).where(eq(refunds.id, id)))[0]!
const refundEventsOf = (id: string) =>
  db.select().from(refundEvents).where(eq(refundEvents.refundId, id)).orderBy(asc(refundEvents.seq))
const auditOf = (targetId: string) =>
  db.select().from(auditLog).where(eq(auditLog.targetId, targetId)).orderBy(asc(auditLog.createdAt))
/** The postings under a reference prefix (`<refund>#…`, `<withdrawal>#…`), as account → amount. */
const postingsUnder = async (refType: 'refund' | 'withdrawal', id: string) =>
  Object.fromEntries(
    (
      await db
        .select()
        .from(ledgerPostings)
        .where(and(eq(ledgerPostings.refType, refType), like(ledgerPostings.refId, `${id}#%`)))
        .orderBy(asc(ledgerPostings.refId), asc(ledgerPostings.account))
    ).map((p) => [`${p.refId.slice(p.refId.indexOf('#'))} ${p.account}`, p.amount]),
  )
/** The merchant holding 500 of its own, and a queued refund to the buyer of an UNDERPAID payment's 40 of 100. */
async function uncreditedRefund(s: ReturnType<typeof setup>) {
  await s.completed(500n)
  const p = await s.underpaid(100n, 40n)
  const { refund } = await s.refund(p, { to: buyer })
  return { p, refund }
}
/** The refund's queued payout FAILED (with `changes`, e.g. its failureReason) and its reserve released. */
async function failPayout(refund: Pick<RefundRow, 'withdrawalId'>, changes: { failureReason?: string } = {}) {
  const w = await db.transaction((tx) =>
    transitionWithdrawal(tx, refund.withdrawalId!, ['QUEUED'], 'FAILED', changes),
  )
  await db.transaction((tx) => postWithdrawalRelease(tx, w!))
  return w!
}
/** A payout's postings when `amount` was reserved out of gateway:uncredited and released back to it. */
const uncreditedReleased = (amount: bigint) => ({
  [`#release ${merchantReserved}`]: -amount,
  [`#release ${uncreditedRefunded}`]: amount,
  [`#reserve ${merchantReserved}`]: amount,
  [`#reserve ${uncreditedRefunded}`]: -amount,
})
/** Everything a refused call must leave as it was: row counts of every table a refund writes. */
async function footprint() {
  const count = async (
    table:
      | typeof refunds
      | typeof refundEvents
      | typeof withdrawals
      | typeof withdrawalEvents
      | typeof ledgerPostings
      | typeof auditLog,
  ) => (await db.select({ n: sql<number>`count(*)::int` }).from(table))[0]?.n
  return {
    refunds: await count(refunds),
    refundEvents: await count(refundEvents),
    withdrawals: await count(withdrawals),
    withdrawalEvents: await count(withdrawalEvents),
    postings: await count(ledgerPostings),
    audit: await count(auditLog),
  }
}

describe('refundPayment from the balance', () => {
  test('default: a completed payment’s refund reserves its amount from the available balance and queues a payout', async () => {
    const s = setup()
    const p = await s.completed(100n)
    expect(await s.balance()).toEqual({ available: 100n, reserved: 0n })
    const { refund, replayed, changes } = await s.refund(p, {
      amount: s.units(40n),
      to: 'TOYBUYER',
      reason: 'order 7 returned',
    })
    expect(replayed).toBe(false)
    expect(changes).toEqual([])
    expect(refund).toMatchObject({
      merchantId: shop,
      paymentId: p.id,
      chain: s.chain,
      asset: s.toy.native.id,
      amount: 40n,
      source: 'BALANCE',
      overpayment: false,
      feePaidBy: 'MERCHANT',
      toAddress: buyer,
      status: 'PENDING',
      linkSecret: null,
      reason: 'order 7 returned',
      requestedByKey: 'key_refunder',
      eventSeq: 1,
    })
    expect(refund.id).toMatch(/^rf_/)
    expect(await refundRow(refund.id)).toEqual(refund)
    expect(await withdrawalOf(refund)).toMatchObject({
      merchantId: shop,
      refundId: refund.id,
      fundedFrom: 'balance',
      feeFromAmount: false,
      toAddress: buyer,
      amount: 40n,
      status: 'QUEUED',
      requestedByKey: 'key_refunder',
    })
    expect(await s.balance()).toEqual({ available: 60n, reserved: 40n })
    expect(await postingsUnder('withdrawal', refund.withdrawalId!)).toEqual({
      [`#reserve ${merchantAvailable}`]: -40n,
      [`#reserve ${merchantReserved}`]: 40n,
    })
    expect((await refundEventsOf(refund.id)).map((e) => [e.seq, e.type, e.status])).toEqual([
      [1, 'refund.created', 'PENDING'],
    ])
    expect(await auditOf(refund.id)).toEqual([
      expect.objectContaining({
        merchantId: shop,
        actor: 'key_refunder',
        requestId: 'req_r',
        action: 'refund.created',
        targetType: 'refund',
        data: { paymentId: p.id, amount: '40', source: 'BALANCE', reason: 'order 7 returned' },
      }),
    ])
    // a completed payment keeps its status, its credit and no resolution
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', resolution: null })
    expect(await creditOf(db, p.id)).toBe(100n)
    expect(await getRefund(s.ctx, shop, refund.id)).toEqual(refund)
    expect(await getRefund(s.ctx, otherShop, refund.id)).toBeUndefined()
    expect(await refundAmountSent(s.ctx, refund)).toBeNull()
  })

  test('default: without an amount the whole credit is refunded; then nothing is left', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { to: buyer })
    expect(refund.amount).toBe(100n)
    expect(await s.balance()).toEqual({ available: 0n, reserved: 100n })
    const before = await footprint()
    expect(await rejection(s.refund(p, { to: buyer }))).toMatchObject({
      code: 'NOTHING_TO_REFUND',
      field: 'paymentId',
    })
    expect(await rejection(s.refund(p, { to: buyer, amount: s.units(1n) }))).toMatchObject({
      code: 'NOTHING_TO_REFUND',
      field: 'amount',
    })
    expect(await footprint()).toEqual(before)
  })

  test('error: INSUFFICIENT_BALANCE when the credit was withdrawn meanwhile, nothing written', async () => {
    const s = setup()
    const p = await s.completed(100n)
    await requestWithdrawal(s.ctx, shop, {
      chain: s.chain,
      asset: 'TOY',
      to: 'toymerchant',
      amount: s.units(80n),
      idempotencyKey: `${s.chain}-w`,
    })
    expect(await s.balance()).toEqual({ available: 20n, reserved: 80n })
    const before = await footprint()
    for (const input of [{ to: buyer, amount: s.units(50n) }, { amount: s.units(21n) }, {}])
      expect(await rejection(s.refund(p, input))).toMatchObject({
        code: 'INSUFFICIENT_BALANCE',
        field: 'amount',
      })
    expect(await footprint()).toEqual(before)
    expect(await s.balance()).toEqual({ available: 20n, reserved: 80n })
    // what is available can be refunded
    const { refund } = await s.refund(p, { amount: s.units(20n) })
    expect(refund.status).toBe('AWAITING_ADDRESS')
    expect(await s.balance()).toEqual({ available: 0n, reserved: 100n })
  })

  test('behavior: an overpayment refund returns the excess, once', async () => {
    const s = setup()
    const p = await s.completed(100n, 150n)
    const before = await footprint()
    expect(await rejection(s.refund(p, { overpayment: true, amount: s.units(10n) }))).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'amount',
    })
    expect(await rejection(s.refund(p, { overpayment: true, source: 'UNCREDITED' }))).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'source',
    })
    expect(await footprint()).toEqual(before)
    const { refund } = await s.refund(p, { overpayment: true, to: buyer })
    expect(refund).toMatchObject({ amount: 50n, source: 'BALANCE', overpayment: true, status: 'PENDING' })
    expect(await s.balance()).toEqual({ available: 100n, reserved: 50n })
    expect(await rejection(s.refund(p, { overpayment: true, to: buyer }))).toMatchObject({
      code: 'NOTHING_TO_REFUND',
    })
    expect(await s.refundable(p)).toEqual({
      uncredited: 0n,
      credited: 100n,
      overpaid: 0n,
    })
  })

  test('behavior: the merchant’s DEDUCTED fee policy makes the buyer pay the fee of native refunds', async () => {
    const merchantId = await unitMerchant(handle, 'Deducting Shop')
    await setRefundFee({ db }, merchantId, 'DEDUCTED', actor)
    const s = setup({ merchantId })
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { to: buyer, amount: s.units(30n) })
    expect(refund.feePaidBy).toBe('BUYER')
    expect(await withdrawalOf(refund)).toMatchObject({ feeFromAmount: true, amount: 30n })
    const token = await s.deposit(await s.create(100n, s.toy.token), 100n)
    const { refund: tokenRefund } = await s.refund(token, { to: buyer })
    expect(tokenRefund.feePaidBy).toBe('MERCHANT')
    expect(await withdrawalOf(tokenRefund)).toMatchObject({ feeFromAmount: false, asset: s.toy.token.id })
  })
})

describe('refundPayment of uncredited funds', () => {
  test('default: an underpaid payment’s funds are reserved through gateway:uncredited; the payment is closed as REFUNDED', async () => {
    const s = setup()
    await s.completed(1000n) // the merchant's own balance: untouched by the refund
    const p = await s.underpaid(100n, 40n)
    const { refund, changes } = await s.refund(p, { to: buyer })
    expect(refund).toMatchObject({ amount: 40n, source: 'UNCREDITED', status: 'PENDING', toAddress: buyer })
    expect(await withdrawalOf(refund)).toMatchObject({
      refundId: refund.id,
      fundedFrom: 'uncredited',
      amount: 40n,
      status: 'QUEUED',
    })
    expect(await s.balance()).toEqual({ available: 1000n, reserved: 40n })
    expect(await s.uncredited()).toBe(-40n)
    expect(await postingsUnder('withdrawal', refund.withdrawalId!)).toEqual({
      [`#reserve ${uncreditedRefunded}`]: -40n,
      [`#reserve ${merchantReserved}`]: 40n,
    })
    const row = await paymentRow(db, p.id)
    expect(row).toMatchObject({ status: 'UNDERPAID', resolution: 'REFUNDED', eventSeq: 3 })
    expect(row.resolvedAt).toBeInstanceOf(Date)
    expect(changes).toEqual([
      {
        paymentId: p.id,
        merchantId: shop,
        seq: 3,
        type: 'payment.resolved',
        from: 'UNDERPAID',
        to: 'UNDERPAID',
      },
    ])
    expect(await eventTypes(db, p.id)).toEqual(['payment.created', 'payment.underpaid', 'payment.resolved'])

    // the rest of the price arriving later never completes it: an exception, nothing credited
    const after = await s.deposit(p, 60n, { at: late() })
    expect(after).toMatchObject({ status: 'UNDERPAID', resolution: 'REFUNDED', amountReceived: 100n })
    expect(after.completedAt).toBeNull()
    expect((await eventTypes(db, p.id)).at(-1)).toBe('payment.exception')
    expect(await creditOf(db, p.id)).toBe(0n)
    expect(await s.balance()).toEqual({ available: 1000n, reserved: 40n })
    // …and is refundable in turn
    expect((await s.refundable(after)).uncredited).toBe(60n)
    const second = await s.refund(p, { to: buyer })
    expect(second.refund.amount).toBe(60n)
    expect(second.changes).toEqual([])
    expect(await s.uncredited()).toBe(-100n)
  })

  test('behavior: a completed payment’s rejected deposit is refunded from its uncredited funds; the credit stays', async () => {
    const s = setup()
    const p = await s.completed(100n)
    await s.deposit(p, 30n, { kyt: 'rejected' })
    const { refund, changes } = await s.refund(p, { source: 'UNCREDITED', to: buyer })
    expect(refund).toMatchObject({ amount: 30n, source: 'UNCREDITED' })
    expect(changes).toEqual([])
    expect(await paymentRow(db, p.id)).toMatchObject({ status: 'COMPLETED', resolution: null })
    expect(await s.balance()).toEqual({ available: 100n, reserved: 30n })
    expect(await s.uncredited()).toBe(-30n)
  })

  test('error: refused while the payment may still be paid, from the balance of an uncredited payment, or when nothing came', async () => {
    const s = setup()
    const pending = await s.create(100n)
    const partial = await s.deposit(await s.create(100n), 40n)
    const underpaid = await s.underpaid(100n, 40n)
    const expired = await s.create(100n)
    await s.refresh(expired, late())
    const before = await footprint()
    const cases: Array<[PaymentRow, Partial<RefundPaymentInput>, string, string]> = [
      [pending, {}, 'INVALID_STATE', 'paymentId'],
      [partial, { to: buyer }, 'INVALID_STATE', 'paymentId'],
      [underpaid, { source: 'BALANCE', to: buyer }, 'INVALID_STATE', 'source'],
      [expired, {}, 'NOTHING_TO_REFUND', 'paymentId'],
    ]
    for (const [p, input, code, field] of cases)
      expect(await rejection(s.refund(p, input))).toMatchObject({ code, field })
    expect(await footprint()).toEqual(before)
    expect(await paymentRow(db, underpaid.id)).toMatchObject({ resolution: null })
  })
})

describe('refund links', () => {
  test('default: without an address the amount is held and the link’s holder enters it once', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { amount: s.units(40n) })
    expect(refund).toMatchObject({ status: 'AWAITING_ADDRESS', toAddress: null, withdrawalId: null })
    expect(refund.linkSecret).toMatch(/^rfs_.{20,}$/)
    expect(await s.balance()).toEqual({ available: 60n, reserved: 40n })
    expect(await postingsUnder('refund', refund.id)).toEqual({
      [`#hold ${merchantAvailable}`]: -40n,
      [`#hold ${merchantReserved}`]: 40n,
    })
    const [count] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(withdrawals)
      .where(eq(withdrawals.refundId, refund.id))
    expect(count?.n).toBe(0)

    // the link's page: the refund for the holder of its secret, nothing for anyone else
    expect(await refundForLink(s.ctx, refund.id, refund.linkSecret)).toEqual(refund)
    for (const [id, secret] of [
      [refund.id, `${refund.linkSecret!.slice(0, -1)}x`],
      [refund.id, 'rfs_short'],
      [refund.id, undefined],
      [refund.id, { toString: () => refund.linkSecret }],
      ['rf_missing', refund.linkSecret],
      [42, refund.linkSecret],
    ] as const)
      expect(await refundForLink(s.ctx, id as string, secret)).toBeUndefined()

    // a wrong secret and a bad address are refused and leave the link open
    const before = await footprint()
    expect(await rejection(claimRefund(s.ctx, refund.id, 'rfs_wrong', buyer))).toMatchObject({
      code: 'NOT_FOUND',
    })
    expect(await rejection(claimRefund(s.ctx, 'rf_missing', refund.linkSecret, buyer))).toMatchObject({
      code: 'NOT_FOUND',
    })
    for (const to of ['0xab5801a7d398351b8be11c439e05c5b3259aec9b', 42, 'toy'.padEnd(10_000, 'x'), ''])
      expect(await rejection(claimRefund(s.ctx, refund.id, refund.linkSecret, to))).toMatchObject({
        code: 'INVALID_ADDRESS',
        field: 'to',
      })
    expect(await rejection(claimRefund(s.ctx, refund.id, refund.linkSecret, p.address))).toMatchObject({
      code: 'OWN_ADDRESS',
    })
    expect(await footprint()).toEqual(before)
    expect((await refundRow(refund.id)).status).toBe('AWAITING_ADDRESS')

    const claimed = await claimRefund(s.ctx, refund.id, refund.linkSecret, 'TOYBUYER')
    expect(claimed).toMatchObject({ id: refund.id, status: 'PENDING', toAddress: buyer, eventSeq: 2 })
    expect(await withdrawalOf(claimed)).toMatchObject({
      refundId: refund.id,
      fundedFrom: 'balance',
      toAddress: buyer,
      amount: 40n,
      status: 'QUEUED',
    })
    // the hold went back as the withdrawal reserved the amount: reserved once, not twice
    expect(await postingsUnder('refund', refund.id)).toEqual({
      [`#hold ${merchantAvailable}`]: -40n,
      [`#hold ${merchantReserved}`]: 40n,
      [`#release ${merchantAvailable}`]: 40n,
      [`#release ${merchantReserved}`]: -40n,
    })
    expect(await s.balance()).toEqual({ available: 60n, reserved: 40n })
    expect((await refundEventsOf(refund.id)).map((e) => [e.type, e.status, e.data])).toEqual([
      ['refund.created', 'AWAITING_ADDRESS', {}],
      ['refund.claimed', 'PENDING', { to: buyer }],
    ])

    // used once
    const used = await footprint()
    expect(await rejection(claimRefund(s.ctx, refund.id, refund.linkSecret, 'toyother'))).toMatchObject({
      code: 'REFUND_LINK_USED',
    })
    expect(await footprint()).toEqual(used)
    expect((await refundRow(refund.id)).toAddress).toBe(buyer)
  })

  test('behavior: a link refund of uncredited funds holds them in gateway:uncredited, then its payout reserves them', async () => {
    const s = setup()
    const p = await s.underpaid(100n, 40n)
    const { refund } = await s.refund(p)
    expect(refund).toMatchObject({ amount: 40n, source: 'UNCREDITED', status: 'AWAITING_ADDRESS' })
    expect(await s.balance()).toEqual({ available: 0n, reserved: 40n })
    expect(await s.uncredited()).toBe(-40n)
    expect(await paymentRow(db, p.id)).toMatchObject({ resolution: 'REFUNDED' })
    const claimed = await claimRefund(s.ctx, refund.id, refund.linkSecret, buyer)
    expect(await withdrawalOf(claimed)).toMatchObject({ fundedFrom: 'uncredited', amount: 40n })
    expect(await s.balance()).toEqual({ available: 0n, reserved: 40n })
    expect(await s.uncredited()).toBe(-40n)
  })

  test('behavior: a withdrawal key of the merchant’s own never takes the key of a refund’s payout', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { amount: s.units(40n) })
    // the merchant's withdrawal under the key the refund's payout would use, before the buyer claims
    const squat = await requestWithdrawal(s.ctx, shop, {
      chain: s.chain,
      asset: 'TOY',
      to: 'toymerchant',
      amount: s.units(10n),
      idempotencyKey: `refund:${refund.id}`,
    })
    const claimed = await claimRefund(s.ctx, refund.id, refund.linkSecret, buyer)
    expect(claimed.status).toBe('PENDING')
    expect(claimed.withdrawalId).not.toBe(squat.withdrawal.id)
    expect(await withdrawalOf(claimed)).toMatchObject({ refundId: refund.id, toAddress: buyer, amount: 40n })
    expect(await withdrawalOf({ withdrawalId: squat.withdrawal.id })).toMatchObject({
      refundId: null,
      toAddress: 'toymerchant',
      amount: 10n,
    })
    expect(await s.balance()).toEqual({ available: 50n, reserved: 50n })
  })

  test('behavior: two claims at once create one payout', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const { refund } = await s.refund(p)
    const results = await Promise.allSettled([
      claimRefund(s.ctx, refund.id, refund.linkSecret, 'toyfirst'),
      claimRefund(s.ctx, refund.id, refund.linkSecret, 'toysecond'),
    ])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toMatchObject({ code: 'REFUND_LINK_USED' })
    const rows = await db.select().from(withdrawals).where(eq(withdrawals.refundId, refund.id))
    expect(rows).toHaveLength(1)
    expect(await s.balance()).toEqual({ available: 0n, reserved: 100n })
  })
})

describe('refundPayment idempotency and hostile input', () => {
  test('behavior: the same key and parameters answer the same refund; other parameters are refused, nothing written', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const q = await s.completed(100n)
    const input = { paymentId: p.id, amount: s.units(10n), to: buyer, idempotencyKey: 'same-key' }
    const first = await refundPayment(s.ctx, shop, input, actor)
    const before = await footprint()
    // the same request, spelled differently
    const again = await refundPayment(s.ctx, shop, { ...input, to: 'TOYBUYER', amount: '0.00000010' }, actor)
    expect(again).toEqual({ refund: first.refund, replayed: true, changes: [] })
    for (const other of [
      { amount: s.units(11n) },
      { to: 'toyother' },
      { to: null },
      { amount: null },
      { reason: 'changed my mind' },
      { source: 'UNCREDITED' as const },
      { overpayment: true, amount: null },
      { paymentId: q.id },
    ])
      expect(await rejection(refundPayment(s.ctx, shop, { ...input, ...other }, actor))).toMatchObject({
        code: 'IDEMPOTENCY_KEY_REUSED',
        field: 'idempotencyKey',
      })
    expect(await footprint()).toEqual(before)
    expect(await s.balance()).toEqual({ available: 190n, reserved: 10n })
    expect((await listRefunds(s.ctx, shop, { paymentId: p.id })).rows.map((r) => r.id)).toEqual([
      first.refund.id,
    ])
    // another merchant's keys are its own
    const other = setup({ merchantId: otherShop })
    const theirs = await other.completed(100n)
    const their = await refundPayment(other.ctx, otherShop, { ...input, paymentId: theirs.id }, actor)
    expect(their.replayed).toBe(false)
    expect(their.refund.id).not.toBe(first.refund.id)
  })

  test('behavior: the same key sent twice at once makes one refund', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const input = { paymentId: p.id, amount: s.units(10n), to: buyer, idempotencyKey: 'racing-key' }
    const [a, b] = await Promise.all([
      refundPayment(s.ctx, shop, input, actor),
      refundPayment(s.ctx, shop, input, actor),
    ])
    expect(a.refund.id).toBe(b.refund.id)
    expect([a.replayed, b.replayed].sort()).toEqual([false, true])
    expect(await s.balance()).toEqual({ available: 90n, reserved: 10n })
  })

  test('behavior: two refunds at once of the same uncredited funds: one gets them', async () => {
    const s = setup()
    const p = await s.underpaid(100n, 40n)
    const results = await Promise.allSettled([s.refund(p, { to: buyer }), s.refund(p, { to: 'toyother' })])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({
      code: 'NOTHING_TO_REFUND',
    })
    expect(await s.uncredited()).toBe(-40n)
    expect((await s.refundable(p)).uncredited).toBe(0n)
  })

  test('error: hostile input is a typed error naming the field, and writes nothing', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const other = setup({ merchantId: otherShop })
    const theirs = await other.completed(100n)
    const before = await footprint()
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ idempotencyKey: 'k'.repeat(10_240) }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ idempotencyKey: '' }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ idempotencyKey: 'tab\there' }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ idempotencyKey: 7 }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ paymentId: 42 }, 'NOT_FOUND', 'paymentId'],
      [{ paymentId: { id: p.id } }, 'NOT_FOUND', 'paymentId'],
      [{ paymentId: [p.id] }, 'NOT_FOUND', 'paymentId'],
      [{ paymentId: 'p'.repeat(10_240) }, 'NOT_FOUND', 'paymentId'],
      [{ paymentId: 'pay_missing' }, 'NOT_FOUND', 'paymentId'],
      [{ paymentId: theirs.id }, 'NOT_FOUND', 'paymentId'],
      [{ amount: '0.000000001' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '-0.0000001' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '0' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '0.00000000' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '1e-7' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: ' 1' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: `1${'0'.repeat(100)}` }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: s.units(101n) }, 'AMOUNT_NOT_REFUNDABLE', 'amount'],
      [{ to: '0xab5801a7d398351b8be11c439e05c5b3259aec9b' }, 'INVALID_ADDRESS', 'to'],
      [{ to: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }, 'INVALID_ADDRESS', 'to'],
      [{ to: 42 }, 'INVALID_ADDRESS', 'to'],
      [{ to: `toy${'a'.repeat(10_240)}` }, 'INVALID_ADDRESS', 'to'],
      [{ to: p.address }, 'OWN_ADDRESS', 'to'],
      [{ source: 'EVERYTHING' }, 'INVALID_INPUT', 'source'],
      [{ reason: 'r'.repeat(10_240) }, 'INVALID_INPUT', 'reason'],
    ]
    for (const [input, code, field] of cases)
      expect({ input, error: await rejection(s.refund(p, { to: buyer, ...input })) }).toMatchObject({
        input,
        error: { code, field },
      })
    expect(await footprint()).toEqual(before)
    expect(await s.balance()).toEqual({ available: 100n, reserved: 0n })
    expect((await listRefunds(s.ctx, shop, { paymentId: p.id })).rows).toEqual([])
  })
})

describe('cancelRefund', () => {
  test('default: an unclaimed link’s hold goes back; the amount is refundable again; audited', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { amount: s.units(40n) })
    const canceled = await cancelRefund(s.ctx, shop, refund.id, actor)
    expect(canceled).toMatchObject({ id: refund.id, status: 'CANCELED', eventSeq: 2 })
    expect(await s.balance()).toEqual({ available: 100n, reserved: 0n })
    expect(await postingsUnder('refund', refund.id)).toEqual({
      [`#hold ${merchantAvailable}`]: -40n,
      [`#hold ${merchantReserved}`]: 40n,
      [`#release ${merchantAvailable}`]: 40n,
      [`#release ${merchantReserved}`]: -40n,
    })
    expect((await refundEventsOf(refund.id)).map((e) => e.type)).toEqual([
      'refund.created',
      'refund.canceled',
    ])
    expect((await auditOf(refund.id)).map((a) => [a.action, a.actor])).toEqual([
      ['refund.created', 'key_refunder'],
      ['refund.canceled', 'key_refunder'],
    ])
    expect((await s.refundable(p)).credited).toBe(100n)
    // the canceled link is closed
    expect(await rejection(claimRefund(s.ctx, refund.id, refund.linkSecret, buyer))).toMatchObject({
      code: 'REFUND_LINK_USED',
    })
    expect((await s.refund(p, { to: buyer })).refund.amount).toBe(100n)
  })

  test('behavior: a queued refund of uncredited funds: its payout is canceled and the funds go back to gateway:uncredited', async () => {
    const s = setup()
    const { p, refund } = await uncreditedRefund(s)
    expect(await s.balance()).toEqual({ available: 500n, reserved: 40n })
    const canceled = await cancelRefund(s.ctx, shop, refund.id, { cli: true })
    expect(canceled.status).toBe('CANCELED')
    const w = await withdrawalOf(refund)
    expect(w.status).toBe('CANCELED')
    expect(await postingsUnder('withdrawal', w.id)).toEqual(uncreditedReleased(40n))
    // back where it came from: not the merchant's available balance
    expect(await s.balance()).toEqual({ available: 500n, reserved: 0n })
    expect(await s.uncredited()).toBe(0n)
    // the refund says canceled, not failed
    expect((await refundEventsOf(refund.id)).map((e) => [e.type, e.status])).toEqual([
      ['refund.created', 'PENDING'],
      ['refund.canceled', 'CANCELED'],
    ])
    expect((await refundRow(refund.id)).failureReason).toBeNull()
    expect((await auditOf(refund.id)).at(-1)).toMatchObject({ action: 'refund.canceled', actor: 'cli' })
    expect((await s.refundable(p)).uncredited).toBe(40n)
  })

  test('behavior: a refund awaiting approval is canceled with its payout', async () => {
    const s = setup({ approvalAbove: 50n })
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { to: buyer, amount: s.units(60n) })
    expect((await withdrawalOf(refund)).status).toBe('AWAITING_APPROVAL')
    await cancelRefund(s.ctx, shop, refund.id, actor)
    expect((await withdrawalOf(refund)).status).toBe('CANCELED')
    expect(await s.balance()).toEqual({ available: 100n, reserved: 0n })
  })

  test('error: refused with nothing written once its payout left the queue, when ended, or for another merchant', async () => {
    const s = setup()
    const p = await s.completed(100n)
    const batched = (await s.refund(p, { to: buyer, amount: s.units(10n) })).refund
    await db.transaction((tx) => transitionWithdrawal(tx, batched.withdrawalId!, ['QUEUED'], 'BATCHED'))
    const sent = (await s.refund(p, { to: buyer, amount: s.units(10n) })).refund
    await db.transaction((tx) => transitionWithdrawal(tx, sent.withdrawalId!, ['QUEUED'], 'BROADCAST'))
    const ended = (await s.refund(p, { amount: s.units(10n) })).refund
    await cancelRefund(s.ctx, shop, ended.id, actor)
    const open = (await s.refund(p, { amount: s.units(10n) })).refund
    expect((await refundRow(sent.id)).status).toBe('SENT')
    const before = await footprint()
    const cases: Array<[string, string, string]> = [
      [shop, batched.id, 'INVALID_STATE'],
      [shop, sent.id, 'INVALID_STATE'],
      [shop, ended.id, 'INVALID_STATE'],
      [otherShop, open.id, 'NOT_FOUND'],
      [shop, 'rf_missing', 'NOT_FOUND'],
      [shop, 42 as unknown as string, 'NOT_FOUND'],
      [shop, 'r'.repeat(10_240), 'NOT_FOUND'],
    ]
    for (const [who, id, code] of cases)
      expect(await rejection(cancelRefund(s.ctx, who, id, actor))).toMatchObject({ code, field: 'id' })
    expect(await footprint()).toEqual(before)
    expect((await refundRow(batched.id)).status).toBe('PENDING')
    expect((await withdrawalOf(batched)).status).toBe('BATCHED')
    expect((await refundRow(open.id)).status).toBe('AWAITING_ADDRESS')
  })
})

describe('refund progress', () => {
  test('default: the refund follows its payout to SENT and CONFIRMED with its events; settled, it leaves the books', async () => {
    const s = setup()
    const p = await s.underpaid(100n, 40n)
    const { refund } = await s.refund(p, { to: buyer })
    const move = (from: WithdrawalRow['status'], to: WithdrawalRow['status'], changes = {}) =>
      db.transaction((tx) => transitionWithdrawal(tx, refund.withdrawalId!, [from], to, changes))
    await move('QUEUED', 'BATCHED', { amountSent: 40n })
    expect((await refundRow(refund.id)).status).toBe('PENDING')
    await move('BATCHED', 'BROADCAST')
    expect(await refundRow(refund.id)).toMatchObject({ status: 'SENT', eventSeq: 2 })
    expect(await refundAmountSent(s.ctx, refund)).toBe(40n)
    const confirmed = await move('BROADCAST', 'CONFIRMED', { networkFee: 21n })
    expect(await refundRow(refund.id)).toMatchObject({ status: 'CONFIRMED', eventSeq: 3 })
    expect((await refundEventsOf(refund.id)).map((e) => [e.seq, e.type, e.status])).toEqual([
      [1, 'refund.created', 'PENDING'],
      [2, 'refund.sent', 'SENT'],
      [3, 'refund.confirmed', 'CONFIRMED'],
    ])
    // a late report of the payout changes nothing more
    await db.transaction((tx) =>
      transitionWithdrawal(tx, refund.withdrawalId!, ['CONFIRMED'], 'CONFIRMED', {}),
    )
    expect((await refundRow(refund.id)).status).toBe('CONFIRMED')
    expect(await refundEventsOf(refund.id)).toHaveLength(3)

    await db.transaction((tx) =>
      postWithdrawalSettle(tx, confirmed!, { nativeAsset: s.toy.native.id, amount: 21n }),
    )
    expect(await s.balance()).toEqual({ available: 0n, reserved: 0n })
    // paid out of the payment's deposits: gateway:uncredited keeps what left through the treasury
    expect(await s.uncredited()).toBe(-40n)
  })

  test('behavior: a failed payout fails the refund with its reason; released, the funds are refundable again', async () => {
    const s = setup()
    const { p, refund } = await uncreditedRefund(s)
    await failPayout(refund, { failureReason: 'nonce too low' })
    expect(await refundRow(refund.id)).toMatchObject({ status: 'FAILED', failureReason: 'nonce too low' })
    expect((await refundEventsOf(refund.id)).map((e) => [e.type, e.data])).toEqual([
      ['refund.created', {}],
      ['refund.failed', { reason: 'nonce too low' }],
    ])
    expect(await s.balance()).toEqual({ available: 500n, reserved: 0n })
    expect(await s.uncredited()).toBe(0n)
    // nothing went back: the payment is open again, no longer REFUNDED nor an exception "paid after a refund"
    const reopened = await paymentRow(db, p.id)
    expect(reopened.resolution).toBeNull()
    expect(await s.exception(p)).toBe('UNDERPAID')
    expect((await s.refundable(p)).uncredited).toBe(40n)
    expect((await s.refund(p, { to: buyer })).refund.amount).toBe(40n)
  })

  test('behavior: an approver’s rejection of the payout fails the refund and returns the balance', async () => {
    const s = setup({ approvalAbove: 50n })
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { to: buyer, amount: s.units(60n) })
    await decideWithdrawal(s.ctx, shop, refund.withdrawalId!, { approve: false, keyId: 'key_admin' })
    expect(await refundRow(refund.id)).toMatchObject({
      status: 'FAILED',
      failureReason: 'its payout was canceled or rejected',
    })
    expect(await s.balance()).toEqual({ available: 100n, reserved: 0n })
  })

  test('behavior: the refund outbox becomes deliveries with the refund as payload for a refund.* endpoint', async () => {
    const merchantId = await unitMerchant(handle, 'Hooked Shop')
    const s = setup({ merchantId })
    const hooks = unitWebhookContext(handle, { allowInternal: true }, chains)
    const { endpoint } = await createWebhookEndpoint(hooks, merchantId, {
      url: 'http://127.0.0.1:9/refunds',
      events: ['refund.created', 'refund.sent', 'refund.confirmed', 'refund.failed', 'refund.canceled'],
    })
    const { endpoint: payments } = await createWebhookEndpoint(hooks, merchantId, {
      url: 'http://127.0.0.1:9/payments',
      events: ['payment.completed'],
    })
    const p = await s.completed(100n)
    const { refund } = await s.refund(p, { to: buyer, amount: s.units(40n), reason: 'damaged' })
    const link = (await s.refund(p, { amount: s.units(5n) })).refund
    await cancelRefund(s.ctx, merchantId, link.id, actor)
    await db.transaction(async (tx) => {
      await transitionWithdrawal(tx, refund.withdrawalId!, ['QUEUED'], 'BROADCAST')
      await transitionWithdrawal(tx, refund.withdrawalId!, ['BROADCAST'], 'CONFIRMED')
    })
    await dispatchWebhookEvents(hooks)
    const deliveries = await db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.merchantId, merchantId))
      .orderBy(asc(webhookDeliveries.eventId))
    expect(deliveries.filter((d) => d.endpointId === payments.id).map((d) => d.eventType)).toEqual([
      'payment.completed',
    ])
    const toRefunds = deliveries.filter((d) => d.endpointId === endpoint.id)
    expect(toRefunds.map((d) => [d.eventId, d.eventType]).sort()).toEqual(
      [
        [`evt_${refund.id.slice(3)}_1`, 'refund.created'],
        [`evt_${refund.id.slice(3)}_2`, 'refund.sent'],
        [`evt_${refund.id.slice(3)}_3`, 'refund.confirmed'],
        [`evt_${link.id.slice(3)}_1`, 'refund.created'],
        [`evt_${link.id.slice(3)}_2`, 'refund.canceled'],
      ].sort(),
    )
    const sentEvent = toRefunds.find((d) => d.eventType === 'refund.sent')!
    expect(sentEvent.payload).toMatchObject({
      id: `evt_${refund.id.slice(3)}_2`,
      type: 'refund.sent',
      sequence: 2,
      data: {
        object: 'refund',
        id: refund.id,
        status: 'CONFIRMED',
        paymentId: p.id,
        chain: s.chain,
        asset: { id: s.toy.native.id, symbol: 'TOY', decimals: 8 },
        amount: '0.0000004',
        source: 'BALANCE',
        overpayment: false,
        feePaidBy: 'MERCHANT',
        to: buyer,
        withdrawalId: refund.withdrawalId,
        reason: 'damaged',
        failureReason: null,
      },
    })
    expect(toRefunds.find((d) => d.eventId === `evt_${link.id.slice(3)}_2`)!.payload).toMatchObject({
      data: { id: link.id, status: 'CANCELED', to: null, withdrawalId: null, amount: '0.00000005' },
    })
    // dispatched once: a second pass finds nothing
    expect(await dispatchWebhookEvents(hooks)).toEqual([])
    const undispatched = await db
      .select()
      .from(refundEvents)
      .where(and(eq(refundEvents.merchantId, merchantId), eq(refundEvents.dispatched, false)))
    expect(undispatched).toEqual([])
  })
})

describe('settlement postings', () => {
  test('behavior: a fee taken out of the amount: the treasury paid amountSent, the rest goes to operator:fees', async () => {
    const s = setup()
    const p = await s.completed(1000n)
    const { refund } = await s.refund(p, { to: buyer })
    const w = await db.transaction((tx) =>
      transitionWithdrawal(tx, refund.withdrawalId!, ['QUEUED'], 'CONFIRMED', {
        amountSent: 979n,
        networkFee: 21n,
      }),
    )
    await db.transaction((tx) => postWithdrawalSettle(tx, w!, { nativeAsset: s.toy.native.id, amount: 21n }))
    expect(await postingsUnder('withdrawal', w!.id)).toEqual({
      '#fee gateway:treasury': 21n,
      [`#fee ${operatorFees}`]: -21n,
      [`#reserve ${merchantAvailable}`]: -1000n,
      [`#reserve ${merchantReserved}`]: 1000n,
      '#settle gateway:treasury': 979n,
      [`#settle ${merchantReserved}`]: -1000n,
      [`#settle ${operatorFees}`]: 21n,
    })
    // the buyer bore the fee: the operator's fee account nets to nothing on this chain
    const fees = await accountTotals(db, { accounts: [operatorFees, 'gateway:treasury'], chain: s.chain })
    expect(fees.map((f) => [f.account, f.total]).sort()).toEqual([
      ['gateway:treasury', 1000n],
      [operatorFees, 0n],
    ])
    expect(await s.balance()).toEqual({ available: 0n, reserved: 0n })
  })

  test('behavior: a released refund of uncredited funds goes back to gateway:uncredited, never to the available balance', async () => {
    const s = setup()
    const { p, refund } = await uncreditedRefund(s)
    const w = await failPayout(refund)
    expect(await postingsUnder('withdrawal', w.id)).toEqual(uncreditedReleased(40n))
    expect(await s.balance()).toEqual({ available: 500n, reserved: 0n })
    expect(await s.uncredited()).toBe(0n)
    expect(await creditOf(db, p.id)).toBe(0n)
  })
})
