import { afterAll } from 'bun:test'
import { createHash } from 'node:crypto'
import type { AuditActor } from '../../src/core/access/audit.ts'
import { newId } from '../../src/core/ids.ts'
import { formatAmount } from '../../src/core/money.ts'
import type { PaymentRow } from '../../src/core/payments/queries.ts'
import { refreshPayments } from '../../src/core/payments/refresh.ts'
import { paymentException, refundableOf } from '../../src/core/payments/refundable.ts'
import { type RefundPaymentInput, refundPayment } from '../../src/core/payouts/refunds.ts'
import { type DbHandle, openDb } from '../../src/db/client.ts'
import { chainCursors, type KytState, kytChecks, transfers } from '../../src/db/schema/index.ts'
import { createTestDatabase } from './db.ts'
import { paymentRow, toyPayouts, unitScene } from './unit.ts'

/**
 * Real Postgres for one test file of the refund and resolution rooms: a database of its own, copied from the
 * migrated template, closed and dropped after the file's tests.
 *
 * @example
 * const handle = await refundSceneDb(4)
 */
export async function refundSceneDb(maxConnections: number): Promise<DbHandle> {
  const testDb = await createTestDatabase()
  const handle = await openDb({ url: testDb.url, maxConnections })
  afterAll(async () => {
    await handle.close()
    await testDb.drop()
  })
  return handle
}

/** Past every payment's deadline (payments are open for an hour). */
export const late = () => new Date(Date.now() + 2 * 3600_000)

/** How a deposit is stored; by default mined at the next height, confirmed and unscreened. */
export type DepositOptions = {
  /** `false`: mined above the verified tip (a later confirmed deposit confirms it too). */
  confirmed?: boolean
  /** Stored as the mempool (`pending`, in no block) or a reorg (`dropped`, `orphaned`) left it: never confirmed. */
  status?: 'pending' | 'dropped' | 'orphaned'
  /** The state of its screening (a kyt_checks row); none when not given. */
  kyt?: KytState
  /** The refresh's clock. */
  at?: Date
}

/**
 * A toy chain of its own whose treasury can pay refunds, with deposits written as the scanner stores them (a
 * transfer in a block, its screening when given) and the payment refreshed at the scanner's cursor; refunds
 * asked for as `actor` under keys of their own.
 *
 * @example
 * const s = refundScene(handle, { merchantId, name: 'refunds', actor: { keyId: 'key_1' } })
 * const p = await s.create(100n)
 * await s.deposit(p, 40n, { at: late() })
 * const { refund } = await s.refund(p, { to: 'toybuyer' })
 */
export function refundScene(
  handle: DbHandle,
  options: { merchantId: string; name: string; actor: AuditActor },
) {
  const { db } = handle
  const { merchantId, actor } = options
  const payouts = toyPayouts()
  const s = unitScene(handle, { merchantId, name: options.name, payouts: payouts.driver })
  const chain = s.toy.chain.name
  const ctx = { db, chains: s.payCtx.chains, xpubFor: s.payCtx.xpubFor }
  let tip = 0n
  let txNo = 0
  /** Moves the scanner's cursor to the tip (confirmations count up to it) and refreshes the payment at `at`. */
  const refresh = async (p: PaymentRow, at = new Date()) => {
    const cursor = { chain, height: tip, hash: `0xb${tip}` }
    await db
      .insert(chainCursors)
      .values(cursor)
      .onConflictDoUpdate({ target: chainCursors.chain, set: cursor })
    return db.transaction((tx) => refreshPayments(tx, { paymentIds: [p.id], now: at }))
  }
  /** Stores a transfer into the payment's address (and its screening) as the scanner would; no refresh. */
  const store = async (p: PaymentRow, amount: bigint, o: DepositOptions = {}) => {
    const height = tip + 1n
    if (o.confirmed !== false && !o.status) tip = height
    const txHash = `0x${createHash('sha256').update(`${chain}:${++txNo}`).digest('hex')}`
    const inBlock = o.status !== 'pending'
    const [t] = await db
      .insert(transfers)
      .values({
        id: newId('trf'),
        chain,
        txHash,
        index: 0,
        asset: p.asset,
        toAddress: p.address,
        amount,
        blockHeight: inBlock ? height : null,
        blockHash: inBlock ? `0xb${height}` : null,
        paymentId: p.id,
        status: o.status ?? 'seen',
      })
      .returning()
    if (o.kyt)
      await db.insert(kytChecks).values({
        id: newId('kyt'),
        merchantId,
        subjectType: 'transfer',
        subjectId: t!.id,
        paymentId: p.id,
        chain,
        direction: 'inbound',
        addresses: ['toysender'],
        asset: p.asset,
        amount,
        txHash,
        state: o.kyt,
      })
    return t!
  }
  /** A deposit stored (see {@link DepositOptions}), then the payment refreshed at `o.at`; returns the transfer. */
  const deposit = async (p: PaymentRow, amount: bigint, o: DepositOptions = {}) => {
    const t = await store(p, amount, o)
    await refresh(p, o.at)
    return t
  }
  let keyNo = 0
  /** A refund of the payment asked for by `who` [the scene's merchant], under a key of its own. */
  const refund = (p: Pick<PaymentRow, 'id'>, input: Partial<RefundPaymentInput> = {}, who = merchantId) =>
    refundPayment(ctx, who, { paymentId: p.id, idempotencyKey: `${chain}-${++keyNo}`, ...input }, actor)
  /** `n` base units of the native coin as a decimal amount. */
  const units = (n: bigint) => formatAmount(n, s.toy.native.decimals)
  /** What is refundable of the payment as stored. */
  const refundable = async (p: Pick<PaymentRow, 'id'>) => refundableOf(db, await paymentRow(db, p.id))
  /** The payment's exception as stored, or null. */
  const exception = async (p: Pick<PaymentRow, 'id'>) => {
    const row = await paymentRow(db, p.id)
    return paymentException(row, await refundableOf(db, row))
  }
  return {
    ...s,
    payouts,
    merchantId,
    chain,
    ctx,
    tip: () => tip,
    refresh,
    store,
    deposit,
    refund,
    units,
    refundable,
    exception,
  }
}

export type RefundScene = ReturnType<typeof refundScene>
