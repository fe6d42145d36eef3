import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { formatEther, parseEther } from 'viem'
import { createPayment } from '../../src/core/payments/create.ts'
import { chainCursors, ledgerPostings, payments, transfers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { spawnWorker, waitFor } from '../helpers/processes.ts'

let devnet: Devnet
let app: TestApp

beforeAll(async () => {
  devnet = await startDevnet()
})
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

test('behavior: a worker killed with SIGKILL mid-scan again and again credits every deposit exactly once', async () => {
  const { testConfig } = await import('../helpers/app.ts')
  app = await createTestApp({ config: testConfig(devnet.url), env: { TOLLGATE_SEED: gatewayMnemonic } })
  const merchant = await app.merchant('Crashy')
  // 24 payments paid across ~240 blocks, so the scanner has plenty of ranges to be killed in
  const paid: Array<{ id: string; amount: bigint }> = []
  for (let i = 0; i < 24; i++) {
    const amount = parseEther('0.01') * BigInt(i + 1)
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'devnet',
      asset: 'ETH',
      amount: formatEther(amount),
    })
    await devnet.payNative(payment.address, amount)
    await devnet.mine(10)
    paid.push({ id: payment.id, amount })
  }
  const tip = await devnet.height()
  const env = {
    DATABASE_URL: app.databaseUrl,
    REDIS_PREFIX: app.ctx.env.REDIS_PREFIX,
    TOLLGATE_SEED: gatewayMnemonic,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '3',
    TEST_MAX_RANGE: '2',
    SCANNER_LEASE_MS: '500',
    LOG_LEVEL: 'info',
  }
  const cursorHeight = async () =>
    (await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet')))[0]?.height ?? -2n
  const heights: bigint[] = []
  for (let round = 0; round < 6; round++) {
    const before = await cursorHeight()
    const worker = await spawnWorker(env)
    // kill it while it is scanning: right after it stored a range, at a random point of the next
    await waitFor('scanner progress', async () => (await cursorHeight()) > before, 20_000)
    await Bun.sleep(Math.floor(Math.random() * 40))
    await worker.kill()
    heights.push(await cursorHeight())
  }
  // every kill landed mid-way: progress between kills, never finished
  expect(new Set(heights).size).toBe(6)
  expect(heights.at(-1)! < tip).toBe(true)
  // a restarted worker takes over once the dead one's lease (SCANNER_LEASE_MS) runs out
  const last = await spawnWorker(env)
  try {
    await waitFor(
      'every payment completed',
      async () => {
        const rows = await app.ctx.db.select().from(payments)
        return rows.filter((r) => r.status === 'COMPLETED').length === paid.length
      },
      60_000,
    )
  } finally {
    await last.stop()
  }
  const stored = await app.ctx.db.select().from(transfers)
  expect(stored.length).toBe(paid.length)
  expect(new Set(stored.map((t) => t.txHash)).size).toBe(paid.length)
  for (const p of paid) {
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, p.id))
    expect(row?.amountReceived).toBe(p.amount)
    const credits = (
      await app.ctx.db.select().from(ledgerPostings).where(eq(ledgerPostings.account, 'merchant:available'))
    ).filter((c) => c.refId.startsWith(p.id))
    expect(credits.reduce((sum, c) => sum + c.amount, 0n)).toBe(p.amount)
  }
  const [cursor] = await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet'))
  expect(cursor!.height >= tip).toBe(true)
}, 120_000)
