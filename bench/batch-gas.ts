// Gas per payout on anvil, one transaction per payout vs one BatchPayouts call for all of them, for ERC-20 and
// native payouts to fresh accounts (nothing held yet) and to existing ones; and what the driver's planner
// (planOutputs) picks for each, which must never be the dearer form. Part of bench/payouts.ts's section.
import type { AssetInfo, PayoutDriver, PayoutOutput, UnsignedTx, WalletAddress } from '@tollgate/sdk'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createSigner } from '../src/core/payouts/signer.ts'
import { deriveEvmAddress } from '../src/plugins/evm/derive.ts'
import { type Devnet, devnetDriver, gatewayMnemonic } from '../test/helpers/chain.ts'
import { fmt, table } from './lib.ts'

/**
 * Measures on `devnet` (a sender of its own, so the gateway's nonces are untouched) and answers the markdown
 * table and the ERC-20 batch/single ratio to fresh accounts.
 */
export async function measureBatchGas(
  devnet: Devnet,
  n = 100,
): Promise<{ table: string; erc20Ratio: number }> {
  const driver = devnetDriver(devnet, devnet.url, { batchPayouts: true })
  const payouts = driver.payouts as PayoutDriver
  const signer = createSigner(gatewayMnemonic)
  const from: WalletAddress = deriveEvmAddress(signer.xpub("m/44'/60'/9'"), "m/44'/60'/9'", 0)
  await devnet.payNative(from.address, parseEther('100'))
  await devnet.payToken(from.address, 10n ** 12n)
  let nonce = BigInt(await devnet.client.getTransactionCount({ address: from.address as Hex }))
  const send = async (unsigned: UnsignedTx) => {
    const signed = await payouts.sign(unsigned, from, signer)
    await payouts.broadcast(signed)
    nonce++
    const receipt = await devnet.client.waitForTransactionReceipt({ hash: signed.hash as Hex })
    if (receipt.status !== 'success') throw new Error(`bench transaction ${signed.hash} failed`)
    return receipt.gasUsed
  }
  for (const s of await payouts.batchSetup!({ from, nonce })) await send(s.unsigned)
  let key = 0x5000
  const freshAddresses = () =>
    Array.from(
      { length: n },
      () => privateKeyToAccount(`0x${(key++).toString(16).padStart(64, 'a')}` as Hex).address,
    )
  const usdt = driver.assets.find((a) => !a.native) as AssetInfo
  const native = driver.nativeAsset
  const single = async (asset: AssetInfo, outputs: PayoutOutput[]) => {
    let gas = 0n
    for (const o of outputs) gas += await send(await payouts.build({ from, asset, outputs: [o], nonce }))
    return gas
  }
  const batch = async (asset: AssetInfo, outputs: PayoutOutput[]) =>
    send(await payouts.build({ from, asset, outputs, nonce }))
  const rows: Array<Array<string | number>> = []
  let erc20Ratio = Number.NaN
  for (const asset of [usdt, native])
    for (const kind of ['fresh', 'existing'] as const) {
      const amount = asset.native ? parseEther('0.001') : 1_000n
      const a = freshAddresses().map((to) => ({ to, amount }))
      const b = freshAddresses().map((to) => ({ to, amount }))
      if (kind === 'existing') for (const o of [...a, ...b]) await devnet.payNative(o.to, 1n)
      if (kind === 'existing' && !asset.native) for (const o of [...a, ...b]) await devnet.payToken(o.to, 1n)
      const plan = await payouts.planOutputs!({ from, asset, outputs: b })
      const chosen = plan.length === 1 ? 'batch' : plan.every((g) => g.length === 1) ? 'single' : 'mixed'
      const singleGas = Number(await single(asset, a)) / n
      const batchGas = Number(await batch(asset, b)) / n
      const ratio = batchGas / singleGas
      if (!asset.native && kind === 'fresh') erc20Ratio = ratio
      const picked = chosen === 'batch' ? batchGas : singleGas
      rows.push([
        `${asset.native ? 'native' : 'ERC-20'} to ${kind} accounts`,
        n,
        fmt(singleGas, 0),
        fmt(batchGas, 0),
        fmt(ratio, 2),
        chosen,
        fmt(picked, 0),
      ])
    }
  return {
    table: table(
      [
        'payouts',
        'count',
        'gas/payout single',
        'gas/payout batch',
        'batch ÷ single',
        'planner picks',
        'gas/payout picked',
      ],
      rows,
    ),
    erc20Ratio,
  }
}
