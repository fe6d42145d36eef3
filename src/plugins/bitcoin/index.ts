import { type ChainDriver, type DriverContext, defineChainDriver, SDK_API_VERSION } from '@tollgate/sdk'
import { bitcoinAddressKey, validateBitcoinAddress } from './address.ts'
import { bitcoinAsset } from './assets.ts'
import { fetchBlockRef, fetchTip, pollHeads } from './blocks.ts'
import { bip84AccountPath, deriveChangeAddress, deriveReceiveAddress } from './derive.ts'
import { createBitcoinMempool } from './mempool.ts'
import { createBitcoinMultisig } from './multisig.ts'
import { checkBitcoinNetwork } from './network.ts'
import { bip122ChainId, bitcoinNetworks } from './networks.ts'
import { type BitcoinOptions, bitcoinOptionsSchema } from './options.ts'
import { createBitcoinPayouts } from './payouts.ts'
import { createBitcoinRpc } from './rpc.ts'
import { type BitcoinScanRequest, type BitcoinScanResult, scanBitcoinRange } from './scan.ts'
import { bitcoinPaymentUri } from './uri.ts'

/** The Bitcoin driver: `ChainDriver` whose `scan` also takes `watchOutpoints` and then returns `spends`. */
export type BitcoinDriver = Omit<ChainDriver, 'scan'> & {
  scan(request: BitcoinScanRequest): Promise<BitcoinScanResult>
}

/**
 * Bitcoin (mainnet, testnet, regtest) over Bitcoin Core or bcoin JSON-RPC: BIP84 P2WPKH deposit addresses,
 * every standard address type accepted, scanning by raw blocks parsed locally; P2WSH M-of-N cold wallets of the
 * owners' xpubs whose transfers out are PSBTs the owners sign (`multisig`). `addressKey` is the scriptPubKey
 * hex (see `bitcoinAddressKey`).
 *
 * @example
 * const driver = createBitcoinDriver(bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: [url] }), ctx)
 */
export function createBitcoinDriver(options: BitcoinOptions, _ctx: DriverContext): BitcoinDriver {
  const network = bitcoinNetworks[options.network]
  const native = bitcoinAsset(network)
  const accountPath = bip84AccountPath(network, options.account)
  const rpc = createBitcoinRpc({
    urls: options.rpcUrls,
    user: options.rpcUser,
    password: options.rpcPassword,
    timeoutMs: options.timeoutMs,
  })
  const scanConfig = { network, native, concurrency: options.scanConcurrency }
  return {
    chainId: bip122ChainId(network),
    nativeAsset: native,
    assets: [native],
    confirmations: options.confirmations,
    finalityDepth: options.finalityDepth,
    maxOutputs: options.maxOutputs,
    accountPath,
    deriveAddress: ({ xpub, index }) => deriveReceiveAddress(xpub, accountPath, network, index),
    deriveChangeAddress: ({ xpub, index }) => deriveChangeAddress(xpub, accountPath, network, index),
    validateAddress: (s) => validateBitcoinAddress(s, network),
    paymentUri: bitcoinPaymentUri,
    addressKey: (address) => bitcoinAddressKey(address, network),
    getTip: (signal) => fetchTip(rpc, signal),
    getBlockRef: (height, signal) => fetchBlockRef(rpc, height, signal),
    scan: (request) => scanBitcoinRange(rpc, scanConfig, request),
    checkNetwork: (signal) => checkBitcoinNetwork(rpc, network, signal),
    watchHeads: (onHead) => pollHeads(rpc, options.headPollMs, onHead),
    mempool: createBitcoinMempool(rpc, scanConfig),
    payouts: createBitcoinPayouts(rpc, network, options),
    multisig: createBitcoinMultisig(rpc, network, options),
  }
}

export default defineChainDriver({
  apiVersion: SDK_API_VERSION,
  name: 'bitcoin',
  options: bitcoinOptionsSchema,
  create: createBitcoinDriver,
})
