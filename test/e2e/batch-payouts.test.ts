import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq, inArray } from 'drizzle-orm'
import { type Hex, keccak256, maxUint256, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { newScannerState } from '../../src/core/scanning/sync.ts'
import { outboundTxs, withdrawals } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { batchContract } from '../../src/plugins/evm/batch-contract.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { cli, ok } from '../helpers/cli.ts'
import { devnetProcessEnv, fundWallet, paidPayments, startDevnetApp } from '../helpers/devnet-app.ts'
import { reconcileJson, runSignerUntil, spawnCli, waitFor } from '../helpers/processes.ts'

// Batch payouts on anvil: `tollgate batch enable` deploys the BatchPayouts contract and approves it for USDT
// from the treasury; then withdrawals of one asset go out together in one transaction each batch.
let devnet: Devnet
let app: TestApp
let merchantId: string
let treasury: { address: string; path: string }
let env: Record<string, string>
const scanner = newScannerState()
let nextKey = 1
const fresh = () => privateKeyToAccount(`0x${(nextKey++).toString(16).padStart(64, 'c')}` as Hex).address

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2, batchPayouts: true },
    { payouts: { maxBatch: 200 }, sweeps: { enabled: false } },
  ))
  merchantId = (await app.merchant('Batch payouts')).id
  treasury = roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury')
  // the merchant's balance: paid payments (their deposits stay at the deposit addresses: no sweeps here)
  const paid = [
    ['USDT', '1000'],
    ['ETH', '2'],
  ] as const
  await paidPayments(app, devnet, merchantId, paid, { confirmations: 2, scanner })
  // the operator fills the treasury (reconciliation books it as the operator's funding)
  await fundWallet(devnet, treasury.address, { ETH: '5', USDT: '1000' })
  env = devnetProcessEnv(app, devnet, {
    confirmations: 2,
    pluginsConfig: 'test/fixtures/batch-plugins.config.ts',
  })
}, 60_000)
afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

const usdtOf = (address: string) => devnet.tokenBalance(address)

/** Payout passes in this process, a block mined after each, until `done`. */
async function drive(what: string, done: () => Promise<boolean>) {
  await waitFor(
    what,
    async () => {
      await processPayouts(app.ctx, 'devnet')
      await devnet.mine(1)
      return done()
    },
    30_000,
  )
}

const rowsOf = (ids: string[]) => app.ctx.db.select().from(withdrawals).where(inArray(withdrawals.id, ids))

async function request(asset: 'USDT' | 'ETH', to: string, amount: string, key: string) {
  const { withdrawal } = await requestWithdrawal(app.ctx, merchantId, {
    chain: 'devnet',
    asset,
    to,
    amount,
    idempotencyKey: key,
  })
  return withdrawal.id
}

test('behavior: `tollgate batch enable` stores the deployment and the USDT approval; the payout pass sends them; asked again, it has nothing to do', async () => {
  const run = ok(await cli(['batch', 'enable', '--chain', 'devnet'], env))
  expect(run.stdout).toContain(`deploy BatchPayouts at ${batchContract.address}`)
  expect(run.stdout).toContain('to spend USDT')
  const setup = await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.purpose, 'setup'))
  expect(setup.map((r) => [r.status, r.fromAddress, r.nonce])).toEqual([
    ['built', treasury.address, 0n],
    ['built', treasury.address, 1n],
  ])
  // while they are on their way, nothing more is stored
  expect(ok(await cli(['batch', 'enable', '--chain', 'devnet'], env)).stdout).toContain('still on its way')
  await drive('the setup transactions confirmed', async () => {
    const rows = await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.purpose, 'setup'))
    return rows.every((r) => r.status === 'confirmed')
  })
  const code = await devnet.client.getCode({ address: batchContract.address as Hex })
  expect(keccak256(code!)).toBe(batchContract.runtimeCodeHash)
  const allowance = await devnet.tokenAllowance(treasury.address, batchContract.address)
  expect(allowance).toBe(maxUint256)
  const again = ok(await cli(['batch', 'enable', '--chain', 'devnet'], env))
  expect(again.stdout).toContain('are set up')
  expect(await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.purpose, 'setup'))).toHaveLength(2)
}, 60_000)

test('behavior: 100 USDT withdrawals go out in one batch transaction, each CONFIRMED with its hash and its share of the fee', async () => {
  const before = await getBalances(app.ctx, merchantId)
  const recipients = Array.from({ length: 100 }, () => fresh())
  const amountOf = (i: number) => BigInt(i + 1) * 10_000n
  const ids: string[] = []
  for (const [i, to] of recipients.entries())
    ids.push(await request('USDT', to, (Number(amountOf(i)) / 1e6).toString(), `usdt-${i}`))
  await drive('100 withdrawals CONFIRMED', async () =>
    (await rowsOf(ids)).every((w) => w.status === 'CONFIRMED'),
  )
  const rows = await rowsOf(ids)
  const txIds = [...new Set(rows.map((w) => w.outboundTxId))]
  expect(txIds).toHaveLength(1)
  const [tx] = await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.id, txIds[0]!))
  expect(tx).toMatchObject({ status: 'confirmed', purpose: 'withdrawal' })
  expect((tx!.unsigned as { to: string }).to).toBe(batchContract.address)
  const receipt = await devnet.client.getTransactionReceipt({ hash: tx!.hash as Hex })
  expect(receipt.status).toBe('success')
  const fee = receipt.gasUsed * receipt.effectiveGasPrice
  expect(tx!.fee).toBe(fee)
  const share = fee / 100n
  const events = await app.ctx.db.query.withdrawalEvents.findMany({
    where: (e, { inArray: within, eq: is }) => and(within(e.withdrawalId, ids), is(e.toStatus, 'CONFIRMED')),
  })
  expect(events).toHaveLength(100)
  for (const e of events) expect(e.data).toMatchObject({ hash: tx!.hash })
  expect(rows.reduce((sum, w) => sum + (w.networkFee ?? 0n), 0n)).toBe(fee)
  for (const w of rows) expect(w.networkFee! - share).toBeLessThan(100n)
  for (const [i, to] of recipients.entries()) expect(await usdtOf(to)).toBe(amountOf(i))
  const after = await getBalances(app.ctx, merchantId)
  const out = recipients.reduce((sum, _, i) => sum + amountOf(i), 0n)
  const usdt = (list: typeof after) => list.find((b) => b.asset.includes('erc20'))!
  expect(usdt(after)).toMatchObject({ available: usdt(before).available - out, reserved: 0n })
}, 60_000)

test('edge: a batch with a recipient that refuses ETH still pays the others; the refuser fails alone and its reserve is released', async () => {
  const before = await getBalances(app.ctx, merchantId)
  const recipients = Array.from({ length: 6 }, () => fresh())
  // existing accounts: a native batch is cheaper than single transfers to them
  for (const to of recipients) await devnet.payNative(to, 1n)
  const ids: string[] = []
  for (const [i, to] of recipients.entries()) ids.push(await request('ETH', to, '0.01', `eth-${i}`))
  // after it was accepted, recipient 2 turns into a contract that reverts whatever it is sent
  await devnet.test.setCode({ address: recipients[2]! as Hex, bytecode: '0x60006000fd' })
  await drive('the others CONFIRMED, the refuser FAILED', async () => {
    const rows = await rowsOf(ids)
    return rows.every((w) => (w.id === ids[2] ? w.status === 'FAILED' : w.status === 'CONFIRMED'))
  })
  const rows = await rowsOf(ids)
  const paid = rows.filter((w) => w.id !== ids[2])
  expect(new Set(paid.map((w) => w.outboundTxId)).size).toBe(1)
  const refused = rows.find((w) => w.id === ids[2])!
  expect(refused.outboundTxId).toBeNull()
  expect(refused.failureReason).toContain('cannot be built')
  for (const [i, to] of recipients.entries())
    expect(await devnet.client.getBalance({ address: to as Hex })).toBe(
      i === 2 ? 1n : parseEther('0.01') + 1n,
    )
  const after = await getBalances(app.ctx, merchantId)
  const eth = (list: typeof after) => list.find((b) => b.asset.includes('slip44'))!
  const fees = paid.reduce((sum, w) => sum + w.networkFee!, 0n)
  // the network fee is the operator's: the merchant's balance moves by the amounts alone
  expect(fees).toBeGreaterThan(0n)
  expect(eth(after)).toMatchObject({
    available: eth(before).available - 5n * parseEther('0.01'),
    reserved: 0n,
  })
}, 60_000)

/** What each crash point leaves behind, before the restart. */
const expectedAfterCrash: Record<string, string> = {
  'outbound:built': 'built',
  'outbound:signed': 'signed',
  'outbound:broadcast': 'signed',
}

describe('signer killed with SIGKILL at each step of a batch', () => {
  for (const [k, point] of Object.keys(expectedAfterCrash).entries())
    test(`behavior: killed at ${point}, restarted: the batch is sent exactly once`, async () => {
      const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
      const treasuryBefore = await usdtOf(treasury.address)
      const recipients = [fresh(), fresh(), fresh()]
      const ids: string[] = []
      for (const [i, to] of recipients.entries())
        ids.push(await request('USDT', to, `${k + 1}.${i + 1}`, `crash-${point}-${i}`))
      const amounts = recipients.map((_, i) => BigInt(k + 1) * 1_000_000n + BigInt(i + 1) * 100_000n)

      const doomed = spawnCli(['worker', '--role', 'signer'], { ...env, TOLLGATE_CRASH_AT: point })
      await doomed.proc.exited
      expect(doomed.proc.signalCode).toBe('SIGKILL')
      const crashed = await rowsOf(ids)
      expect(crashed.map((w) => w.status)).toEqual(['BATCHED', 'BATCHED', 'BATCHED'])
      expect(new Set(crashed.map((w) => w.outboundTxId)).size).toBe(1)
      const [row] = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(eq(outboundTxs.id, crashed[0]!.outboundTxId!))
      expect(row?.status as string).toBe(expectedAfterCrash[point]!)

      await runSignerUntil(env, `the batch after a crash at ${point} to confirm`, async () => {
        await devnet.mine(1)
        return (await rowsOf(ids)).every((w) => w.status === 'CONFIRMED')
      })
      for (const [i, to] of recipients.entries()) expect(await usdtOf(to)).toBe(amounts[i]!)
      const total = amounts.reduce((a, b) => a + b, 0n)
      expect(await usdtOf(treasury.address)).toBe(treasuryBefore - total)
      // one transaction for the three, sent once
      expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
        nonceBefore + 1,
      )
      const rows = await app.ctx.db
        .select()
        .from(outboundTxs)
        .where(eq(outboundTxs.id, crashed[0]!.outboundTxId!))
      expect(rows.map((r) => r.status)).toEqual(['confirmed'])
    }, 60_000)
})

test('behavior: reconciliation is exact after the setup, the batches, the refusal and the crashes', async () => {
  const { code, report } = await reconcileJson(env)
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(code).toBe(0)
  const line = (role: string, asset: string) =>
    report.lines.find((l: { role: string; asset: string }) => l.role === role && l.asset.includes(asset))
  expect(line('treasury', 'slip44').ledger).toBe(
    String(await devnet.client.getBalance({ address: treasury.address as Hex })),
  )
  expect(line('treasury', 'erc20').ledger).toBe(String(await usdtOf(treasury.address)))
}, 60_000)
