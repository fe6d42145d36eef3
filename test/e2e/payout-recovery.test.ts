import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { type Hex, parseAbi, parseEther, parseGwei } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { batchWithdrawals } from '../../src/core/payouts/batches.ts'
import { advanceOutbound } from '../../src/core/payouts/outbound.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { requestWithdrawal } from '../../src/core/payouts/withdrawals.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { outboundTxs, withdrawals } from '../../src/db/schema/index.ts'
import type { TestApp } from '../helpers/app.ts'
import type { Devnet } from '../helpers/chain.ts'
import { fundWallet, paidPayments, startDevnetApp } from '../helpers/devnet-app.ts'

let devnet: Devnet
let app: TestApp
let merchantId: string
let treasury: { address: string; path: string }
// one scanner for the file: the chain's scan lease belongs to it
const scanner = newScannerState()
const chain = () => app.ctx.chains.get('devnet')!

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2 },
    { payouts: { stuckAfterBlocks: 3, feeBumpPercent: 125 }, sweeps: { enabled: false } },
  ))
  merchantId = (await app.merchant('Recovery shop')).id
  treasury = roleWallet(app.ctx, chain(), 'treasury')
  // a credited balance through the real path, and a funded hot wallet
  await paidPayments(app, devnet, merchantId, [['ETH', '5']], { confirmations: 2, scanner })
  await fundWallet(devnet, treasury.address, { ETH: '10' })
}, 60_000)
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const rpc = (method: string, params: unknown[]) =>
  devnet.test.request({ method: method as never, params: params as never })

async function withdraw(to: string, amount: string, key: string) {
  const { withdrawal } = await requestWithdrawal(app.ctx, merchantId, {
    chain: 'devnet',
    asset: 'ETH',
    to,
    amount,
    idempotencyKey: key,
  })
  return withdrawal
}

/** The withdrawal and every transaction of its nonce (the live one and any it replaced). */
async function rowsFor(withdrawalId: string) {
  const [w] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawalId))
  const [live] = w?.outboundTxId
    ? await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.id, w.outboundTxId))
    : []
  const txs = live
    ? await app.ctx.db.select().from(outboundTxs).where(eq(outboundTxs.nonce, live.nonce!))
    : []
  return { withdrawal: w!, live, txs }
}

describe('stuck and dropped transactions', () => {
  test('behavior: a transaction priced below the base fee is replaced after N blocks with the same nonce; only the replacement is mined', async () => {
    const to = privateKeyToAccount(`0x${'a1'.repeat(32)}`).address
    const w = await withdraw(to, '1', 'stuck-1')
    const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
    // sent at today's fee, but it sits in the pool: no block is mined while it is there…
    await rpc('evm_setAutomine', [false])
    try {
      expect(await batchWithdrawals(app.ctx, chain())).toBe(1)
      expect((await advanceOutbound(app.ctx, chain())).broadcast).toBe(1)
      // …and then the base fee jumps far above what it offers, so the blocks that follow leave it out
      await rpc('anvil_setNextBlockBaseFeePerGas', [`0x${parseGwei('500').toString(16)}`])
      for (let i = 0; i < 3; i++) {
        await devnet.mine(1)
        await advanceOutbound(app.ctx, chain())
      }
    } finally {
      await rpc('evm_setAutomine', [true])
    }
    let state = await rowsFor(w.id)
    // the replacement is built in the pass that finds the original stuck, and signed and sent by the next
    expect(state.txs.map((t) => t.status).sort()).toEqual(['built', 'replaced'])
    const replacement = state.txs.find((t) => t.status === 'built')!
    const replaced = state.txs.find((t) => t.status === 'replaced')!
    expect(replacement.nonce).toBe(replaced.nonce)
    expect(replacement.replaces).toBe(replaced.id)
    expect(BigInt((replacement.unsigned as { maxFeePerGas: string }).maxFeePerGas)).toBeGreaterThan(
      BigInt((replaced.unsigned as { maxFeePerGas: string }).maxFeePerGas),
    )
    for (let i = 0; i < 6 && state.withdrawal.status !== 'CONFIRMED'; i++) {
      await devnet.mine(1)
      await advanceOutbound(app.ctx, chain())
      state = await rowsFor(w.id)
    }
    expect(state.withdrawal.status).toBe('CONFIRMED')
    expect(state.withdrawal.outboundTxId).toBe(replacement.id)
    expect(await devnet.client.getBalance({ address: to })).toBe(parseEther('1'))
    expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
      nonceBefore + 1,
    )
    // the original hash never made it into a block
    const receipt = await devnet.client
      .getTransactionReceipt({ hash: replaced.hash as Hex })
      .catch(() => null)
    expect(receipt).toBeNull()
  }, 60_000)

  test('behavior: a transaction dropped from the mempool is re-sent with the same bytes, never new ones', async () => {
    const to = privateKeyToAccount(`0x${'b2'.repeat(32)}`).address
    const w = await withdraw(to, '0.5', 'dropped-1')
    await rpc('evm_setAutomine', [false])
    try {
      await batchWithdrawals(app.ctx, chain())
      await advanceOutbound(app.ctx, chain())
      const sent = (await rowsFor(w.id)).live!
      expect(sent.status).toBe('broadcast')
      await rpc('anvil_dropTransaction', [sent.hash])
      expect(await devnet.client.getTransaction({ hash: sent.hash as Hex }).catch(() => null)).toBeNull()
      // the tracker finds it unknown and broadcasts the stored raw bytes again
      await advanceOutbound(app.ctx, chain())
      expect((await devnet.client.getTransaction({ hash: sent.hash as Hex })).hash).toBe(sent.hash as Hex)
      await rpc('evm_setAutomine', [true])
      await devnet.mine(3)
      await advanceOutbound(app.ctx, chain())
      const after = await rowsFor(w.id)
      expect(after.withdrawal.status).toBe('CONFIRMED')
      expect(after.txs.filter((t) => t.nonce === sent.nonce).map((t) => t.hash)).toEqual([sent.hash])
      expect(await devnet.client.getBalance({ address: to })).toBe(parseEther('0.5'))
    } finally {
      await rpc('evm_setAutomine', [true])
    }
  }, 60_000)

  test('behavior: a nonce taken by a transaction the gateway did not send fails the withdrawal and releases it', async () => {
    const to = privateKeyToAccount(`0x${'c3'.repeat(32)}`).address
    const before = await getBalances(app.ctx, merchantId)
    const w = await withdraw(to, '0.25', 'foreign-1')
    await rpc('evm_setAutomine', [false])
    let hash: string | undefined
    try {
      await batchWithdrawals(app.ctx, chain())
      await advanceOutbound(app.ctx, chain())
      hash = (await rowsFor(w.id)).live?.hash ?? undefined
      await rpc('anvil_dropTransaction', [hash])
      // someone else with the hot wallet's key spends that nonce first
      await rpc('anvil_impersonateAccount', [treasury.address])
      await rpc('eth_sendTransaction', [{ from: treasury.address, to: treasury.address, value: '0x0' }])
      await rpc('anvil_stopImpersonatingAccount', [treasury.address])
      await rpc('evm_setAutomine', [true])
      await devnet.mine(1)
    } finally {
      await rpc('evm_setAutomine', [true])
    }
    await advanceOutbound(app.ctx, chain())
    const after = await rowsFor(w.id)
    expect(after.withdrawal.status).toBe('FAILED')
    expect(after.withdrawal.failureReason).toContain('did not send')
    expect(await devnet.client.getBalance({ address: to })).toBe(0n)
    expect(hash).toBeDefined()
    // the reserve went back: the merchant can withdraw it again
    expect(await getBalances(app.ctx, merchantId)).toEqual(before)
  }, 60_000)

  test('behavior: a withdrawal the treasury cannot pay yet waits QUEUED without holding up the others, then goes out once funded', async () => {
    const { createPayment } = await import('../../src/core/payments/create.ts')
    const { payment } = await createPayment(app.ctx, merchantId, {
      chain: 'devnet',
      asset: 'USDT',
      amount: '20',
    })
    await devnet.payToken(payment.address, 20_000_000n)
    await devnet.mine(2)
    await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, chain())
    const usdtTo = privateKeyToAccount(`0x${'d4'.repeat(32)}`).address
    const ethTo = privateKeyToAccount(`0x${'e5'.repeat(32)}`).address
    // the merchant's USDT is credited, but nothing has moved it to the treasury (sweeps are off in this file)
    const { withdrawal: waiting } = await requestWithdrawal(app.ctx, merchantId, {
      chain: 'devnet',
      asset: 'USDT',
      to: usdtTo,
      amount: '3',
      idempotencyKey: 'unfunded-1',
    })
    const eth = await withdraw(ethTo, '0.1', 'funded-1')
    for (let i = 0; i < 4; i++) {
      await batchWithdrawals(app.ctx, chain())
      await advanceOutbound(app.ctx, chain())
      await devnet.mine(1)
    }
    expect((await rowsFor(eth.id)).withdrawal.status).toBe('CONFIRMED')
    const stillWaiting = (await rowsFor(waiting.id)).withdrawal
    expect(stillWaiting.status).toBe('QUEUED')
    expect(stillWaiting.buildAttempts).toBe(0)
    // and says why (the merchant sees it as waitingReason)
    expect(stillWaiting.lastError).toBe('waiting for the treasury to hold 3000000 base units of USDT')
    // the operator (or a sweep) brings USDT to the treasury: the waiting withdrawal goes out
    await devnet.payToken(treasury.address, 10_000_000n)
    for (let i = 0; i < 6 && (await rowsFor(waiting.id)).withdrawal.status !== 'CONFIRMED'; i++) {
      await batchWithdrawals(app.ctx, chain())
      await advanceOutbound(app.ctx, chain())
      await devnet.mine(1)
    }
    expect((await rowsFor(waiting.id)).withdrawal.status).toBe('CONFIRMED')
    const held = await devnet.client.readContract({
      address: devnet.tokenAddress,
      abi: parseAbi(['function balanceOf(address) view returns (uint256)']),
      functionName: 'balanceOf',
      args: [usdtTo],
    })
    expect(held).toBe(3_000_000n)
  }, 60_000)
})
