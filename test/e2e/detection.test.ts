import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { newMnemonic } from '../../src/core/payouts/signer.ts'
import { readScanStatus } from '../../src/core/scanning/status.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import {
  chainCursors,
  ledgerPostings,
  paymentEvents,
  payments,
  transfers,
} from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'

let devnet: Devnet
let app: TestApp
let key: string
let scanner: ScannerState

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: testConfig(devnet.url, { finalityDepth: 6 }),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  key = (await app.merchant('Detector')).key
  scanner = newScannerState()
})
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)

async function createPayment(asset: string, amount: string, extra: Record<string, unknown> = {}) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset, amount, ...extra } },
    key,
  )
  return res.data.createPayment.payment as { id: string; address: string }
}

async function payment(id: string) {
  const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, id))
  return row!
}
async function events(id: string) {
  return (await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, id))).sort(
    (a, b) => a.seq - b.seq,
  )
}

describe('native payments', () => {
  test('default: seen → PROCESSING, then COMPLETED at the configured depth, credited once', async () => {
    const p = await createPayment('ETH', '1.5')
    await devnet.payNative(p.address, parseEther('1.5'))
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    await devnet.mine(1) // depth 2 of 3
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    await devnet.mine(1) // depth 3
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountConfirmed).toBe(parseEther('1.5'))
    expect((await events(p.id)).map((e) => e.type)).toEqual([
      'payment.created',
      'payment.processing',
      'payment.completed',
    ])
    await devnet.mine(2)
    await sync()
    await sync()
    const credit = await app.ctx.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.account, 'merchant:available'))
    expect(credit.filter((c) => c.refId.startsWith(p.id)).reduce((s, c) => s + c.amount, 0n)).toBe(
      parseEther('1.5'),
    )
    // what scanning cost the node is recorded for every process to read (metrics, Chain.status, the CLI)
    const [status] = await readScanStatus(app.ctx.db)
    expect(status?.rpcCallsPerBlock).toBeGreaterThan(0)
    expect(status?.rpcBytesPerBlock).toBeGreaterThan(500)
  })

  test('behavior: partial then full payment sums both deposits', async () => {
    const p = await createPayment('ETH', '2')
    await devnet.payNative(p.address, parseEther('0.5'))
    await sync()
    expect((await payment(p.id)).status).toBe('PARTIALLY_PAID')
    await devnet.payNative(p.address, parseEther('1.5'))
    await devnet.mine(3)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(parseEther('2'))
    expect((await events(p.id)).map((e) => e.type)).toEqual([
      'payment.created',
      'payment.partially_paid',
      'payment.completed',
    ])
  })

  test('behavior: overpayment completes and records the excess', async () => {
    const p = await createPayment('ETH', '1')
    await devnet.payNative(p.address, parseEther('1.25'))
    await devnet.mine(3)
    await sync()
    const res = await app.gql(
      `query ($id: ID!) { payment(id: $id) { status overpaidAmount amountReceived } }`,
      { id: p.id },
      key,
    )
    expect(res.data.payment).toEqual({ status: 'COMPLETED', overpaidAmount: '0.25', amountReceived: '1.25' })
  })

  test('behavior: funds after expiry are credited with late: true', async () => {
    const p = await createPayment('ETH', '0.1', { expiresIn: 60 })
    // the deadline passes with nothing paid
    await app.ctx.db
      .update(payments)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(payments.id, p.id))
    await sync()
    const { expireDuePayments } = await import('../../src/core/payments/expiry.ts')
    await expireDuePayments(app.ctx)
    expect((await payment(p.id)).status).toBe('EXPIRED')
    await devnet.payNative(p.address, parseEther('0.1'))
    await devnet.mine(3)
    await sync()
    expect((await payment(p.id)).status).toBe('COMPLETED')
    const res = await app.gql(
      `query ($id: ID!) { payment(id: $id) { late transfers { late confirmations } } }`,
      { id: p.id },
      key,
    )
    expect(res.data.payment.late).toBe(true)
    expect(res.data.payment.transfers[0].late).toBe(true)
    // paid and buried past the depth before the scanner looked: straight from EXPIRED to COMPLETED
    expect((await events(p.id)).map((e) => e.type)).toEqual([
      'payment.created',
      'payment.expired',
      'payment.completed',
    ])
  })

  test('behavior: a transfer to an unwatched address is not recorded', async () => {
    const before = (await app.ctx.db.select().from(transfers)).length
    await devnet.payNative('0x000000000000000000000000000000000000dEaD', parseEther('1'))
    await sync()
    expect((await app.ctx.db.select().from(transfers)).length).toBe(before)
  })
})

describe('tolerance', () => {
  test('behavior: with PAYMENT_TOLERANCE_BPS=100 a payment 1 % short completes, 1.1 % short does not', async () => {
    const tolerant = await createTestApp({
      config: testConfig(devnet.url),
      // a seed of its own: this app scans from block 0 and must not see the other app's deposits
      env: { TOLLGATE_SEED: newMnemonic(), PAYMENT_TOLERANCE_BPS: '100' },
    })
    try {
      const m = await tolerant.merchant()
      const make = async () =>
        (
          await tolerant.gql(
            `mutation { createPayment(input: {chain: "devnet", asset: "ETH", amount: "1"}) { ... on CreatePaymentPayload { payment { id address } } } }`,
            {},
            m.key,
          )
        ).data.createPayment.payment
      const enough = await make()
      const short = await make()
      await devnet.payNative(enough.address, parseEther('0.99'))
      await devnet.payNative(short.address, parseEther('0.989'))
      await devnet.mine(3)
      const s = newScannerState()
      await syncChain(
        { db: tolerant.ctx.db, log: tolerant.ctx.log, scanner: s },
        tolerant.ctx.chains.get('devnet')!,
      )
      const status = async (id: string) =>
        (await tolerant.ctx.db.select().from(payments).where(eq(payments.id, id)))[0]!.status
      expect(await status(enough.id)).toBe('COMPLETED')
      expect(await status(short.id)).toBe('PARTIALLY_PAID')
    } finally {
      await tolerant.close()
    }
  })
})

describe('token payments', () => {
  test('default: an ERC-20 Transfer completes a token payment', async () => {
    const p = await createPayment('USDT', '12.5')
    await devnet.payToken(p.address, 12_500_000n)
    await devnet.mine(2)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(12_500_000n)
  })

  test('behavior: a reverted transaction never counts', async () => {
    const p = await createPayment('USDT', '1')
    const receipt = await devnet.payTokenReverting(p.address, 1_000_000n)
    expect(receipt.status).toBe('reverted')
    await devnet.mine(3)
    await sync()
    expect((await payment(p.id)).status).toBe('PENDING')
    expect(await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))).toEqual([])
  })

  test('behavior: another asset sent to the address (a gas top-up in ETH) does not pay a USDT payment', async () => {
    const p = await createPayment('USDT', '3')
    await devnet.payNative(p.address, parseEther('3'))
    await devnet.mine(3)
    await sync()
    const row = await payment(p.id)
    expect(row.status).toBe('PENDING')
    expect(row.amountReceived).toBe(0n)
    await devnet.payToken(p.address, 3_000_000n)
    await devnet.mine(2)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(3_000_000n)
  })
})

describe('reorgs', () => {
  test('behavior: a deposit dropped by a reorg moves the payment back and emits payment.reverted', async () => {
    const p = await createPayment('ETH', '0.3')
    await devnet.payNative(p.address, parseEther('0.3'))
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    await devnet.reorg(1)
    await devnet.mine(1)
    await sync()
    const back = await payment(p.id)
    expect(back.status).toBe('PENDING')
    expect(back.amountReceived).toBe(0n)
    const types = (await events(p.id)).map((e) => e.type)
    expect(types).toEqual(['payment.created', 'payment.processing', 'payment.reverted'])
    const [orphan] = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(orphan?.status).toBe('orphaned')
  })

  test('behavior: a deposit re-included after a reorg is credited once', async () => {
    const p = await createPayment('ETH', '0.4')
    const raw = await devnet.signNative(p.address, parseEther('0.4'))
    const first = await devnet.broadcast(raw)
    await sync()
    expect((await payment(p.id)).status).toBe('PROCESSING')
    // the block is replaced by one that holds the very same transaction
    await devnet.reorgWith(1, [raw])
    const again = await devnet.client.getTransactionReceipt({ hash: first.transactionHash })
    expect(again.blockHash).not.toBe(first.blockHash)
    await devnet.mine(3)
    await sync()
    const done = await payment(p.id)
    expect(done.status).toBe('COMPLETED')
    expect(done.amountReceived).toBe(parseEther('0.4'))
    const rows = await app.ctx.db.select().from(transfers).where(eq(transfers.paymentId, p.id))
    expect(rows.length).toBe(1)
    expect(rows[0]?.status).toBe('confirmed')
    expect(rows[0]?.blockHash).toBe(again.blockHash)
    const credits = await app.ctx.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.account, 'merchant:available'))
    expect(credits.filter((c) => c.refId.startsWith(p.id)).reduce((sum, c) => sum + c.amount, 0n)).toBe(
      parseEther('0.4'),
    )
  })

  test('behavior: a reorg deeper than finality halts the scanner loudly', async () => {
    await devnet.mine(8)
    await sync()
    await devnet.reorg(7) // finalityDepth is 6
    const result = await sync()
    expect(result.halted).toContain('reorg deeper than the finality depth')
    const [cursor] = await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet'))
    expect(cursor?.haltedReason).toContain('finality')
    expect(app.logs.some((l) => l.level === 50 && typeof l.reorg_depth === 'number')).toBe(true)
    const ready = await app.fetch(new Request('http://t/readyz'))
    expect(ready.status).toBe(503)
    const metrics = await (await app.fetch(new Request('http://t/metrics'))).text()
    expect(metrics).toContain('tollgate_chain_halted{chain="devnet"} 1')
    // and it stays halted rather than guessing
    expect((await sync()).halted).toBeTruthy()

    // the operator resumes from a height below the fork: the scanner goes on, ready again
    const { resumeChain } = await import('../../src/core/scanning/reorg.ts')
    await resumeChain(app.ctx, app.ctx.chains.get('devnet')!, cursor!.height - 10n)
    const resumed = await sync()
    expect(resumed.halted).toBeUndefined()
    expect(resumed.height).toBe(await devnet.height())
    expect((await app.fetch(new Request('http://t/readyz'))).status).toBe(200)
    // every payment completed before the fork is still completed, credited once
    const credited = await app.ctx.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.account, 'merchant:available'))
    const byPayment = new Map<string, bigint>()
    for (const c of credited) {
      const id = c.refId.split('#')[0]!
      byPayment.set(id, (byPayment.get(id) ?? 0n) + c.amount)
    }
    for (const p of await app.ctx.db.select().from(payments).where(eq(payments.status, 'COMPLETED')))
      expect(byPayment.get(p.id)).toBe(p.amountConfirmed)
  })
})
