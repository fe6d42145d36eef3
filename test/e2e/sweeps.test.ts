import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { outboundTxs, sweeps } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { startDevnetApp } from '../helpers/devnet-app.ts'

let devnet: Devnet
let app: TestApp
let merchantId: string
let scanner: ScannerState
let treasury: { address: string }
let gasTank: { address: string }
const chain = () => app.ctx.chains.get('devnet')!

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2 },
    { sweeps: { maxFeeShareBps: 500, minAmount: { USDT: '1' } }, payouts: { stuckAfterBlocks: 3 } },
  ))
  merchantId = (await app.merchant('Sweep shop')).id
  scanner = newScannerState()
  treasury = roleWallet(app.ctx, chain(), 'treasury')
  gasTank = roleWallet(app.ctx, chain(), 'gas')
}, 60_000)
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, chain())
const eth = (address: string) => devnet.client.getBalance({ address: address as Hex })
const usdt = (address: string) => devnet.tokenBalance(address)

async function paid(asset: 'ETH' | 'USDT', amount: string, units: bigint) {
  const { payment } = await createPayment(app.ctx, merchantId, { chain: 'devnet', asset, amount })
  if (asset === 'ETH') await devnet.payNative(payment.address, units)
  else await devnet.payToken(payment.address, units)
  await devnet.mine(2)
  await sync()
  return payment
}

async function sweepOf(paymentId: string) {
  const [row] = await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, paymentId))
  return row
}

async function driveSweeps(paymentIds: string[]) {
  for (let i = 0; i < 40; i++) {
    await processPayouts(app.ctx, 'devnet')
    const rows = await Promise.all(paymentIds.map(sweepOf))
    if (rows.every((r) => r && (r.status === 'done' || r.status === 'skipped'))) return rows
    await devnet.mine(1)
  }
  throw new Error(`sweeps did not finish: ${JSON.stringify(await Promise.all(paymentIds.map(sweepOf)))}`)
}

describe('sweeps on anvil', () => {
  test('default: a native deposit goes to the treasury less the exact fee, leaving nothing behind', async () => {
    const payment = await paid('ETH', '2', parseEther('2'))
    const [sweep] = await driveSweeps([payment.id])
    expect(sweep?.status).toBe('done')
    const [tx] = await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.id, sweep!.sweepTxId!))
    expect(await eth(payment.address)).toBe(0n)
    expect(sweep!.amount! + tx!.fee!).toBe(parseEther('2'))
    expect(await eth(treasury.address)).toBe(sweep!.amount!)
    // the merchant's balance is untouched: a sweep moves the gateway's own holdings
    const [balance] = (await getBalances(app.ctx, merchantId)).filter((b) => b.asset.endsWith('slip44:60'))
    expect(balance?.available).toBe(parseEther('2'))
  }, 60_000)

  test('default: a token deposit is swept after the gas tank tops it up with just enough for the transfer', async () => {
    await devnet.payNative(gasTank.address, parseEther('1'))
    const gasBefore = await eth(gasTank.address)
    const treasuryUsdt = await usdt(treasury.address)
    const payment = await paid('USDT', '50', 50_000_000n)
    const [sweep] = await driveSweeps([payment.id])
    expect(sweep?.status).toBe('done')
    expect(sweep?.fundingTxId).not.toBeNull()
    const txs = await app.ctx.db.select().from(outboundTxs)
    const funding = txs.find((t) => t.id === sweep!.fundingTxId)!
    const sent = txs.find((t) => t.id === sweep!.sweepTxId)!
    expect(funding.purpose).toBe('gas')
    expect(funding.fromAddress).toBe(gasTank.address)
    expect(await usdt(payment.address)).toBe(0n)
    expect(await usdt(treasury.address)).toBe(treasuryUsdt + 50_000_000n)
    const toppedUp = BigInt(sweep!.need!.native!)
    expect(await eth(gasTank.address)).toBe(gasBefore - toppedUp - funding.fee!)
    // what is left at the deposit address is the top-up less what the transfer really cost
    expect(await eth(payment.address)).toBe(toppedUp - sent.fee!)
    // "just enough": the top-up is the transfer's gas at the quoted price, not a blanket amount
    expect(toppedUp).toBeLessThanOrEqual(sent.maxFee * 2n)
  }, 60_000)

  test('behavior: dust is left where it is: a native deposit whose fee is too large a share, a token amount below the minimum', async () => {
    const tiny = await paid('ETH', '0.00001', parseEther('0.00001'))
    const small = await paid('USDT', '0.5', 500_000n)
    const rows = await driveSweeps([tiny.id, small.id])
    expect(rows.map((r) => r?.status)).toEqual(['skipped', 'skipped'])
    expect(rows[0]?.skipReason).toContain('too large a share')
    expect(rows[1]?.skipReason).toContain('below the sweep minimum')
    expect(await eth(tiny.address)).toBe(parseEther('0.00001'))
    expect(await usdt(small.address)).toBe(500_000n)
  }, 60_000)

  test('behavior: reconciliation: the ledger and every wallet agree exactly; the gas tank funding is booked as the operator’s', async () => {
    const first = await reconcileChain(app.ctx, chain())
    expect(first.settled).toBe(true)
    // the 1 ETH the operator put into the gas tank is the only thing the ledger had not seen
    expect(first.funding.map((f) => [f.role, f.amount])).toEqual([['gas', parseEther('1')]])
    expect(first.discrepancies).toEqual([])
    const again = await reconcileChain(app.ctx, chain())
    expect(again.funding).toEqual([])
    expect(again.discrepancies).toEqual([])
    const line = (role: string, asset: string) =>
      again.lines.find((l) => l.role === role && l.asset.includes(asset))!
    expect(line('treasury', 'slip44').onChain).toBe(await eth(treasury.address))
    expect(line('treasury', 'erc20').onChain).toBe(50_000_000n)
    expect(line('deposits', 'erc20').ledger).toBe(500_000n)
  }, 60_000)

  test('error: money disappearing from a gateway wallet is a discrepancy, never booked away', async () => {
    // funds leave the treasury behind the gateway's back (a leaked key, a bug elsewhere)
    const held = await eth(treasury.address)
    await devnet.test.setBalance({ address: treasury.address as Hex, value: held - parseEther('0.1') })
    const report = await reconcileChain(app.ctx, chain())
    expect(report.discrepancies.map((l) => [l.role, l.difference])).toEqual([
      ['treasury', -parseEther('0.1')],
    ])
    expect(report.funding).toEqual([])
    // a shortfall is never booked away: it stays until someone looks
    const again = await reconcileChain(app.ctx, chain())
    expect(again.discrepancies.map((l) => [l.role, l.difference])).toEqual([['treasury', -parseEther('0.1')]])
  }, 60_000)
})

describe('stuck gas top-up', () => {
  test('behavior: a top-up priced under a base-fee jump is replaced with the same nonce; one top-up lands, the sweep finishes', async () => {
    const rpc = (method: string, params: unknown[]) =>
      devnet.test.request({ method: method as never, params: params as never })
    const payment = await paid('USDT', '5', 5_000_000n)
    const gasNonce = await devnet.client.getTransactionCount({ address: gasTank.address as Hex })
    await rpc('evm_setAutomine', [false])
    try {
      await processPayouts(app.ctx, 'devnet')
      const [funding] = await app.ctx.db.select().from(sweeps).where(eq(sweeps.paymentId, payment.id))
      expect(funding?.status).toBe('funding')
      await rpc('anvil_setNextBlockBaseFeePerGas', [`0x${(500n * 10n ** 9n).toString(16)}`])
      for (let i = 0; i < 4; i++) {
        await devnet.mine(1)
        await processPayouts(app.ctx, 'devnet')
      }
    } finally {
      await rpc('evm_setAutomine', [true])
    }
    // fees come back down (so the run ends in seconds, not after the base fee decays block by block)
    await rpc('anvil_setNextBlockBaseFeePerGas', ['0x3b9aca00'])
    const [sweep] = await driveSweeps([payment.id])
    expect(sweep?.status).toBe('done')
    const tops = await app.ctx.db
      .select()
      .from(outboundTxs)
      .where(eq(outboundTxs.nonce, BigInt(gasNonce)))
    expect(
      tops
        .filter((t) => t.fromAddress === gasTank.address)
        .map((t) => t.status)
        .sort(),
    ).toEqual(['confirmed', 'replaced'])
    // the replaced top-up never landed; a second one may have followed if fees were still high when it confirmed
    const landed = await devnet.client.getTransactionCount({ address: gasTank.address as Hex })
    expect(landed - gasNonce).toBe(
      (await app.ctx.db.select().from(outboundTxs)).filter(
        (t) =>
          t.fromAddress === gasTank.address &&
          t.status === 'confirmed' &&
          (t.nonce as bigint) >= BigInt(gasNonce),
      ).length,
    )
    expect(await usdt(payment.address)).toBe(0n)
    // and every top-up is in the books: the chain and the ledger agree
    expect(
      (await reconcileChain(app.ctx, chain())).discrepancies.filter((l) => l.role !== 'treasury'),
    ).toEqual([])
  }, 60_000)
})

describe('cold storage', () => {
  test('default: treasury funds above the float move to the cold address; the ledger follows them there exactly', async () => {
    const { newMnemonic } = await import('../../src/core/payouts/signer.ts')
    const coldAddress = '0x00000000000000000000000000000000c01dc01d'
    // a gateway of its own (its own seed, so its own treasury and nonces)
    const second = await createTestApp({
      config: testConfig(
        devnet.url,
        { confirmations: 2 },
        { sweeps: { enabled: false }, cold: { address: coldAddress, float: { ETH: '1', USDT: '10' } } },
      ),
      env: { TOLLGATE_SEED: newMnemonic() },
    })
    try {
      const ownChain = second.ctx.chains.get('devnet')!
      const ownTreasury = roleWallet(second.ctx, ownChain, 'treasury')
      await devnet.payNative(ownTreasury.address, parseEther('5'))
      await devnet.payToken(ownTreasury.address, 30_000_000n)
      // the operator's funding of the hot wallet is booked first
      expect((await reconcileChain(second.ctx, ownChain)).funding.length).toBe(2)
      const settled = async () => {
        const rows = await second.ctx.db.select().from(outboundTxs)
        return rows.filter((t) => t.status === 'confirmed').length === 2 &&
          rows.every((t) => t.status === 'confirmed' || t.status === 'replaced')
          ? rows
          : undefined
      }
      for (let i = 0; i < 20; i++) {
        await processPayouts(second.ctx, 'devnet')
        if (await settled()) break
        await devnet.mine(1)
      }
      // one move per asset confirmed (a send that stalled under load is replaced at its nonce, never doubled)
      const rows = (await settled()) ?? []
      const moves = rows.filter((m) => m.status === 'confirmed')
      expect(moves.map((m) => [m.purpose, m.status])).toEqual([
        ['cold', 'confirmed'],
        ['cold', 'confirmed'],
      ])
      expect(new Set(moves.map((m) => m.asset)).size).toBe(2)
      // the native move leaves room for its own fee: the treasury never dips below its float
      const ethMove = moves.find((m) => m.asset.endsWith('slip44:60'))!
      expect(ethMove.amount).toBeGreaterThan(parseEther('4') - parseEther('0.01'))
      expect(await eth(coldAddress)).toBe(ethMove.amount!)
      expect(await usdt(coldAddress)).toBe(20_000_000n)
      const fees = rows.reduce((s, m) => s + (m.fee ?? 0n), 0n)
      expect(await eth(ownTreasury.address)).toBe(parseEther('5') - ethMove.amount! - fees)
      expect(await eth(ownTreasury.address)).toBeGreaterThanOrEqual(parseEther('1') - fees)
      expect(await usdt(ownTreasury.address)).toBe(10_000_000n)
      const report = await reconcileChain(second.ctx, ownChain)
      expect(report.discrepancies).toEqual([])
      expect(report.lines.find((l) => l.role === 'cold' && l.asset.endsWith('slip44:60'))?.ledger).toBe(
        ethMove.amount ?? undefined,
      )
      // nothing more moves while the treasury sits at its float
      await processPayouts(second.ctx, 'devnet')
      expect((await second.ctx.db.select().from(outboundTxs)).length).toBe(rows.length)
    } finally {
      await second.close()
    }
  }, 60_000)
})
