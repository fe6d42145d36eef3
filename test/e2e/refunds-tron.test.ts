import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { AssetInfo } from '@tollgate/sdk'
import { startTronGateway } from '../helpers/money-gateways.ts'
import { spawnCli, waitFor } from '../helpers/processes.ts'
import {
  balanceOf,
  createPayment,
  endUnderpaid,
  expectReconciled,
  expectUnderpaidOpen,
  expectUnderpaidRefunded,
  fundingBooked,
  paymentOf,
  refundConfirmed,
  waitPayment,
} from '../helpers/refunds.ts'
import { USDT_MAINNET } from '../tron-node/server.ts'

// Refunds on Tron with real gateway processes against the stand-in node: an underpaid TRX payment's uncredited
// funds and part of a completed USDT payment's credit go back to buyers (fresh, never-activated accounts) from
// the treasury, and the reconciliation finds every wallet equal to the ledger after each one.
let tron: Awaited<ReturnType<typeof startTronGateway>>
let trx: AssetInfo
let usdt: AssetInfo
/** 100 USDT paid in full: credited, then swept into the treasury. */
let completed: { id: string; address: string }
/** 20 TRX of 50 arrived, then its deadline passed: UNDERPAID, 20 TRX uncredited. */
let underpaid: { id: string; address: string }
/** The operator's funding the reconciliation booked once the setup settled (the treasury's TRX float). */
let fundingAfterSetup: string

const chain = 'tron'
const gql = (query: string, variables: Record<string, unknown> = {}) => tron.gateway.gql(query, variables)
const balances = async () => ({
  trx: await balanceOf(gql, chain, 'TRX', 6),
  usdt: await balanceOf(gql, chain, 'USDT', 6),
})

beforeAll(async () => {
  tron = await startTronGateway('Tron refunds shop')
  trx = tron.driver.nativeAsset
  usdt = tron.driver.assets.find((a) => a.symbol === 'USDT')!
  tron.node.fund(tron.payer, 100_000_000_000n)
  tron.node.mint(USDT_MAINNET, tron.payer, 1_000_000_000n)
  // the burning gas tank pays the USDT sweep's energy; the treasury's TRX pays refunds of TRX and payouts' fees
  tron.node.fund(tron.wallet('gas', 0), 200_000_000n)
  tron.node.fund(tron.wallet('treasury', 0), 500_000_000n)

  completed = await createPayment(gql, chain, 'USDT', '100')
  underpaid = await createPayment(gql, chain, 'TRX', '50')
  await tron.pay(completed.address, usdt, 100_000_000n)
  await tron.pay(underpaid.address, trx, 20_000_000n)
  tron.startMining(100)

  await endUnderpaid(gql, tron.sql, underpaid.id, '20')
  await waitPayment(gql, completed.id, 'COMPLETED', (p) => p.status === 'COMPLETED')
  await waitFor(
    "the completed payment's USDT swept into the treasury",
    async () => {
      const sweeps = await tron.sql`select status from sweeps where chain = ${chain}`
      return (
        sweeps.length === 1 &&
        sweeps[0]!.status === 'done' &&
        (await tron.driver.payouts!.balance(tron.wallet('treasury', 0), usdt)) === 100_000_000n
      )
    },
    30_000,
  )
  await waitFor('nothing in flight', async () => {
    const open = await tron.sql`select 1 from outbound_txs where status in ('built', 'signed', 'broadcast')`
    return open.length === 0
  })
  // the operator's TRX float in the treasury (and the gas tank) is booked as their funding, once
  const run = spawnCli(['reconcile', '--chain', chain, '--json'], tron.env)
  await run.proc.exited
  const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
  expect(report.discrepancies).toEqual([])
  fundingAfterSetup = await fundingBooked(tron.sql, chain)
}, 90_000)

afterAll(() => tron?.stop())

describe('refunds on Tron (stand-in node)', () => {
  test("behavior: an UNDERPAID TRX payment's uncredited funds go to the buyer's address whole; the merchant's balances do not move; ledger = chain", async () => {
    await expectUnderpaidOpen(gql, underpaid.id, '20')
    const before = await balances()
    expect(before.usdt).toEqual({ available: 100_000_000n, reserved: 0n })
    const buyer = tron.outsider()
    const done = await refundConfirmed(
      gql,
      {
        paymentId: underpaid.id,
        to: buyer,
        reason: 'short payment returned',
        idempotencyKey: 'rf-underpaid',
      },
      { source: 'UNCREDITED', amount: '20', feePaidBy: 'MERCHANT', to: buyer },
    )
    expect(done).toMatchObject({ amountSent: '20', withdrawal: { status: 'CONFIRMED' } })
    expect(done.withdrawal!.txHash).toBeString()
    expect(await tron.driver.payouts!.balance(buyer, trx)).toBe(20_000_000n)
    // paid by the treasury: the payment's own deposit stays where it arrived
    expect(await tron.driver.payouts!.balance(underpaid.address, trx)).toBe(20_000_000n)

    expect(await balances()).toEqual(before)
    await expectUnderpaidRefunded(gql, tron.sql, underpaid.id, done.withdrawal!.id, 20_000_000n)
    await expectReconciled(tron.env, chain)
    expect(await fundingBooked(tron.sql, chain)).toBe(fundingAfterSetup)
  }, 60_000)

  test('behavior: part of a COMPLETED USDT payment refunded from the balance: the buyer gets exactly that, the balance falls by exactly that; ledger = chain', async () => {
    const before = await balances()
    const buyer = tron.outsider()
    const done = await refundConfirmed(
      gql,
      { paymentId: completed.id, amount: '30', to: buyer, idempotencyKey: 'rf-partial' },
      { source: 'BALANCE', amount: '30', feePaidBy: 'MERCHANT', to: buyer },
    )
    expect(done).toMatchObject({ amountSent: '30', withdrawal: { status: 'CONFIRMED' } })
    expect(await tron.driver.payouts!.balance(buyer, usdt)).toBe(30_000_000n)
    expect(await balances()).toEqual({
      trx: before.trx,
      usdt: { available: before.usdt.available - 30_000_000n, reserved: before.usdt.reserved },
    })
    expect(await paymentOf(gql, completed.id)).toMatchObject({
      status: 'COMPLETED',
      resolution: null,
      refundable: { credited: '70', uncredited: '0' },
    })
    await expectReconciled(tron.env, chain)
    expect(await fundingBooked(tron.sql, chain)).toBe(fundingAfterSetup)
  }, 60_000)
})
