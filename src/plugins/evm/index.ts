import { type ChainDriver, type DriverContext, defineChainDriver, SDK_API_VERSION } from '@tollgate/sdk'
import { validateEvmAddress } from './address.ts'
import { evmAssets } from './assets.ts'
import { maxBatchOutputs } from './batch.ts'
import { callEvmContract } from './call.ts'
import { deriveEvmAddress } from './derive.ts'
import { watchEvmHeads } from './heads.ts'
import { createInternalTransfers, describeInternalModeNow } from './internal.ts'
import { checkEvmNetwork } from './network.ts'
import { type EvmOptions, evmOptionsSchema } from './options.ts'
import { createEvmPayouts } from './payouts.ts'
import { createEvmRpc, fetchBlockRef, fetchTip, rpcCost } from './rpc.ts'
import { createEvmSafe } from './safe.ts'
import { type EvmScanConfig, scanEvmRange } from './scan.ts'
import { evmPaymentUri } from './uri.ts'

/**
 * One driver for every EVM chain; the chain itself is data in the options.
 *
 * @example
 * const driver = createEvmDriver(evmOptionsSchema.parse({ chain: anvil, rpcUrls: ['http://127.0.0.1:8545'] }), ctx)
 */
export function createEvmDriver(options: EvmOptions, ctx: DriverContext): ChainDriver {
  const { native, all } = evmAssets(options)
  const accountPath = `m/44'/60'/${options.account}'`
  const rpc = createEvmRpc(options)
  const { client } = rpc
  const internal = createInternalTransfers(options.nativeDeposits ? options.internalTransfers : 'off', {
    log: ctx.log,
  })
  const scanConfig: EvmScanConfig = {
    native,
    tokens: new Map(all.filter((a) => a.contract).map((a) => [(a.contract as string).toLowerCase(), a])),
    concurrency: options.scanConcurrency,
    nativeDeposits: options.nativeDeposits,
    internal,
    blockReceipts: {},
    rpcCost: () => rpcCost(rpc),
  }
  return {
    chainId: `eip155:${options.chain.id}`,
    nativeAsset: native,
    assets: all,
    confirmations: options.confirmations,
    finalityDepth: options.finalityDepth,
    maxOutputs: options.batchPayouts ? maxBatchOutputs : 1,
    accountPath,
    deriveAddress: ({ xpub, index }) => deriveEvmAddress(xpub, accountPath, index),
    validateAddress: validateEvmAddress,
    paymentUri: (a) => evmPaymentUri(options.chain.id, a),
    addressKey: (address) => address.toLowerCase(),
    getTip: () => fetchTip(client, options.tipLag),
    getBlockRef: (height) => fetchBlockRef(client, height),
    scan: (request) => scanEvmRange(rpc, scanConfig, request),
    detectionModes: async (signal) => ({
      nativeDeposits: options.nativeDeposits ? 'on' : 'off',
      internalTransfers: await describeInternalModeNow(rpc, internal, signal),
    }),
    checkNetwork: () => checkEvmNetwork(client, options.chain.id),
    callContract: (call, signal) => callEvmContract(client, call, signal),
    watchHeads: (onHead) => watchEvmHeads(options, onHead, ctx.log),
    payouts: createEvmPayouts(
      client,
      options,
      native,
      all.filter((a) => !a.native),
      rpc.batched,
    ),
    // a Safe as cold wallet: drafts its owners sign, executed by the gateway's gas tank
    multisig: createEvmSafe(client, options.chain.id),
  }
}

export default defineChainDriver({
  apiVersion: SDK_API_VERSION,
  name: 'evm',
  options: evmOptionsSchema,
  create: createEvmDriver,
})
