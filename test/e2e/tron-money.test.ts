import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startTronGateway } from '../helpers/money-gateways.ts'
import { spawnCli, waitFor } from '../helpers/processes.ts'
import { USDT_MAINNET } from '../tron-node/server.ts'

// Tron's whole money path with real gateway processes against the stand-in node: TRX and USDT payments complete,
// deposits are swept by both funding strategies (the gas tank burns TRX for the sweep, or delegates staked
// energy and takes it back), ten payouts confirm, and the reconciliation finds every wallet equal to the ledger.
let tron: Awaited<ReturnType<typeof startTronGateway>>

beforeAll(async () => {
  tron = await startTronGateway('Tron shop')
  tron.startMining(100)
}, 60_000)

afterAll(() => tron?.stop())

const gql = (query: string, variables: Record<string, unknown> = {}) => tron.gateway.gql(query, variables)

test('default: TRX and USDT payments complete, are swept by burn and by delegate funding, 10 payouts confirm, ledger = chain', async () => {
  const { node, driver, wallet } = tron
  const trx = driver.nativeAsset
  const usdt = driver.assets.find((a) => a.symbol === 'USDT')!
  node.fund(tron.payer, 100_000_000_000n)
  node.mint(USDT_MAINNET, tron.payer, 10_000_000_000n)
  // the operator's gas tanks: TRX for the burning one, staked energy (and TRX for bandwidth) for the delegating one
  node.fund(wallet('gas', 0), 200_000_000n)
  // and TRX in the treasury for what payouts burn (bandwidth, and energy for TRC-20 transfers)
  node.fund(wallet('treasury', 0), 500_000_000n)
  node.fund(wallet('gas', 10), 200_000_000n)
  node.stake(wallet('gas', 10), { frozenEnergySun: 100_000_000_000n, energy: 5_000_000n })

  const create = async (chainName: string, asset: string, amount: string) =>
    (
      await gql(
        `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
          ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
        { input: { chain: chainName, asset, amount } },
      )
    ).data.createPayment.payment as { id: string; address: string }
  const payments = [
    { chain: 'tron', asset: trx, amount: 50_000_000n, p: await create('tron', 'TRX', '50') },
    { chain: 'tron', asset: usdt, amount: 120_000_000n, p: await create('tron', 'USDT', '120') },
    {
      chain: 'tron-delegate',
      asset: usdt,
      amount: 80_000_000n,
      p: await create('tron-delegate', 'USDT', '80'),
    },
  ]
  // a delegation can only reach an activated account (a never-used one gets TRX instead, which activates it):
  // this address is an old one, activated with nothing on it
  node.fund(payments[2]!.p.address, 0n)
  for (const { p, asset, amount } of payments) await tron.pay(p.address, asset, amount)

  await waitFor(
    'payments completed and swept',
    async () => {
      const [a, b, c] = await Promise.all([
        driver.payouts!.balance(payments[0]!.p.address, trx),
        driver.payouts!.balance(payments[1]!.p.address, usdt),
        driver.payouts!.balance(payments[2]!.p.address, usdt),
      ])
      return a === 0n && b === 0n && c === 0n
    },
    40_000,
  )
  expect(await driver.payouts!.balance(wallet('treasury', 0), usdt)).toBe(120_000_000n)
  expect(await driver.payouts!.balance(wallet('treasury', 10), usdt)).toBe(80_000_000n)
  // the burning tank sent TRX and has nothing to take back; the delegating one delegated, then undelegated
  await waitFor('every sweep done', async () => {
    const open = await tron.sql`select 1 from sweeps where status <> 'done'`
    const all = await tron.sql`select 1 from sweeps`
    return all.length === 3 && open.length === 0
  })
  const rows = await tron.sql<Array<{ payment_id: string; funding: string; defunding: string | null }>>`
    select s.payment_id, f.purpose || ':' || coalesce(f.amount::text, '') as funding, d.purpose as defunding
    from sweeps s join outbound_txs f on f.id = s.funding_tx_id left join outbound_txs d on d.id = s.defunding_tx_id`
  const byPayment = new Map(rows.map((r) => [r.payment_id, r]))
  expect(byPayment.get(payments[1]!.p.id)?.defunding).toBeNull()
  expect(byPayment.get(payments[1]!.p.id)?.funding).not.toBe('gas:0')
  expect(byPayment.get(payments[2]!.p.id)).toMatchObject({ funding: 'gas:0', defunding: 'defund' })
  // the delegating tank got its energy back: nothing stays delegated once the sweep is done
  await waitFor('delegations reclaimed', async () => {
    const res = await fetch(`${node.url}/wallet/getdelegatedresourcev2`, {
      method: 'POST',
      body: JSON.stringify({
        fromAddress: wallet('gas', 10),
        toAddress: payments[2]!.p.address,
        visible: true,
      }),
    })
    const body = (await res.json()) as { delegatedResource?: unknown[] }
    return (body.delegatedResource ?? []).length === 0
  })

  // ten payouts: five TRX and five USDT from the burn chain's treasury
  const recipients = Array.from({ length: 10 }, () => tron.outsider())
  for (const [i, to] of recipients.entries()) {
    const res = await gql(
      `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
        ... on RequestWithdrawalPayload { withdrawal { status } } ... on UserError { code message } } }`,
      {
        input: {
          chain: 'tron',
          asset: i % 2 === 0 ? 'TRX' : 'USDT',
          to,
          amount: i % 2 === 0 ? `${i + 1}` : `${i + 1}.5`,
          idempotencyKey: `tron-${i}`,
        },
      },
    )
    expect(res.data.requestWithdrawal).toMatchObject({ withdrawal: { status: 'QUEUED' } })
  }
  await waitFor(
    'ten payouts confirmed',
    async () => {
      const page = await gql('{ withdrawals(first: 20) { edges { node { status } } } }')
      const statuses = page.data.withdrawals.edges.map((e: { node: { status: string } }) => e.node.status)
      return statuses.length === 10 && statuses.every((s: string) => s === 'CONFIRMED')
    },
    40_000,
  )
  for (const [i, to] of recipients.entries()) {
    if (i % 2 === 0) expect(await driver.payouts!.balance(to, trx)).toBe(BigInt(i + 1) * 1_000_000n)
    else expect(await driver.payouts!.balance(to, usdt)).toBe(BigInt(i + 1) * 1_000_000n + 500_000n)
  }

  tron.stopMining()
  for (const chainName of ['tron', 'tron-delegate']) {
    const run = spawnCli(['reconcile', '--chain', chainName, '--json'], tron.env)
    const code = await run.proc.exited
    const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
    expect({ chain: chainName, settled: report.settled, discrepancies: report.discrepancies }).toEqual({
      chain: chainName,
      settled: true,
      discrepancies: [],
    })
    expect(code).toBe(0)
  }
}, 120_000)
