import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Transaction } from 'bitcoinjs-lib'
import postgres from 'postgres'
import { p2wpkhAddress } from '../../src/plugins/bitcoin/derive.ts'
import { bitcoinNetworks } from '../../src/plugins/bitcoin/networks.ts'
import { regtestKey } from '../helpers/bcoin.ts'
import { startBitcoinGateway } from '../helpers/money-gateways.ts'
import { waitFor } from '../helpers/processes.ts'
import {
  balanceOf,
  baseUnits,
  createPayment,
  expectReconciled,
  passDeadline,
  paymentOf,
  postedTo,
  refundFootprint,
  refundPayment,
  waitPayment,
  waitRefundConfirmed,
} from '../helpers/refunds.ts'

// Refunds on Bitcoin with real gateway processes on a bcoin regtest node: an underpaid payment's uncredited coins
// and part of a completed payment's credit go back to the buyer from the treasury (which holds the completed
// payment's consolidated deposit), the fee comes out of the refund when the merchant says so, and the
// reconciliation finds the books and the node in agreement after each one.
let btc: Awaited<ReturnType<typeof startBitcoinGateway>>
let sql: postgres.Sql
let miner: ReturnType<typeof setInterval> | undefined
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
  sql = postgres(btc.db.url, { max: 1 })
  completed = await createPayment(gql, chain, 'BTC', '1')
  underpaid = await createPayment(gql, chain, 'BTC', '0.5')
  await btc.node.send(completed.address, 100_000_000n)
  await btc.node.send(underpaid.address, 20_000_000n)
  miner = setInterval(() => btc.node.mine(1).catch(() => {}), 300)
  await waitPayment(gql, underpaid.id, 'partly paid, confirmed', (p) => p.amountConfirmed === '0.2')
  await passDeadline(sql, underpaid.id)
  await waitPayment(gql, underpaid.id, 'UNDERPAID', (p) => p.status === 'UNDERPAID')
  await waitPayment(gql, completed.id, 'COMPLETED', (p) => p.status === 'COMPLETED')
  await waitFor(
    "the completed payment's deposit consolidated into the treasury",
    async () => {
      const rows = await sql`select status from outbound_txs where purpose = 'sweep'`
      return rows.length === 1 && rows[0]!.status === 'confirmed'
    },
    30_000,
  )
}, 90_000)

afterAll(async () => {
  if (miner) clearInterval(miner)
  await sql?.end()
  await btc?.stop()
})

describe('refunds on Bitcoin (bcoin regtest)', () => {
  test("behavior: an UNDERPAID payment's uncredited coins go to the buyer's address whole; the merchant's balance does not move; books = node", async () => {
    expect(await paymentOf(gql, underpaid.id)).toMatchObject({
      status: 'UNDERPAID',
      exception: 'UNDERPAID',
      resolution: null,
      refundable: { uncredited: '0.2', credited: '0' },
    })
    const before = await balance()
    expect(before).toEqual({ available: 100_000_000n, reserved: 0n })
    const buyer = regtestKey('refund buyer: underpaid')
    const res = await refundPayment(gql, {
      paymentId: underpaid.id,
      to: buyer.address,
      reason: 'short payment returned',
      idempotencyKey: 'rf-underpaid',
    })
    expect(res).toMatchObject({
      __typename: 'RefundPaymentPayload',
      replayed: false,
      refund: {
        status: 'PENDING',
        source: 'UNCREDITED',
        amount: '0.2',
        feePaidBy: 'MERCHANT',
        to: buyer.address,
      },
    })
    if (res.__typename !== 'RefundPaymentPayload') throw new Error('refused')

    const done = await waitRefundConfirmed(gql, res.refund.id)
    expect(done).toMatchObject({ amountSent: '0.2', withdrawal: { status: 'CONFIRMED' } })
    expect(await paidTo(done.withdrawal!.txHash!, buyer.script)).toEqual([20_000_000n])
    // paid by the treasury: the payment's own deposit stays unspent at its address (nothing sweeps it)
    const [deposit] = await sql`select tx_hash from transfers where payment_id = ${underpaid.id}`
    const spends = Transaction.fromHex(
      await btc.node.rpc<string>('getrawtransaction', [done.withdrawal!.txHash!, false]),
    ).ins.map((i) => Buffer.from(i.hash).reverse().toString('hex'))
    expect(deposit!.tx_hash).toBeString()
    expect(spends).not.toContain(deposit!.tx_hash)

    expect(await balance()).toEqual(before)
    expect(await paymentOf(gql, underpaid.id)).toMatchObject({
      status: 'UNDERPAID',
      resolution: 'REFUNDED',
      exception: null,
      refundable: { uncredited: '0', credited: '0' },
    })
    // the refund was taken from what the gateway holds uncredited, never from the merchant
    expect(await postedTo(sql, `${done.withdrawal!.id}#reserve`, 'gateway:uncredited')).toBe(-20_000_000n)
    expect(await postedTo(sql, `${done.withdrawal!.id}#reserve`, 'merchant:available')).toBe(0n)
    await expectReconciled(btc.env, chain)
  }, 60_000)

  test('behavior: part of a COMPLETED payment refunded from the balance: the buyer gets exactly that, the balance falls by exactly that; books = node', async () => {
    const before = await balance()
    const buyer = regtestKey('refund buyer: partial')
    const res = await refundPayment(gql, {
      paymentId: completed.id,
      amount: '0.1',
      to: buyer.address,
      idempotencyKey: 'rf-partial',
    })
    expect(res).toMatchObject({
      __typename: 'RefundPaymentPayload',
      refund: { status: 'PENDING', source: 'BALANCE', amount: '0.1', feePaidBy: 'MERCHANT' },
    })
    if (res.__typename !== 'RefundPaymentPayload') throw new Error('refused')

    const done = await waitRefundConfirmed(gql, res.refund.id)
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
    const res = await refundPayment(gql, {
      paymentId: completed.id,
      amount: '0.05',
      to: buyer.address,
      idempotencyKey: 'rf-deducted',
    })
    expect(res).toMatchObject({
      __typename: 'RefundPaymentPayload',
      refund: { status: 'PENDING', source: 'BALANCE', amount: '0.05', feePaidBy: 'BUYER' },
    })
    if (res.__typename !== 'RefundPaymentPayload') throw new Error('refused')

    const done = await waitRefundConfirmed(gql, res.refund.id)
    const sent = sats(done.amountSent!)
    const fee = sats(done.withdrawal!.networkFee!)
    expect(fee).toBeGreaterThan(0n)
    expect(sent).toBeLessThan(5_000_000n)
    // the fee it carries is the first build's estimate, which covers what the sent transaction paid
    expect(5_000_000n - sent).toBeGreaterThanOrEqual(fee)
    expect(await paidTo(done.withdrawal!.txHash!, buyer.script)).toEqual([sent])
    const [outbound] = await sql`select fee from outbound_txs where hash = ${done.withdrawal!.txHash!}`
    expect(BigInt(outbound!.fee)).toBe(fee)
    // built alone: the transaction pays the buyer and change, no other withdrawal
    const together = await sql`select w.id from withdrawals w join outbound_txs o
      on o.id = w.outbound_tx_id where o.hash = ${done.withdrawal!.txHash!}`
    expect(together.map((r) => r.id)).toEqual([done.withdrawal!.id])
    // the recovered fee went to the operator's fee account; the merchant paid the whole amount, nothing more
    expect(await postedTo(sql, `${done.withdrawal!.id}#settle`, 'operator:fees')).toBe(5_000_000n - sent)
    expect(await postedTo(sql, `${done.withdrawal!.id}#settle`, 'gateway:treasury')).toBe(sent)
    expect(await balance()).toEqual({ available: before.available - 5_000_000n, reserved: before.reserved })
    expect((await paymentOf(gql, completed.id)).refundable.credited).toBe('0.85')
    await expectReconciled(btc.env, chain)
  }, 60_000)

  test('error: an address of another network (EVM 0x…, mainnet bc1…) is INVALID_ADDRESS on `to`; nothing is written', async () => {
    const footprint = await refundFootprint(sql)
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
    expect(await refundFootprint(sql)).toEqual(footprint)
    expect(await balance()).toEqual(before)
    expect(await paymentOf(gql, completed.id)).toEqual(payment)
  })
})
