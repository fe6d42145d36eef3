import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Transaction } from 'bitcoinjs-lib'
import { p2wpkhAddress } from '../../src/plugins/bitcoin/derive.ts'
import { bitcoinNetworks } from '../../src/plugins/bitcoin/networks.ts'
import { regtestKey } from '../helpers/bcoin.ts'
import { startBitcoinGateway } from '../helpers/money-gateways.ts'
import {
  balanceOf,
  baseUnits,
  createPayment,
  endUnderpaid,
  expectReconciled,
  expectUnderpaidOpen,
  expectUnderpaidRefunded,
  paymentOf,
  postedTo,
  refundConfirmed,
  refundFootprint,
  refundPayment,
  waitPayment,
} from '../helpers/refunds.ts'

// Refunds on Bitcoin with real gateway processes on a bcoin regtest node: an underpaid payment's uncredited coins
// and part of a completed payment's credit go back to the buyer from the treasury (which holds the completed
// payment's consolidated deposit), the fee comes out of the refund when the merchant says so, and the
// reconciliation finds the books and the node in agreement after each one.
let btc: Awaited<ReturnType<typeof startBitcoinGateway>>
/** Paid in full (1 BTC): its deposit is consolidated into the treasury, which pays every refund here. */
let completed: { id: string; address: string }
/** 0.2 BTC of 0.5 arrived, then its deadline passed: UNDERPAID, 0.2 BTC uncredited. */
let underpaid: { id: string; address: string }

const chain = 'regtest'
const gql = (query: string, variables: Record<string, unknown> = {}) => btc.gateway.gql(query, variables)
const sats = (decimal: string) => baseUnits(decimal, 8)
const balance = () => balanceOf(gql, chain, 'BTC', 8)

/** The outputs of the refund's transaction (read from the node) that pay `script`, by value. */
async function paidTo(txHash: string, script: Uint8Array): Promise<bigint[]> {
  const tx = Transaction.fromHex(await btc.node.rpc<string>('getrawtransaction', [txHash, false]))
  return tx.outs.filter((o) => Buffer.from(o.script).equals(Buffer.from(script))).map((o) => o.value)
}

beforeAll(async () => {
  btc = await startBitcoinGateway('Bitcoin refunds shop')
  completed = await createPayment(gql, chain, 'BTC', '1')
  underpaid = await createPayment(gql, chain, 'BTC', '0.5')
  await btc.node.send(completed.address, 100_000_000n)
  await btc.node.send(underpaid.address, 20_000_000n)
  btc.startMining(300)
  await endUnderpaid(gql, btc.sql, underpaid.id, '0.2')
  await waitPayment(gql, completed.id, 'COMPLETED', (p) => p.status === 'COMPLETED')
  await btc.waitConsolidated("the completed payment's deposit consolidated into the treasury", 30_000)
}, 90_000)

afterAll(() => btc?.stop())

describe('refunds on Bitcoin (bcoin regtest)', () => {
  test("behavior: an UNDERPAID payment's uncredited coins go to the buyer's address whole; the merchant's balance does not move; books = node", async () => {
    await expectUnderpaidOpen(gql, underpaid.id, '0.2')
    const before = await balance()
    expect(before).toEqual({ available: 100_000_000n, reserved: 0n })
    const buyer = regtestKey('refund buyer: underpaid')
    const done = await refundConfirmed(
      gql,
      {
        paymentId: underpaid.id,
        to: buyer.address,
        reason: 'short payment returned',
        idempotencyKey: 'rf-underpaid',
      },
      { source: 'UNCREDITED', amount: '0.2', feePaidBy: 'MERCHANT', to: buyer.address },
    )
    expect(done).toMatchObject({ amountSent: '0.2', withdrawal: { status: 'CONFIRMED' } })
    expect(await paidTo(done.withdrawal!.txHash!, buyer.script)).toEqual([20_000_000n])
    // paid by the treasury: the payment's own deposit stays unspent at its address (nothing sweeps it)
    const [deposit] = await btc.sql`select tx_hash from transfers where payment_id = ${underpaid.id}`
    const spends = Transaction.fromHex(
      await btc.node.rpc<string>('getrawtransaction', [done.withdrawal!.txHash!, false]),
    ).ins.map((i) => Buffer.from(i.hash).reverse().toString('hex'))
    expect(deposit!.tx_hash).toBeString()
    expect(spends).not.toContain(deposit!.tx_hash)

    expect(await balance()).toEqual(before)
    // the refund was taken from what the gateway holds uncredited, never from the merchant
    await expectUnderpaidRefunded(gql, btc.sql, underpaid.id, done.withdrawal!.id, 20_000_000n)
    await expectReconciled(btc.env, chain)
  }, 60_000)

  test('behavior: part of a COMPLETED payment refunded from the balance: the buyer gets exactly that, the balance falls by exactly that; books = node', async () => {
    const before = await balance()
    const buyer = regtestKey('refund buyer: partial')
    const done = await refundConfirmed(
      gql,
      { paymentId: completed.id, amount: '0.1', to: buyer.address, idempotencyKey: 'rf-partial' },
      { source: 'BALANCE', amount: '0.1', feePaidBy: 'MERCHANT' },
    )
    expect(done.amountSent).toBe('0.1')
    expect(await paidTo(done.withdrawal!.txHash!, buyer.script)).toEqual([10_000_000n])
    expect(await balance()).toEqual({ available: before.available - 10_000_000n, reserved: before.reserved })
    expect(await paymentOf(gql, completed.id)).toMatchObject({
      status: 'COMPLETED',
      resolution: null,
      refundable: { credited: '0.9', uncredited: '0' },
    })
    await expectReconciled(btc.env, chain)
  }, 60_000)

  test('behavior: with setRefundFee(DEDUCTED) the buyer receives the amount less the fee (amountSent), the fee is booked, the balance falls by the amount; books = node', async () => {
    const set = await gql(
      'mutation { setRefundFee(refundFee: DEDUCTED) { __typename ... on RefundFeeSetting { refundFee } ... on UserError { code } } }',
    )
    expect(set.data.setRefundFee).toEqual({ __typename: 'RefundFeeSetting', refundFee: 'DEDUCTED' })
    expect((await gql('{ refundFee }')).data.refundFee).toBe('DEDUCTED')

    const before = await balance()
    const buyer = regtestKey('refund buyer: fee deducted')
    const done = await refundConfirmed(
      gql,
      { paymentId: completed.id, amount: '0.05', to: buyer.address, idempotencyKey: 'rf-deducted' },
      { source: 'BALANCE', amount: '0.05', feePaidBy: 'BUYER' },
    )
    const sent = sats(done.amountSent!)
    const fee = sats(done.withdrawal!.networkFee!)
    expect(fee).toBeGreaterThan(0n)
    expect(sent).toBeLessThan(5_000_000n)
    // the fee it carries is the first build's estimate, which covers what the sent transaction paid
    expect(5_000_000n - sent).toBeGreaterThanOrEqual(fee)
    expect(await paidTo(done.withdrawal!.txHash!, buyer.script)).toEqual([sent])
    const [outbound] = await btc.sql`select fee from outbound_txs where hash = ${done.withdrawal!.txHash!}`
    expect(BigInt(outbound!.fee)).toBe(fee)
    // built alone: the transaction pays the buyer and change, no other withdrawal
    const together = await btc.sql`select w.id from withdrawals w join outbound_txs o
      on o.id = w.outbound_tx_id where o.hash = ${done.withdrawal!.txHash!}`
    expect(together.map((r) => r.id)).toEqual([done.withdrawal!.id])
    // the recovered fee went to the operator's fee account; the merchant paid the whole amount, nothing more
    expect(await postedTo(btc.sql, `${done.withdrawal!.id}#settle`, 'operator:fees')).toBe(5_000_000n - sent)
    expect(await postedTo(btc.sql, `${done.withdrawal!.id}#settle`, 'gateway:treasury')).toBe(sent)
    expect(await balance()).toEqual({ available: before.available - 5_000_000n, reserved: before.reserved })
    expect((await paymentOf(gql, completed.id)).refundable.credited).toBe('0.85')
    await expectReconciled(btc.env, chain)
  }, 60_000)

  test('error: an address of another network (EVM 0x…, mainnet bc1…) is INVALID_ADDRESS on `to`; nothing is written', async () => {
    const footprint = await refundFootprint(btc.sql)
    const before = await balance()
    const payment = await paymentOf(gql, completed.id)
    const key = regtestKey('refund buyer: wrong network')
    const others = [`0x${'ab'.repeat(20)}`, p2wpkhAddress(key.publicKey, bitcoinNetworks.mainnet)]
    expect(others[1]).toStartWith('bc1q')
    for (const [i, to] of others.entries()) {
      const res = await refundPayment(gql, {
        paymentId: completed.id,
        amount: '0.01',
        to,
        idempotencyKey: `rf-wrong-network-${i}`,
      })
      expect(res).toMatchObject({ __typename: 'UserError', code: 'INVALID_ADDRESS', field: 'to' })
    }
    expect(await refundFootprint(btc.sql)).toEqual(footprint)
    expect(await balance()).toEqual(before)
    expect(await paymentOf(gql, completed.id)).toEqual(payment)
  })
})
