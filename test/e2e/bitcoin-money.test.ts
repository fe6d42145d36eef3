import { afterAll, beforeAll, expect, test } from 'bun:test'
import { Transaction } from 'bitcoinjs-lib'
import { regtestKey } from '../helpers/bcoin.ts'
import { startBitcoinGateway } from '../helpers/money-gateways.ts'
import { spawnCli, waitFor } from '../helpers/processes.ts'

// Bitcoin's whole money path with real gateway processes on a bcoin regtest node: payments complete at depth,
// their deposits are consolidated into the treasury in one transaction, twenty withdrawals go out as one
// transaction with twenty outputs (and change to a fresh internal address), and the reconciliation finds every
// coin the ledger counts unspent on the node, to the satoshi.
let btc: Awaited<ReturnType<typeof startBitcoinGateway>>

beforeAll(async () => {
  btc = await startBitcoinGateway('Bitcoin shop')
}, 90_000)

afterAll(() => btc?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => btc.gateway.gql(query, variables)

test('default: payments → COMPLETED → consolidated → 20 payouts in one transaction → ledger and node agree', async () => {
  const create = async (amount: string) =>
    (
      await gql(
        `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
          ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
        { input: { chain: 'regtest', asset: 'BTC', amount } },
      )
    ).data.createPayment.payment as { id: string; address: string }
  const amounts = [50_000_000n, 30_000_000n, 20_000_000n]
  const payments = [await create('0.5'), await create('0.3'), await create('0.2')]
  for (const [i, p] of payments.entries()) await btc.node.send(p.address, amounts[i]!)
  btc.startMining(300)

  await btc.waitConsolidated('deposits consolidated into the treasury', 40_000)
  const [sweep] = await btc.sql`select hash, amount, fee, spends from outbound_txs where purpose = 'sweep'`
  expect(sweep!.spends.length).toBe(3)
  expect(BigInt(sweep!.amount) + BigInt(sweep!.fee)).toBe(100_000_000n)

  // twenty payouts to fresh addresses, of several output types
  const recipients = Array.from({ length: 20 }, (_, i) => regtestKey(`payout ${i}`).address)
  for (const [i, to] of recipients.entries()) {
    const res = await gql(
      `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
        ... on RequestWithdrawalPayload { withdrawal { status } } ... on UserError { code message } } }`,
      {
        input: {
          chain: 'regtest',
          asset: 'BTC',
          to,
          amount: `0.0${(i % 9) + 1}`,
          idempotencyKey: `btc-${i}`,
        },
      },
    )
    expect(res.data.requestWithdrawal).toMatchObject({ withdrawal: { status: 'QUEUED' } })
  }
  // below the dust limit: refused when asked, nothing reserved
  const dust = await gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) { ... on UserError { code } } }`,
    {
      input: {
        chain: 'regtest',
        asset: 'BTC',
        to: recipients[0],
        amount: '0.00000200',
        idempotencyKey: 'dust',
      },
    },
  )
  expect(dust.data.requestWithdrawal).toEqual({ code: 'INVALID_AMOUNT' })

  await waitFor(
    '20 withdrawals confirmed',
    async () => {
      const rows = await btc.sql`select status from withdrawals`
      return rows.length === 20 && rows.every((r) => r.status === 'CONFIRMED')
    },
    40_000,
  )
  const txs =
    await btc.sql`select distinct o.hash from withdrawals w join outbound_txs o on o.id = w.outbound_tx_id`
  expect(txs.length).toBe(1)
  const raw = await btc.node.rpc<string>('getrawtransaction', [txs[0]!.hash, false])
  const paid = Transaction.fromHex(raw)
  expect(paid.outs.length).toBe(21)
  for (const [i, key] of recipients.entries()) {
    const out = paid.outs.find((o) =>
      Buffer.from(o.script).equals(Buffer.from(regtestKey(`payout ${i}`).script)),
    )
    expect(out?.value).toBe(BigInt((i % 9) + 1) * 1_000_000n)
    expect(key).toBe(regtestKey(`payout ${i}`).address)
  }
  btc.stopMining()

  const run = spawnCli(['reconcile', '--json'], btc.env)
  const code = await run.proc.exited
  const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(code).toBe(0)
  const treasury = report.lines.find((l: { role: string }) => l.role === 'treasury')
  const out = recipients.reduce((s, _, i) => s + BigInt((i % 9) + 1) * 1_000_000n, 0n)
  const [fees] =
    await btc.sql`select coalesce(sum(fee), 0) as total from outbound_txs where status = 'confirmed'`
  expect(BigInt(treasury.onChain)).toBe(100_000_000n - out - BigInt(fees!.total))
}, 150_000)
