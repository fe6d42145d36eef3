import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AssetInfo, PayoutDriver, PayoutOutput, UnsignedTx, WalletAddress } from '@tollgate/sdk'
import { type Hex, keccak256, maxUint256, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { compileBatchPayouts } from '../../../contracts/BatchPayouts.ts'
import {
  type Devnet,
  devnetDriver,
  gatewayEvmWallet,
  gatewaySigner as signer,
  startDevnet,
} from '../../../test/helpers/chain.ts'
import { batchContract } from './batch-contract.ts'

let devnet: Devnet
let batching: PayoutDriver
let plain: PayoutDriver
let native: AssetInfo
let usdt: AssetInfo
const treasury: WalletAddress = gatewayEvmWallet('treasury')
let nextKey = 1
/** An address nobody has used yet. */
const fresh = () => privateKeyToAccount(`0x${(nextKey++).toString(16).padStart(64, 'b')}` as Hex).address

beforeAll(async () => {
  devnet = await startDevnet()
  const driver = devnetDriver(devnet, devnet.url, { batchPayouts: true })
  batching = driver.payouts!
  plain = devnetDriver(devnet).payouts!
  native = driver.nativeAsset
  usdt = driver.assets.find((a) => a.symbol === 'USDT')!
  await devnet.payNative(treasury.address, parseEther('50'))
  await devnet.payToken(treasury.address, 10_000_000_000n)
}, 30_000)
afterAll(() => devnet?.stop())

async function nonce(): Promise<bigint> {
  return BigInt(await devnet.client.getTransactionCount({ address: treasury.address as Hex }))
}

/** Signs and sends a built transaction from the treasury; the receipt once anvil mined it. */
async function send(payouts: PayoutDriver, unsigned: UnsignedTx) {
  const signed = await payouts.sign(unsigned, treasury, signer)
  await payouts.broadcast(signed)
  return devnet.client.waitForTransactionReceipt({ hash: signed.hash as Hex })
}

const usdtOf = (address: string) => devnet.tokenBalance(address)

/** What sending `outputs` one by one costs in gas, as the node runs them (state rolled back afterwards). */
async function singlesGasUsed(asset: AssetInfo, outputs: readonly PayoutOutput[]): Promise<bigint> {
  const snapshot = await devnet.test.snapshot()
  let used = 0n
  let n = await nonce()
  for (const o of outputs) {
    const unsigned = await plain.build({ from: treasury, asset, outputs: [o], nonce: n++ })
    used += (await send(plain, unsigned)).gasUsed
  }
  await devnet.test.revert({ id: snapshot })
  return used
}

test('behavior: the committed artifact and the driver constants are what BatchPayouts.sol compiles to', () => {
  const fresh = compileBatchPayouts()
  const committed = JSON.parse(
    readFileSync(join(import.meta.dir, '../../../contracts/BatchPayouts.json'), 'utf8'),
  )
  expect(committed).toEqual(JSON.parse(JSON.stringify(fresh)))
  expect(batchContract as Record<string, string>).toEqual({
    address: fresh.address,
    runtimeCodeHash: fresh.runtimeCodeHash,
    salt: fresh.salt,
    deploymentProxy: fresh.deploymentProxy,
    bytecode: fresh.bytecode,
  })
})

describe('before the contract is set up', () => {
  test('behavior: without batchPayouts the driver pays one output per transaction', async () => {
    expect(devnetDriver(devnet).maxOutputs).toBe(1)
    expect(devnetDriver(devnet, devnet.url, { batchPayouts: true }).maxOutputs).toBeGreaterThanOrEqual(100)
    const outputs = [fresh(), fresh()].map((to) => ({ to, amount: 1_000_000n }))
    expect(await plain.planOutputs!({ from: treasury, asset: usdt, outputs })).toEqual([[0], [1]])
    await expect(plain.build({ from: treasury, asset: usdt, outputs, nonce: 0n })).rejects.toMatchObject({
      code: 'TOO_MANY_OUTPUTS',
    })
  })

  test('edge: nothing at the batch address: every output alone, and a batch build is refused', async () => {
    expect(await devnet.client.getCode({ address: batchContract.address as Hex })).toBeUndefined()
    const outputs = [fresh(), fresh(), fresh()].map((to) => ({ to, amount: 1_000_000n }))
    expect(await batching.planOutputs!({ from: treasury, asset: usdt, outputs })).toEqual([[0], [1], [2]])
    await expect(
      batching.build({ from: treasury, asset: usdt, outputs, nonce: await nonce() }),
    ).rejects.toMatchObject({ code: 'BATCH_UNAVAILABLE' })
  })
})

describe('set up through the deployment proxy', () => {
  beforeAll(async () => {
    // anvil carries the standard deterministic deployment proxy
    expect(await devnet.client.getCode({ address: batchContract.deploymentProxy as Hex })).not.toBeUndefined()
    const setup = await batching.batchSetup!({ from: treasury, nonce: await nonce() })
    expect(setup.map((s) => s.asset.symbol)).toEqual(['ETH', 'USDT'])
    for (const s of setup) expect((await send(batching, s.unsigned)).status).toBe('success')
  }, 30_000)

  test('behavior: the contract sits at its CREATE2 address with the expected code, the treasury approved it', async () => {
    const code = await devnet.client.getCode({ address: batchContract.address as Hex })
    expect(keccak256(code!)).toBe(batchContract.runtimeCodeHash)
    const allowance = await devnet.tokenAllowance(treasury.address, batchContract.address)
    expect(allowance).toBe(maxUint256)
    // asked again: nothing left to do
    expect(await batching.batchSetup!({ from: treasury, nonce: await nonce() })).toEqual([])
  })

  test('behavior: 100 token payouts to fresh accounts are planned as one batch, built as one call, and cost less gas per payout', async () => {
    const outputs = Array.from({ length: 100 }, (_, i) => ({ to: fresh(), amount: BigInt(i + 1) * 10_000n }))
    const plan = await batching.planOutputs!({ from: treasury, asset: usdt, outputs })
    expect(plan).toEqual([outputs.map((_, i) => i)])
    const single = await singlesGasUsed(usdt, outputs)
    const unsigned = await batching.build({ from: treasury, asset: usdt, outputs, nonce: await nonce() })
    expect(unsigned.amounts).toEqual(outputs.map((o) => o.amount))
    expect((unsigned.payload as { to: string }).to).toBe(batchContract.address)
    const receipt = await send(batching, unsigned)
    expect(receipt.status).toBe('success')
    for (const o of outputs) expect(await usdtOf(o.to)).toBe(o.amount)
    expect(receipt.gasUsed * 10n).toBeLessThanOrEqual(single * 6n)
  }, 30_000)

  test('behavior: native payouts to fresh accounts stay single (the batch would cost more); to existing accounts they batch', async () => {
    const freshOnes = Array.from({ length: 10 }, () => ({ to: fresh(), amount: parseEther('0.01') }))
    expect(await batching.planOutputs!({ from: treasury, asset: native, outputs: freshOnes })).toEqual(
      freshOnes.map((_, i) => [i]),
    )
    const existing = Array.from({ length: 10 }, () => ({ to: fresh(), amount: parseEther('0.01') }))
    for (const o of existing) await devnet.payNative(o.to, 1n)
    const plan = await batching.planOutputs!({ from: treasury, asset: native, outputs: existing })
    expect(plan).toEqual([existing.map((_, i) => i)])
    const single = await singlesGasUsed(native, existing)
    const receipt = await send(
      batching,
      await batching.build({ from: treasury, asset: native, outputs: existing, nonce: await nonce() }),
    )
    expect(receipt.status).toBe('success')
    expect(receipt.gasUsed).toBeLessThan(single)
    for (const o of existing)
      expect(await devnet.client.getBalance({ address: o.to as Hex })).toBe(o.amount + 1n)
  }, 30_000)

  test('edge: a recipient whose transfer reverts is planned alone; the others still go together', async () => {
    const outputs = Array.from({ length: 12 }, () => ({ to: fresh(), amount: parseEther('0.001') }))
    for (const o of outputs) await devnet.payNative(o.to, 1n)
    // outputs 3 and 8 refuse ETH: code without a receive function (a plain transfer to it reverts)
    for (const i of [3, 8])
      await devnet.test.setCode({ address: outputs[i]!.to as Hex, bytecode: '0x60006000fd' })
    const plan = await batching.planOutputs!({ from: treasury, asset: native, outputs })
    expect(plan).toEqual([[0, 1, 2, 4, 5, 6, 7, 9, 10, 11], [3], [8]])
    const together = plan[0]!.map((i) => outputs[i]!)
    const receipt = await send(
      batching,
      await batching.build({ from: treasury, asset: native, outputs: together, nonce: await nonce() }),
    )
    expect(receipt.status).toBe('success')
    for (const o of together)
      expect(await devnet.client.getBalance({ address: o.to as Hex })).toBe(o.amount + 1n)
    // the refuser alone cannot be built: the existing build-failure path fails it on its own
    await expect(
      batching.build({ from: treasury, asset: native, outputs: [outputs[3]!], nonce: await nonce() }),
    ).rejects.toMatchObject({ retryable: false })
  }, 30_000)

  test('edge: a batch the treasury cannot pay in full is not simulated: each output alone (the core waits for funds)', async () => {
    const outputs = [fresh(), fresh()].map((to) => ({ to, amount: 10n ** 18n }))
    expect(await batching.planOutputs!({ from: treasury, asset: usdt, outputs })).toEqual([[0], [1]])
  })
})
