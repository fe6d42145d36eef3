import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { inArray, sql } from 'drizzle-orm'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { outboundTxs, withdrawals } from '../../src/db/schema/index.ts'
import { runPayoutJob } from '../../src/jobs/payouts.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { devnetProcessEnv, fundWallet, paidPayments, startDevnetApp } from '../helpers/devnet-app.ts'
import { spawnCli, waitFor } from '../helpers/processes.ts'

// Many withdrawals through one pass on anvil: signed and stored together, sent side by side, tracked and settled
// together; a signer killed with SIGKILL in the middle of that sends each payout exactly once.

let devnet: Devnet
let app: TestApp
let merchantId: string
let treasury: { address: string; path: string }
let env: Record<string, string>

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 1 },
    { payouts: { maxBatch: 50 }, sweeps: { enabled: false } },
  ))
  merchantId = (await app.merchant('Pipeline payouts')).id
  treasury = roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury')
  await paidPayments(app, devnet, merchantId, [['USDT', '500']], { confirmations: 1 })
  await fundWallet(devnet, treasury.address, { ETH: '5', USDT: '500' })
  env = devnetProcessEnv(app, devnet, { confirmations: 1 })
}, 60_000)
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

const tokenBalance = (address: string) => devnet.tokenBalance(address)

/** `n` withdrawals of 1.00, 1.01, … USDT to fresh addresses (seeded by `tag`), queued. */
async function queue(tag: number, n: number) {
  const out: Array<{ id: string; to: Hex; amount: bigint }> = []
  for (let i = 0; i < n; i++) {
    const to = privateKeyToAccount(`0x${(tag * 100 + i + 1).toString(16).padStart(64, 'e')}` as Hex).address
    const { withdrawal } = await requestWithdrawal(app.ctx, merchantId, {
      chain: 'devnet',
      asset: 'USDT',
      to,
      amount: (1 + i / 100).toFixed(2),
      idempotencyKey: `pipeline-${tag}-${i}`,
    })
    out.push({ id: withdrawal.id, to, amount: 1_000_000n + BigInt(i) * 10_000n })
  }
  return out
}

const rowsOf = (ids: string[]) => app.ctx.db.select().from(withdrawals).where(inArray(withdrawals.id, ids))
const usdt = async () => (await getBalances(app.ctx, merchantId)).find((b) => b.asset.includes('erc20'))!

describe('many withdrawals in one pass on anvil', () => {
  test('behavior: one payout job signs, sends, tracks and settles twelve withdrawals, the sends in one pass and the settlements in one database transaction', async () => {
    const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
    const before = await usdt()
    const queued = await queue(1, 12)
    const ids = queued.map((q) => q.id)

    const passes = await runPayoutJob(app.ctx, 'devnet')
    // the first pass built, signed and sent all twelve; the next one settled them; the last found nothing to do
    expect(passes[0]).toMatchObject({ batched: 12, signed: 12, broadcast: 12, errors: 0 })
    expect(passes.reduce((sum, p) => sum + p.confirmed, 0)).toBe(12)
    expect(passes.at(-1)).toMatchObject({ batched: 0, signed: 0, broadcast: 0, confirmed: 0 })
    expect((await rowsOf(ids)).map((w) => w.status)).toEqual(Array(12).fill('CONFIRMED'))

    const sent = await app.ctx.db
      .select({
        nonce: outboundTxs.nonce,
        status: outboundTxs.status,
        xmin: sql<string>`${outboundTxs}.xmin::text`,
      })
      .from(outboundTxs)
      .where(
        inArray(
          outboundTxs.id,
          (await rowsOf(ids)).map((w) => w.outboundTxId as string),
        ),
      )
    expect(sent.map((r) => r.status)).toEqual(Array(12).fill('confirmed'))
    expect(sent.map((r) => r.nonce).sort((a, b) => Number(a! - b!))).toEqual(
      Array.from({ length: 12 }, (_, i) => BigInt(nonceBefore + i)),
    )
    expect(new Set(sent.map((r) => r.xmin)).size).toBe(1)
    // the chain: twelve transactions, each recipient paid once; the books: reserved back to zero
    expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
      nonceBefore + 12,
    )
    for (const q of queued) expect(await tokenBalance(q.to)).toBe(q.amount)
    const total = queued.reduce((sum, q) => sum + q.amount, 0n)
    expect(await usdt()).toMatchObject({ available: before.available - total, reserved: 0n })
  }, 60_000)

  for (const [i, { point, after }] of [
    // the first kill point after all eight are stored signed, before any is sent
    { point: 'outbound:signed#3', after: 'signed' },
    // killed after the fifth send returned: the others may or may not have reached the node
    { point: 'outbound:broadcast#5', after: 'signed' },
  ].entries())
    test(`behavior: a signer killed at ${point} with eight withdrawals in one pass, restarted: each is sent exactly once`, async () => {
      const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
      const before = await usdt()
      const queued = await queue(2 + i, 8)
      const ids = queued.map((q) => q.id)

      const doomed = spawnCli(['worker', '--role', 'signer'], { ...env, TOLLGATE_CRASH_AT: point })
      await doomed.proc.exited
      expect(doomed.proc.signalCode).toBe('SIGKILL')
      // every transaction of the pass was stored signed (raw bytes and hash) before the kill; none is recorded sent
      const crashed = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(
          inArray(
            outboundTxs.id,
            (await rowsOf(ids)).map((w) => w.outboundTxId as string),
          ),
        )
      expect(crashed.map((r) => [r.status, typeof r.raw, typeof r.hash])).toEqual(
        Array(8).fill([after, 'string', 'string']),
      )
      expect((await rowsOf(ids)).map((w) => w.status)).toEqual(Array(8).fill('BATCHED'))

      const worker = spawnCli(['worker', '--role', 'signer'], env)
      try {
        await waitFor(
          `eight withdrawals after a kill at ${point} to confirm`,
          async () => {
            if (worker.proc.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`)
            return (await rowsOf(ids)).every((w) => w.status === 'CONFIRMED')
          },
          30_000,
        )
      } finally {
        await worker.stop()
      }
      // exactly eight transactions: nothing lost, nothing doubled, each recipient paid once
      expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
        nonceBefore + 8,
      )
      for (const q of queued) expect(await tokenBalance(q.to)).toBe(q.amount)
      const settled = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(
          inArray(
            outboundTxs.id,
            (await rowsOf(ids)).map((w) => w.outboundTxId as string),
          ),
        )
      expect(settled.map((r) => r.status)).toEqual(Array(8).fill('confirmed'))
      expect(settled.map((r) => r.hash).sort()).toEqual(crashed.map((r) => r.hash).sort())
      const total = queued.reduce((sum, q) => sum + q.amount, 0n)
      expect(await usdt()).toMatchObject({ available: before.available - total, reserved: 0n })
    }, 60_000)
})
