import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { type SplitGateway, spawnCli, spawnWorker, startSplitGateway, waitFor } from '../helpers/processes.ts'

// A refund's payout with the signer killed (SIGKILL) at each step of sending it, then restarted: the buyer is
// paid exactly once and the books agree with the chain. The API and chain worker run throughout; the signer is
// the process that dies.
let devnet: Devnet
let db: Awaited<ReturnType<typeof createTestDatabase>>
let sql: postgres.Sql
let gateway: SplitGateway
let env: Record<string, string>
let signerEnv: Record<string, string>
let treasury: string
let paymentId: string

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

beforeAll(async () => {
  ;[devnet, db] = await Promise.all([startDevnet(), createTestDatabase()])
  sql = postgres(db.url, { max: 2, onnotice: () => {} })
  env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `refunds-crash-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '2',
    TEST_PAYOUT_INTERVAL_MS: '200',
    LOG_LEVEL: 'info',
  }
  signerEnv = { ...env, TOLLGATE_SEED: gatewayMnemonic }
  const shown = spawnCli(['xpub', 'show'], signerEnv)
  await shown.proc.exited
  const xpubs = /TOLLGATE_XPUBS=(\S+)/.exec(shown.output())?.[1]
  expect(xpubs).toBeDefined()
  gateway = await startSplitGateway(env, {
    merchant: 'Crash refunds',
    keylessEnv: { ...env, TOLLGATE_XPUBS: xpubs! },
    signerEnv,
  })
  // the signer runs only when a test starts it
  await gateway.signer.stop()
  const { createSigner } = await import('../../src/core/payouts/signer.ts')
  const { deriveEvmAddress } = await import('../../src/plugins/evm/derive.ts')
  treasury = deriveEvmAddress(createSigner(gatewayMnemonic).xpub("m/44'/60'/1'"), "m/44'/60'/1'", 0).address
  await devnet.payNative(treasury, parseEther('5'))
  // the merchant's balance the refunds come from: a completed ETH payment
  const created = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '3' } },
  )
  const p = created.data.createPayment.payment as { id: string; address: string }
  paymentId = p.id
  await devnet.payNative(p.address, parseEther('3'))
  await waitFor(
    'the payment COMPLETED',
    async () => {
      await devnet.mine(1)
      const res = await gql('query ($id: ID!) { payment(id: $id) { status } }', { id: p.id })
      return res.data.payment.status === 'COMPLETED'
    },
    20_000,
  )
  const first = await reconcile()
  expect(first.discrepancies).toEqual([])
  expect(first.funding.map((f: { role: string }) => f.role)).toEqual(['treasury'])
}, 60_000)

afterAll(async () => {
  await gateway?.stop()
  await sql?.end()
  await devnet?.stop()
  await db?.drop()
})

async function reconcile() {
  const run = spawnCli(['reconcile', '--json', '--chain', 'devnet'], signerEnv)
  const code = await run.proc.exited
  const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
  expect(report.settled).toBe(true)
  expect(code).toBe(report.discrepancies.length > 0 ? 2 : 0)
  return report
}

async function ethBalance(): Promise<bigint> {
  const list = (await gql('{ balances { asset { symbol } available reserved } }')).data.balances
  const eth = list.find((b: { asset: { symbol: string } }) => b.asset.symbol === 'ETH')
  expect(eth.reserved).toBe('0')
  return parseEther(eth.available)
}

async function refundStatus(id: string) {
  const res = await gql('query ($id: ID!) { refund(id: $id) { status amountSent withdrawal { id } } }', {
    id,
  })
  return res.data.refund as { status: string; amountSent: string | null; withdrawal: { id: string } | null }
}

const cases = [
  { point: 'outbound:built', fee: 'MERCHANT' },
  { point: 'outbound:signed', fee: 'MERCHANT' },
  { point: 'outbound:broadcast', fee: 'MERCHANT' },
  // the fee comes out of the refund: the payout is built twice before it is stored, then the signer dies
  { point: 'outbound:built', fee: 'DEDUCTED' },
] as const

describe('signer killed with SIGKILL at each step of a refund’s payout', () => {
  for (const [i, { point, fee }] of cases.entries())
    test(`behavior: killed at ${point} (refund fee ${fee}), restarted: the buyer is paid exactly once, the books stay exact`, async () => {
      const set = await gql(
        'mutation ($fee: RefundFee!) { setRefundFee(refundFee: $fee) { ... on RefundFeeSetting { refundFee } } }',
        { fee },
      )
      expect(set.data.setRefundFee.refundFee).toBe(fee)
      const to = privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, 'c')}` as Hex).address
      expect(await devnet.client.getBalance({ address: to })).toBe(0n)
      const amount = parseEther(`0.${i + 1}`)
      const nonceBefore = await devnet.client.getTransactionCount({ address: treasury as Hex })
      const availableBefore = await ethBalance()
      const res = await gql(
        `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) {
          ... on RefundPaymentPayload { refund { id status } } ... on UserError { code message } } }`,
        { input: { paymentId, amount: `0.${i + 1}`, to, idempotencyKey: `crash-${i}` } },
      )
      expect(res.data.refundPayment.refund.status).toBe('PENDING')
      const refundId = res.data.refundPayment.refund.id as string

      const doomed = spawnCli(['worker', '--role', 'signer'], {
        ...signerEnv,
        TOLLGATE_ENV: 'test',
        TOLLGATE_CRASH_AT: point,
      })
      await doomed.proc.exited
      expect(doomed.proc.signalCode).toBe('SIGKILL')
      // killed before the broadcast was recorded: the refund still looks unsent
      expect((await refundStatus(refundId)).status).toBe('PENDING')
      const [stored] = await sql<{ status: string }[]>`
        SELECT o.status FROM withdrawals w JOIN outbound_txs o ON o.id = w.outbound_tx_id
        WHERE w.refund_id = ${refundId}`
      expect(stored?.status).toBe(point === 'outbound:built' ? 'built' : 'signed')
      if (point === 'outbound:broadcast')
        // the bytes reached the node before the kill (anvil mined them at once)
        expect(await devnet.client.getTransactionCount({ address: treasury as Hex })).toBe(nonceBefore + 1)

      const signer = await spawnWorker(signerEnv, ['--role', 'signer'])
      try {
        await waitFor(
          `the refund after a crash at ${point} to confirm`,
          async () => {
            if (signer.proc.exitCode !== null) throw new Error(`signer exited: ${signer.output()}`)
            await devnet.mine(1)
            const { status } = await refundStatus(refundId)
            if (status === 'FAILED') throw new Error('the refund failed')
            return status === 'CONFIRMED'
          },
          20_000,
        )
      } finally {
        await signer.stop()
      }
      const done = await refundStatus(refundId)
      const sent = parseEther(done.amountSent!)
      if (fee === 'DEDUCTED') expect(sent).toBeLessThan(amount)
      else expect(sent).toBe(amount)
      // one transaction from the treasury, the buyer paid once
      expect(await devnet.client.getTransactionCount({ address: treasury as Hex })).toBe(nonceBefore + 1)
      expect(await devnet.client.getBalance({ address: to })).toBe(sent)
      const outbound = await sql<{ status: string }[]>`
        SELECT o.status FROM outbound_txs o JOIN withdrawals w ON w.outbound_tx_id = o.id
        WHERE w.refund_id = ${refundId}`
      expect(outbound.map((o) => o.status)).toEqual(['confirmed'])
      const events = await sql<{ type: string }[]>`
        SELECT type FROM refund_events WHERE refund_id = ${refundId} ORDER BY seq`
      expect(events.map((e) => e.type)).toEqual(['refund.created', 'refund.sent', 'refund.confirmed'])
      expect(await ethBalance()).toBe(availableBefore - amount)
      const report = await reconcile()
      expect(report.discrepancies).toEqual([])
      expect(report.funding).toEqual([])
    }, 60_000)
})
