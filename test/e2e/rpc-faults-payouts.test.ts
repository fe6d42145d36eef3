import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, inArray } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { outboundTxs, payments, withdrawalEvents, withdrawals } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { tokenAbi } from '../helpers/chain.ts'
import { type FaultScene, metricValue, startFaultScene } from '../helpers/fault-scene.ts'
import { waitFor } from '../helpers/processes.ts'

// Payouts through a node that fails the way hosted nodes do, including answers 4 s late: every withdrawal ends
// CONFIRMED, each recipient is paid exactly once (their balances on chain say so), and a pass with one slow call
// does not wait for it: the other transactions go out and the failure shows in the metrics and chains { status }.

let scene: FaultScene
let merchant: { id: string; key: string }

/** Fresh addresses nobody else pays: what they hold is what the gateway sent them. */
const recipients = Array.from(
  { length: 10 },
  (_, i) => privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, '9')}` as Hex).address,
)

beforeAll(async () => {
  scene = await startFaultScene({
    seed: 7,
    // the driver's own timeout is the default-like 10 s: only the per-call deadline cuts a 4 s answer short
    evm: { timeoutMs: 10_000 },
    settings: { callTimeoutMs: 1500, payouts: { mode: 'none', intervalMs: 300 } },
  })
  merchant = await scene.app.merchant('Payout shop')
  const chain = scene.app.ctx.chains.get('devnet')!
  // the merchant's balance comes the real way: paid on chain, scanned, confirmed
  const scanner = newScannerState()
  const ids: string[] = []
  for (const [asset, amount] of [
    ['ETH', '5'],
    ['USDT', '500'],
  ] as const) {
    const res = await scene.app.gql(
      `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
      { input: { chain: 'devnet', asset, amount } },
      merchant.key,
    )
    const p = res.data.createPayment.payment
    ids.push(p.id)
    if (asset === 'ETH') await scene.devnet.payNative(p.address, parseEther(amount))
    else await scene.devnet.payToken(p.address, BigInt(amount) * 1_000_000n)
  }
  await waitFor('credit', async () => {
    await syncChain({ db: scene.app.ctx.db, log: scene.app.ctx.log, scanner }, chain)
    const rows = await scene.app.ctx.db.select().from(payments).where(inArray(payments.id, ids))
    return rows.every((p) => p.status === 'COMPLETED')
  })
  // the operator funds the hot wallet
  const treasury = roleWallet(scene.app.ctx, chain, 'treasury')
  await scene.devnet.payNative(treasury.address, parseEther('10'))
  await scene.devnet.payToken(treasury.address, 1_000_000_000n)
}, 30_000)
afterAll(() => scene.stop())

const requestMutation = `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
  __typename ... on RequestWithdrawalPayload { replayed withdrawal { id status } } ... on UserError { code message } } }`

/**
 * Requests a withdrawal as a careful client does through a flaky gateway: the same idempotency key again until
 * the request is answered (a retryable failure changed nothing).
 */
async function request(to: string, asset: 'ETH' | 'USDT', amount: string, key: string): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await scene.app.gql(
      requestMutation,
      { input: { chain: 'devnet', asset, to, amount, idempotencyKey: key } },
      merchant.key,
    )
    const payload = res.data?.requestWithdrawal
    if (payload?.__typename === 'RequestWithdrawalPayload') return payload.withdrawal.id
    if (payload?.__typename === 'UserError') throw new Error(`${payload.code}: ${payload.message}`)
    await Bun.sleep(100)
  }
  throw new Error(`withdrawal ${key} was never accepted`)
}

const rowsOf = (ids: readonly string[]) =>
  scene.app.ctx.db.select().from(withdrawals).where(inArray(withdrawals.id, ids))

const tokenBalance = (address: string) =>
  scene.devnet.client.readContract({
    address: scene.devnet.tokenAddress,
    abi: tokenAbi,
    functionName: 'balanceOf',
    args: [address as Hex],
  })

/** Each withdrawal settled by exactly one confirmed transaction, and CONFIRMED exactly once in its events. */
async function settledOnce(ids: readonly string[]) {
  const rows = await rowsOf(ids)
  for (const w of rows) {
    const sent = await scene.app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.id, w.outboundTxId!))
    expect(sent.map((t) => t.status)).toEqual(['confirmed'])
    const confirmations = (
      await scene.app.ctx.db.select().from(withdrawalEvents).where(eq(withdrawalEvents.withdrawalId, w.id))
    ).filter((e) => e.toStatus === 'CONFIRMED')
    expect(confirmations).toHaveLength(1)
  }
}

describe('payouts under RPC faults', () => {
  test('default: a pass with one 4 s broadcast gives it up at the deadline and sends the others; the failure shows; all settle, each paid once', async () => {
    const amounts = ['0.011', '0.012', '0.013', '0.014']
    const to = recipients.slice(0, 4)
    const ids: string[] = []
    for (const [i, a] of amounts.entries()) ids.push(await request(to[i]!, 'ETH', a, `slow-${i}`))
    // the first broadcast reaches the node at once and is answered 4 s later
    scene.proxy.inject({ fault: { kind: 'delay', ms: 4000 }, methods: ['eth_sendRawTransaction'], times: 1 })

    const started = performance.now()
    const pass = await processPayouts(scene.app.ctx, 'devnet')
    const took = performance.now() - started
    expect(pass).toMatchObject({ batched: 4, signed: 4, broadcast: 3, errors: 1 })
    // it did not wait for the slow answer
    expect(took).toBeLessThan(4000)

    const status = await scene.app.gql(
      '{ chains { status { payouts { failedSteps lastErrorCode failedStages { stage } lastPassDurationMs } } } }',
      {},
      merchant.key,
    )
    expect(status.data.chains[0].status.payouts).toMatchObject({
      failedSteps: 1,
      lastErrorCode: 'RPC_DEADLINE',
      failedStages: [],
    })
    const text = await scene.metrics()
    expect(metricValue(text, 'tollgate_payouts_failed_steps', { chain: 'devnet' })).toBe(1)
    expect(metricValue(text, 'tollgate_payouts_backlog', { chain: 'devnet', state: 'in_flight' })).toBe(4)
    expect(
      scene.app.logs.some(
        (l) => l.msg === 'outbound step failed' && l.errorCode === 'RPC_DEADLINE' && l.level === 40,
      ),
    ).toBe(true)

    await waitFor(
      'all four confirmed',
      async () => {
        await processPayouts(scene.app.ctx, 'devnet')
        return (await rowsOf(ids)).every((w) => w.status === 'CONFIRMED')
      },
      20_000,
    )
    for (const [i, a] of amounts.entries())
      expect(await scene.devnet.client.getBalance({ address: to[i]! })).toBe(parseEther(a))
    await settledOnce(ids)
    // the slow broadcast was sent again as the same bytes: no transaction was ever rebuilt or replaced
    const sent = await scene.app.ctx.db
      .select()
      .from(outboundTxs)
      .where(eq(outboundTxs.purpose, 'withdrawal'))
    expect(sent.filter((t) => t.status === 'replaced')).toEqual([])
    // a clean pass clears the failure from the status
    await processPayouts(scene.app.ctx, 'devnet')
    const clean = await scene.app.gql('{ chains { status { payouts { failedSteps } } } }', {}, merchant.key)
    expect(clean.data.chains[0].status.payouts.failedSteps).toBe(0)
  }, 40_000)

  test('behavior: the workers under 500s, drops (before and after the node ran the call) and 4 s delays: every withdrawal CONFIRMED, each recipient paid once', async () => {
    const { proxy } = scene
    // first, the broadcasts themselves: one lost after the node took it, one answered late
    proxy.inject({ fault: { kind: 'drop', forwarded: true }, methods: ['eth_sendRawTransaction'], times: 1 })
    proxy.inject({ fault: { kind: 'delay', ms: 4000 }, methods: ['eth_sendRawTransaction'], times: 1 })
    // every kind at least once whatever the dice say (the passes' call sequence varies from run to run)
    proxy.inject({ fault: { kind: 'rpc-error' }, times: 1 })
    proxy.inject({ fault: { kind: 'http', status: 503 }, times: 1 })
    proxy.inject({ fault: { kind: 'http', status: 500 }, probability: 0.1 })
    proxy.inject({ fault: { kind: 'http', status: 502 }, probability: 0.03 })
    proxy.inject({ fault: { kind: 'http', status: 503 }, probability: 0.03 })
    proxy.inject({ fault: { kind: 'http', status: 429 }, probability: 0.03 })
    proxy.inject({ fault: { kind: 'rpc-error' }, probability: 0.03 })
    proxy.inject({ fault: { kind: 'drop' }, probability: 0.04 })
    proxy.inject({ fault: { kind: 'drop', forwarded: true }, probability: 0.04 })
    proxy.inject({ fault: { kind: 'delay', ms: 4000 }, probability: 0.04 })
    const sentBefore = proxy.stats.calls.get('eth_sendRawTransaction') ?? 0

    const wanted = [
      { to: recipients[4]!, asset: 'ETH', amount: '0.021' },
      { to: recipients[5]!, asset: 'USDT', amount: '21' },
      { to: recipients[6]!, asset: 'ETH', amount: '0.022' },
      { to: recipients[7]!, asset: 'USDT', amount: '22' },
      { to: recipients[8]!, asset: 'ETH', amount: '0.023' },
      { to: recipients[9]!, asset: 'USDT', amount: '23' },
    ] as const
    await scene.startWorkers()
    const ids: string[] = []
    for (const [i, w] of wanted.entries()) ids.push(await request(w.to, w.asset, w.amount, `faulty-${i}`))
    await waitFor(
      'every withdrawal confirmed through the faults',
      async () => (await rowsOf(ids)).every((w) => w.status === 'CONFIRMED'),
      30_000,
    )
    await scene.stopWorkers()
    const fired = proxy.fired()
    proxy.clear()

    for (const w of wanted) {
      if (w.asset === 'ETH')
        expect(await scene.devnet.client.getBalance({ address: w.to })).toBe(parseEther(w.amount))
      else expect(await tokenBalance(w.to)).toBe(BigInt(w.amount) * 1_000_000n)
    }
    await settledOnce(ids)
    const rows = await rowsOf(ids)
    expect(new Set(rows.map((w) => w.outboundTxId)).size).toBe(ids.length)
    // nothing stays reserved: every withdrawal was settled in the books once
    const balances = await getBalances(scene.app.ctx, merchant.id)
    for (const b of balances) expect(b.reserved).toBe(0n)
    // the faults did happen, the broadcasts among them
    for (const kind of ['http', 'rpc-error', 'drop', 'delay'] as const)
      expect(proxy.stats.faults[kind]).toBeGreaterThan(0)
    expect(fired.slice(0, 2)).toEqual([1, 1])
    expect((proxy.stats.calls.get('eth_sendRawTransaction') ?? 0) - sentBefore).toBeGreaterThan(ids.length)
  }, 45_000)
})
