import { DriverError, type PayoutDriver } from '@tollgate/sdk'
import { decodeBitcoinAddress } from './address.ts'
import { broadcastPayout } from './broadcast.ts'
import { buildPayout } from './build.ts'
import { dustLimit } from './dust.ts'
import { chooseFeeRate, estimateFeeRate, type FeePolicy, feeRateFromSatPerVb } from './fees.ts'
import type { BitcoinNetwork } from './networks.ts'
import type { BitcoinOptions } from './options.ts'
import { type BitcoinRpc, btcToSats } from './rpc.ts'
import { signPayout } from './sign.ts'
import { transactionStatus } from './tx-status.ts'

/** The options the sending half reads. */
export type BitcoinPayoutOptions = Pick<
  BitcoinOptions,
  'maxOutputs' | 'feeTargetBlocks' | 'fallbackFeeRate' | 'maxFeeRate' | 'minRelayFeeRate' | 'broadcastWaitMs'
>

/** The fee policy (sat/kvB) from the driver's sat/vB options. */
export function feePolicyOf(options: BitcoinPayoutOptions): FeePolicy {
  return {
    fallback: feeRateFromSatPerVb(options.fallbackFeeRate),
    max: feeRateFromSatPerVb(options.maxFeeRate),
    minRelay: feeRateFromSatPerVb(options.minRelayFeeRate),
  }
}

/**
 * The sending half of the Bitcoin driver (`PayoutDriver`): builds P2WPKH spends of the coins the core offers
 * (batch payouts, sweeps, BIP125 replacements) at the node's `estimatesmartfee` rate (or `fallbackFeeRate`,
 * capped by `maxFeeRate`), signs them by derivation path (BIP143, low-S DER), broadcasts with
 * `sendrawtransaction` and reads their status through the node's transaction index.
 *
 * `balance` is `UNSUPPORTED`: a UTXO chain's balance is the sum of the coins the core tracks; the node call
 * for an arbitrary address, `scantxoutset`, is Core-only (bcoin has none) and scans the whole UTXO set.
 *
 * @example
 * const payouts = createBitcoinPayouts(rpc, bitcoinNetworks.mainnet, options)
 * const unsigned = await payouts.build({ from, asset, outputs, inputs: coins, change })
 */
export function createBitcoinPayouts(
  rpc: BitcoinRpc,
  network: BitcoinNetwork,
  options: BitcoinPayoutOptions,
): PayoutDriver {
  const policy = feePolicyOf(options)
  return {
    spendsCoins: true,
    async build(request, signal) {
      const estimate = await estimateFeeRate(rpc, options.feeTargetBlocks, signal)
      const feeRate = chooseFeeRate(estimate, policy, request.feeBumpPercent ?? 100)
      return buildPayout(request, { network, maxOutputs: options.maxOutputs, feeRate, policy })
    },
    sign: (tx, _from, signer) => signPayout(tx, signer),
    broadcast: (tx, signal) => broadcastPayout(rpc, tx, options.broadcastWaitMs, signal),
    status: (hash, signal) => transactionStatus(rpc, hash, signal),
    minOutput(address) {
      const decoded = decodeBitcoinAddress(address, network)
      return decoded.ok ? dustLimit[decoded.value.type] : 0n
    },
    async unspent(outpoints, signal) {
      const out = new Map<string, bigint | null>()
      for (const outpoint of outpoints) {
        const [txid, vout] = outpoint.split(':')
        // include_mempool: a coin a pending transaction spends is no longer ours to count
        const coin = (await rpc.call('gettxout', [txid, Number(vout), true], signal)) as {
          value?: number
        } | null
        out.set(outpoint, coin && typeof coin.value === 'number' ? btcToSats(coin.value) : null)
      }
      return out
    },
    async balance() {
      throw new DriverError(
        'UNSUPPORTED',
        'Bitcoin balances are the coins the gateway tracks; nodes have no per-address balance call (scantxoutset is Core-only)',
        { retryable: false },
      )
    },
  }
}
