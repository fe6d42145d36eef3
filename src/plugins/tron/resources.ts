import type { TronClient } from './http.ts'
import { ceilDiv, int64Of, maxBig } from './numbers.ts'

/** The network's fee terms (`/wallet/getchainparameters`), in sun. */
export type TronChainParameters = {
  /** sun per burned energy unit (`getEnergyFee`; 420 → 210 → 100 on mainnet over time). */
  energyFee: bigint
  /** sun per burned bandwidth byte (`getTransactionFee`, 1000). */
  transactionFee: bigint
  /** Bandwidth part burned by a transfer that creates an account, without staked bandwidth (`getCreateAccountFee`, 0.1 TRX). */
  createAccountFee: bigint
  /** Burned by the actuator of a transfer that creates an account (`getCreateNewAccountFeeInSystemContract`, 1 TRX). */
  createNewAccountFee: bigint
  /** Free bandwidth bytes every existing account gets per day (`getFreeNetLimit`, 600). */
  freeNetLimit: bigint
}

const PARAMETER_KEYS = {
  energyFee: 'getEnergyFee',
  transactionFee: 'getTransactionFee',
  createAccountFee: 'getCreateAccountFee',
  createNewAccountFee: 'getCreateNewAccountFeeInSystemContract',
  freeNetLimit: 'getFreeNetLimit',
} as const

/** Mainnet values, used for a parameter the node does not list. */
const MAINNET_DEFAULTS: TronChainParameters = {
  energyFee: 100n,
  transactionFee: 1000n,
  createAccountFee: 100_000n,
  createNewAccountFee: 1_000_000n,
  freeNetLimit: 600n,
}

/**
 * The fee parameters of the network, from `/wallet/getchainparameters` (`{chainParameter: [{key, value}]}`; a
 * parameter whose value is 0 has no `value`).
 */
export async function fetchChainParameters(
  client: TronClient,
  signal?: AbortSignal,
): Promise<TronChainParameters> {
  const res = await client.call<{ chainParameter?: Array<{ key: string; value?: number }> }>(
    '/wallet/getchainparameters',
    {},
    signal,
  )
  const byKey = new Map((res.chainParameter ?? []).map((p) => [p.key, p]))
  const out = { ...MAINNET_DEFAULTS }
  for (const [field, key] of Object.entries(PARAMETER_KEYS) as Array<[keyof TronChainParameters, string]>) {
    const p = byKey.get(key)
    if (p) out[field] = int64Of(p.value ?? 0, key)
  }
  return out
}

/** What an account has now: TRX, resources left after the 24 h recovery, and the network's totals. */
export type TronAccountState = {
  /** False for an address never sent TRX (receiving a TRC-20 token does not create the account). */
  exists: boolean
  balance: bigint
  /** Free bandwidth left of the daily `freeNetLimit` (600 bytes on mainnet). */
  freeNet: bigint
  /** Bandwidth from staked (own or delegated) TRX left. */
  stakedNet: bigint
  /** Energy from staked (own or delegated) TRX left. */
  energy: bigint
  /** Frozen (Stake 2.0) sun for energy not delegated away: what the account can still delegate. */
  delegatableEnergySun: bigint
  totalEnergyLimit: bigint
  totalEnergyWeight: bigint
}

type AccountJson = {
  address?: string
  balance?: number
  frozenV2?: Array<{ type?: string; amount?: number }>
  account_resource?: { delegated_frozenV2_balance_for_energy?: number }
}

type ResourceJson = {
  freeNetUsed?: number
  freeNetLimit?: number
  NetUsed?: number
  NetLimit?: number
  EnergyUsed?: number
  EnergyLimit?: number
  TotalEnergyLimit?: number
  TotalEnergyWeight?: number
}

/**
 * `getaccount` and `getaccountresource` of `address` (base58 or `41…` hex). java-tron brings usage up to the
 * head block (24 h linear recovery) before answering, so the values are what a transaction would find now.
 */
export async function fetchAccountState(
  client: TronClient,
  address: string,
  signal?: AbortSignal,
): Promise<TronAccountState> {
  const visible = !/^(0x)?41[0-9a-fA-F]{40}$/.test(address)
  const [account, res] = await Promise.all([
    client.call<AccountJson>('/wallet/getaccount', { address, visible }, signal),
    client.call<ResourceJson>('/wallet/getaccountresource', { address, visible }, signal),
  ])
  const exists = account.address !== undefined
  const frozenEnergy = (account.frozenV2 ?? [])
    .filter((f) => f.type === 'ENERGY')
    .reduce((n, f) => n + int64Of(f.amount, 'frozenV2 energy'), 0n)
  const delegated = int64Of(
    account.account_resource?.delegated_frozenV2_balance_for_energy,
    'delegated energy',
  )
  const left = (limit: number | undefined, used: number | undefined, what: string) =>
    maxBig(0n, int64Of(limit, what) - int64Of(used, what))
  return {
    exists,
    balance: int64Of(account.balance, 'balance'),
    freeNet: left(res.freeNetLimit, res.freeNetUsed, 'free bandwidth'),
    stakedNet: left(res.NetLimit, res.NetUsed, 'bandwidth'),
    energy: left(res.EnergyLimit, res.EnergyUsed, 'energy'),
    delegatableEnergySun: maxBig(0n, frozenEnergy - delegated),
    totalEnergyLimit: int64Of(res.TotalEnergyLimit, 'TotalEnergyLimit'),
    totalEnergyWeight: int64Of(res.TotalEnergyWeight, 'TotalEnergyWeight'),
  }
}

/**
 * The TRX a transaction of `bytes` bandwidth burns, as java-tron's `BandwidthProcessor` decides it:
 * - a TRX transfer that creates its recipient: the 1 TRX creation fee, plus 0.1 TRX unless the sender's staked
 *   bandwidth covers the bytes (free bandwidth never pays for account creation);
 * - otherwise staked bandwidth if it covers all the bytes, else the free daily bandwidth if it covers all of
 *   them, else `bytes × transactionFee` burned (never a mix).
 *
 * @example
 * bandwidthFee({ bytes: 268n, createsAccount: false, account, params }) // 0n with free bandwidth left
 */
export function bandwidthFee(a: {
  bytes: bigint
  createsAccount: boolean
  account: Pick<TronAccountState, 'freeNet' | 'stakedNet'>
  params: TronChainParameters
}): bigint {
  const { bytes, account, params } = a
  if (a.createsAccount)
    return params.createNewAccountFee + (account.stakedNet >= bytes ? 0n : params.createAccountFee)
  if (account.stakedNet >= bytes || account.freeNet >= bytes) return 0n
  return bytes * params.transactionFee
}

const SUN_PER_TRX = 1_000_000n

/**
 * Sun of frozen TRX to delegate so the receiver gets at least `energy` more energy. java-tron gives an account
 * `floor(frozenTrx × TotalEnergyLimit / TotalEnergyWeight)` energy (`EnergyProcessor.calculateGlobalEnergyLimit`,
 * the weight counted in whole TRX), so the whole TRX needed are `ceil(energy × TotalEnergyWeight /
 * TotalEnergyLimit)`, plus 1 TRX against the double rounding of that formula; at least 1 TRX (the smallest
 * delegation java-tron accepts).
 *
 * @example
 * energyDelegationSun(17_580n, 180_000_000_000n, 16_363_636_363n) // 1_600_000_000n (1600 TRX)
 */
export function energyDelegationSun(
  energy: bigint,
  totalEnergyLimit: bigint,
  totalEnergyWeight: bigint,
): bigint {
  if (totalEnergyLimit <= 0n) return SUN_PER_TRX
  const trx = ceilDiv(energy * totalEnergyWeight, totalEnergyLimit) + 1n
  return trx * SUN_PER_TRX
}
