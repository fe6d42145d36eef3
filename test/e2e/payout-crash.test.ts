import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { newScannerState } from '../../src/core/scanning/sync.ts'
import { outboundTxs, sweeps, withdrawals } from '../../src/db/schema/index.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { devnetProcessEnv, fundWallet, paidPayments, startDevnetApp } from '../helpers/devnet-app.ts'
import { runSignerUntil, spawnCli, waitFor } from '../helpers/processes.ts'

let devnet: Devnet
let app: TestApp
let merchantId: string
let treasury: { address: string; path: string }
let env: Record<string, string>
// one scanner for the file: the chain's scan lease belongs to it
const scanner = newScannerState()

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp({ confirmations: 2 }))
  merchantId = (await app.merchant('Crash payouts')).id
  treasury = roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury')
  await paidPayments(app, devnet, merchantId, [['USDT', '100']], { confirmations: 2, scanner })
  await fundWallet(devnet, treasury.address, { ETH: '5', USDT: '500' })
  env = devnetProcessEnv(app, devnet, { confirmations: 2 })
}, 60_000)
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

const tokenBalance = (address: string) => devnet.tokenBalance(address)

async function withdrawal(id: string) {
  const [w] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, id))
  return w!
}

/** What each crash point leaves behind, before the restart. */
const expectedAfterCrash: Record<string, { outbound: string; withdrawal: string }> = {
  'outbound:built': { outbound: 'built', withdrawal: 'BATCHED' },
  'outbound:signed': { outbound: 'signed', withdrawal: 'BATCHED' },
  'outbound:broadcast': { outbound: 'signed', withdrawal: 'BATCHED' },
}

describe('signer killed with SIGKILL at each step of a withdrawal', () => {
  for (const [i, point] of Object.keys(expectedAfterCrash).entries())
    test(`behavior: killed at ${point}, restarted: the payout is sent exactly once`, async () => {
      const to = privateKeyToAccount(`0x${(i + 11).toString(16).padStart(64, 'd')}` as Hex).address
      const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
      const treasuryBefore = await tokenBalance(treasury.address)
      const balancesBefore = await getBalances(app.ctx, merchantId)
      const { withdrawal: w } = await requestWithdrawal(app.ctx, merchantId, {
        chain: 'devnet',
        asset: 'USDT',
        to,
        amount: `${i + 1}.25`,
        idempotencyKey: `crash-${point}`,
      })
      const amount = BigInt(i + 1) * 1_000_000n + 250_000n

      const doomed = spawnCli(['worker', '--role', 'signer'], { ...env, TOLLGATE_CRASH_AT: point })
      const code = await doomed.proc.exited
      expect(doomed.proc.signalCode).toBe('SIGKILL')
      expect(code).not.toBe(0)
      const crashed = await withdrawal(w.id)
      const [row] = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(eq(outboundTxs.id, crashed.outboundTxId!))
      expect({ outbound: row?.status as string, withdrawal: crashed.status as string }).toEqual(
        expectedAfterCrash[point]!,
      )
      if (point === 'outbound:broadcast')
        // the bytes reached the node before the kill (anvil mined them at once)
        expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
          nonceBefore + 1,
        )

      await runSignerUntil(env, `withdrawal after a crash at ${point} to confirm`, async () => {
        await devnet.mine(1)
        return (await withdrawal(w.id)).status === 'CONFIRMED'
      })
      expect(await tokenBalance(to)).toBe(amount)
      expect(await tokenBalance(treasury.address)).toBe(treasuryBefore - amount)
      expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
        nonceBefore + 1,
      )
      const rows = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(eq(outboundTxs.id, crashed.outboundTxId!))
      expect(rows.map((r) => r.status)).toEqual(['confirmed'])
      const after = await getBalances(app.ctx, merchantId)
      const usdt = (list: typeof after) => list.find((b) => b.asset.includes('erc20'))!
      expect(usdt(after).available).toBe(usdt(balancesBefore).available - amount)
      expect(usdt(after).reserved).toBe(0n)
    }, 60_000)
})

describe('signer killed with SIGKILL at each step of a token sweep (gas top-up, then the token)', () => {
  beforeAll(async () => {
    // earlier payments are swept first, so each test below watches its own sweep alone
    const chain = app.ctx.chains.get('devnet')!
    await fundWallet(devnet, roleWallet(app.ctx, chain, 'gas').address, { ETH: '1' })
    const { processPayouts } = await import('../../src/jobs/payouts.ts')
    await waitFor('earlier sweeps', async () => {
      await processPayouts(app.ctx, 'devnet')
      await devnet.mine(1)
      const open = (await app.ctx.db.select().from(sweeps)).filter((w) => w.status !== 'done')
      return open.length === 0 && (await app.ctx.db.select().from(sweeps)).length > 0
    })
  }, 60_000)

  const points = ['outbound:built', 'outbound:signed', 'outbound:broadcast'].flatMap((p) => [
    // the gas tank's top-up is the sweep's first transaction, the token transfer its second
    { crashAt: p, step: 'top-up', expect: 'funding' },
    { crashAt: `${p}#2`, step: 'token transfer', expect: 'sweeping' },
  ])
  for (const [i, { crashAt, step, expect: stateAfterCrash }] of points.entries())
    test(`behavior: killed at ${crashAt.split('#')[0]} of the ${step}, restarted: each send happens once`, async () => {
      const chain = app.ctx.chains.get('devnet')!
      const gasTank = roleWallet(app.ctx, chain, 'gas')
      const amount = BigInt(i + 1) * 7_000_000n
      const paid = [['USDT', String(amount / 1_000_000n)]] as const
      const payment = (await paidPayments(app, devnet, merchantId, paid, { confirmations: 2, scanner }))[0]!
      const treasuryBefore = await tokenBalance(treasury.address)
      const gasNonceBefore = await devnet.client.getTransactionCount({ address: gasTank.address as Hex })
      const sweepEnv = { ...env, TEST_SWEEPS: 'true' }

      const doomed = spawnCli(['worker', '--role', 'signer'], { ...sweepEnv, TOLLGATE_CRASH_AT: crashAt })
      // the second transaction waits for the first to confirm: blocks keep coming until the crash
      const mining = setInterval(() => devnet.mine(1).catch(() => {}), 100)
      await doomed.proc.exited
      clearInterval(mining)
      expect(doomed.proc.signalCode).toBe('SIGKILL')
      const [crashed] = await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, payment.id))
      expect(crashed?.status as string).toBe(stateAfterCrash)

      await runSignerUntil(sweepEnv, `the sweep after a crash at ${crashAt} to finish`, async () => {
        await devnet.mine(1)
        const [row] = await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, payment.id))
        return row?.status === 'done'
      })
      // one top-up from the gas tank, one token transfer from the deposit address, nothing twice
      expect(await devnet.client.getTransactionCount({ address: gasTank.address as Hex })).toBe(
        gasNonceBefore + 1,
      )
      expect(await devnet.client.getTransactionCount({ address: payment.address as Hex })).toBe(1)
      expect(await tokenBalance(payment.address)).toBe(0n)
      expect(await tokenBalance(treasury.address)).toBe(treasuryBefore + amount)
    }, 60_000)
})
