import { afterAll, describe, expect, test } from 'bun:test'
import { and, eq, like } from 'drizzle-orm'
import { openUnitDb, type ToyTransfer, toyChain, unitKeys, unitMerchant } from '../../../test/helpers/unit.ts'
import { chainCursors, ledgerPostings, payments, transfers } from '../../db/schema/index.ts'
import { merchantAvailable } from '../ledger/postings.ts'
import { formatAmount } from '../money.ts'
import { createPayment, type PaymentsContext } from '../payments/create.ts'
import type { PaymentRow } from '../payments/queries.ts'
import { resumeChain } from './reorg.ts'
import { newScannerState, type SyncContext, syncChain } from './sync.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const db = handle.db
const merchantId = await unitMerchant(handle)
const { xpubFor } = unitKeys()
const log = { info() {}, warn() {}, error() {} }
let chains = 0

function setup(options: Parameters<typeof toyChain>[0] = {}) {
  const toy = toyChain({ ...options, name: `edge${++chains}` })
  const payCtx: PaymentsContext = {
    db,
    query: handle.query,
    xpubFor,
    addressPoolSize: 5,
    requestPoolRefill: () => {},
    chains: new Map([[toy.chain.name, toy.chain]]),
    payments: { defaultExpiresIn: 3600, maxExpiresIn: 86_400, toleranceBps: 0 },
  }
  const syncCtx: SyncContext = { db, log, scanner: newScannerState() }
  const create = async (amount: bigint) =>
    (
      await createPayment(payCtx, merchantId, {
        chain: toy.chain.name,
        asset: 'TOY',
        amount: formatAmount(amount, 8),
      })
    ).payment
  const pay = (p: PaymentRow, txHash: string, amount: bigint): ToyTransfer => ({
    txHash,
    index: -1,
    asset: toy.native.id,
    to: p.address,
    amount,
  })
  return { toy, syncCtx, create, pay, sync: () => syncChain(syncCtx, toy.chain) }
}
const paymentRow = async (id: string) => (await db.select().from(payments).where(eq(payments.id, id)))[0]!
const creditOf = async (paymentId: string) =>
  (
    await db
      .select({ amount: ledgerPostings.amount })
      .from(ledgerPostings)
      .where(
        and(
          eq(ledgerPostings.refType, 'payment'),
          like(ledgerPostings.refId, `${paymentId}#%`),
          eq(ledgerPostings.account, merchantAvailable),
        ),
      )
  ).reduce((s, p) => s + p.amount, 0n)

describe('scanning edges', () => {
  test('behavior: a reorg that takes away a confirmed overpayment takes its credit back', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 6 })
    const p = await create(100n)
    toy.mine([pay(p, '0x01', 100n)])
    toy.mineEmpty(2)
    await sync() // COMPLETED, credited 100 under ref `#2:100`
    toy.mine([pay(p, '0x02', 50n)])
    await sync() // COMPLETED, confirmed 150, credited 150 (ref `#2:150`)
    expect(await creditOf(p.id)).toBe(150n)
    toy.reorg(1, [[], []]) // the overpayment vanishes: confirmed back to 100, same status, same seq
    await sync()
    expect(await paymentRow(p.id)).toMatchObject({ status: 'COMPLETED', amountConfirmed: 100n })
    expect(await creditOf(p.id)).toBe(100n)
  })

  test('behavior: a transfer re-included in a block after the deadline is late', async () => {
    const { toy, create, pay, sync } = setup({ confirmations: 1, finalityDepth: 6 })
    const p = await create(100n)
    toy.blocks[0]!.time = Math.floor(p.expiresAt.getTime() / 1000) - 30 // blocks 1, 2 before, 3 after the deadline
    toy.mine([pay(p, '0x03', 100n)])
    toy.mineEmpty(1)
    await sync()
    toy.reorg(2, [[], [], [pay(p, '0x03', 100n)]]) // the same transaction, now in block 3
    await sync()
    const [row] = await db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(row).toMatchObject({ blockHeight: 3n, status: 'confirmed' })
    expect(row!.late).toBe(true)
  })

  test('behavior: a reorg exactly finalityDepth deep is followed, not halted', async () => {
    const { toy, sync } = setup({ finalityDepth: 3 })
    toy.mineEmpty(5)
    await sync()
    toy.reorg(3, [[], [], []]) // blocks 3..5 replaced; block 2 (= cursor - finalityDepth) is in the stored window
    const result = await sync()
    expect(result.halted).toBeUndefined()
    expect(result.reorgDepth).toBe(3)
  })

  test('error: resuming above the next unscanned block is refused, since the blocks between would never be scanned', async () => {
    const { toy, syncCtx, create, pay, sync } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mineEmpty(2)
    await sync() // cursor 2
    toy.mine([pay(p, '0x04', 100n)]) // height 3, not scanned yet
    toy.mineEmpty(5)
    const refused = await resumeChain(syncCtx, toy.chain, 6n).catch((err: unknown) => err) // a mistyped --from
    expect(refused).toMatchObject({ code: 'INVALID_INPUT', field: 'fromHeight' })
    const [cursor] = await db.select().from(chainCursors).where(eq(chainCursors.chain, toy.chain.name))
    expect(cursor!.height).toBe(2n)
    await resumeChain(syncCtx, toy.chain, 3n) // the next unscanned block is allowed
    await sync()
    expect(await paymentRow(p.id)).toMatchObject({ amountReceived: 100n })
  })
})
