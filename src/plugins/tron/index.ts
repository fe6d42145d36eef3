import {
  type ChainDriver,
  type DriverContext,
  DriverError,
  defineChainDriver,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { tronBase58ToHex, validateTronAddress } from './address.ts'
import { tokensByLogAddress, tronAssets } from './assets.ts'
import { deriveTronAddress } from './derive.ts'
import { createTronClient } from './http.ts'
import { checkTronNetwork } from './network.ts'
import { type TronOptions, tronOptionsSchema } from './options.ts'
import { createTronPayouts } from './payouts.ts'
import { scanTronRange, type TronBlock, tronBlockRef } from './scan.ts'
import { tronPaymentUri } from './uri.ts'

/**
 * The key under which Tron addresses are compared: the lowercase 21-byte hex form (`41…`). java-tron's HTTP
 * API answers in hex (visible = false) and TVM logs carry the 20 bytes after `41`, so the scan matches
 * recipients without base58-encoding every transfer of every block; the hex form is also case-free, unlike
 * base58. Accepts either form.
 *
 * @example
 * tronAddressKey('TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t') // '41a614f803b6fd780986a42c78ec9c7f77e6ded13c'
 */
export function tronAddressKey(address: string): string {
  if (/^(0x)?41[0-9a-fA-F]{40}$/.test(address)) return address.replace(/^0x/, '').toLowerCase()
  const hex = tronBase58ToHex(address)
  if (!hex) throw new DriverError('INVALID_ADDRESS', `not a Tron address: ${address}`, { retryable: false })
  return hex
}

/**
 * The Tron chain driver: detection and sending (payouts, sweep funding by the gas tank) of TRX and configured
 * TRC-20 tokens over java-tron's HTTP API.
 *
 * @example
 * const driver = createTronDriver(tronOptionsSchema.parse({ fullHosts: ['https://api.trongrid.io'] }), ctx)
 */
export function createTronDriver(options: TronOptions, _ctx: DriverContext): ChainDriver {
  const { chainId, native, all } = tronAssets(options)
  const accountPath = `m/44'/195'/${options.account}'`
  const client = createTronClient(options)
  const scanConfig = { native, tokens: tokensByLogAddress(all), concurrency: options.scanConcurrency }
  const timers = new Set<ReturnType<typeof setInterval>>()
  return {
    chainId,
    nativeAsset: native,
    assets: all,
    confirmations: options.confirmations,
    finalityDepth: options.finalityDepth,
    maxOutputs: 1,
    accountPath,
    deriveAddress: ({ xpub, index }) => deriveTronAddress(xpub, accountPath, index),
    validateAddress: validateTronAddress,
    paymentUri: tronPaymentUri,
    addressKey: tronAddressKey,
    getTip: async (signal) => tronBlockRef(await client.call<TronBlock>('/wallet/getnowblock', {}, signal)),
    getBlockRef: async (height, signal) =>
      tronBlockRef(
        await client.call<TronBlock>('/wallet/getblockbynum', { num: Number(height) }, signal),
        height,
      ),
    scan: (request) => scanTronRange(client, scanConfig, request),
    checkNetwork: (signal) => checkTronNetwork(client, options.network, signal),
    payouts: createTronPayouts(client, options),
    watchHeads: (onHead) => {
      let last = -1n
      const timer = setInterval(async () => {
        try {
          const tip = tronBlockRef(await client.call<TronBlock>('/wallet/getnowblock', {}))
          if (tip.height > last) {
            last = tip.height
            onHead(tip.height)
          }
        } catch {
          // the scheduler tick still scans; a dead node shows up there
        }
      }, options.headPollMs)
      timers.add(timer)
      return () => {
        clearInterval(timer)
        timers.delete(timer)
      }
    },
    close: async () => {
      for (const t of timers) clearInterval(t)
      timers.clear()
    },
  }
}

export default defineChainDriver({
  apiVersion: SDK_API_VERSION,
  name: 'tron',
  options: tronOptionsSchema,
  create: createTronDriver,
})
