import { DriverError } from '@tollgate/sdk'
import type { TronClient } from './http.ts'
import { int64Of } from './numbers.ts'

/** The 32-byte ABI word of a `41…` address (its 20 bytes, left-padded). */
const addressWord = (hex41: string) => hex41.slice(2).padStart(64, '0')
const uintWord = (n: bigint) => n.toString(16).padStart(64, '0')

/** ABI arguments of `transfer(address,uint256)` (no selector), hex. */
export const transferParameter = (toHex41: string, amount: bigint): string =>
  addressWord(toHex41) + uintWord(amount)

/** Call data of `transfer(address,uint256)`: selector `a9059cbb` and the arguments, hex. */
export const transferCallData = (toHex41: string, amount: bigint): string =>
  `a9059cbb${transferParameter(toHex41, amount)}`

type ConstantAnswer = {
  result?: { result?: boolean; code?: string; message?: string }
  energy_used?: number
  constant_result?: string[]
  transaction?: { ret?: Array<{ ret?: string }> }
}

/** Runs a view call (`/wallet/triggerconstantcontract`, nothing is sent); throws when the call reverts. */
async function constantCall(
  client: TronClient,
  a: { owner: string; contract: string; selector: string; parameter: string },
  signal?: AbortSignal,
): Promise<{ energy: bigint; output: string }> {
  const res = await client.call<ConstantAnswer>(
    '/wallet/triggerconstantcontract',
    {
      owner_address: a.owner,
      contract_address: a.contract,
      function_selector: a.selector,
      parameter: a.parameter,
      visible: false,
    },
    signal,
  )
  const failed =
    res.result?.result !== true ||
    res.result.code !== undefined ||
    res.transaction?.ret?.[0]?.ret === 'FAILED'
  if (failed) {
    const raw = res.result?.message ?? ''
    const text = /^([0-9a-fA-F]{2})+$/.test(raw) ? Buffer.from(raw, 'hex').toString('utf8') : raw
    throw new DriverError(
      'CALL_FAILED',
      `${a.selector} on ${a.contract} failed: ${res.result?.code ?? 'REVERT'} ${text}`,
      {
        retryable: false,
      },
    )
  }
  return { energy: int64Of(res.energy_used, 'energy_used'), output: res.constant_result?.[0] ?? '' }
}

/**
 * The energy a `transfer(to, amount)` of `contract` from `owner` uses now (all addresses `41…` hex), from
 * `triggerconstantcontract`: it runs the call on the node's current state, so it sees whether `to` already holds
 * the token (USDT: ~65k energy to a new holder, ~32k otherwise on mainnet). A reverting call (e.g. `owner` holds
 * too little) throws a non-retryable `CALL_FAILED`.
 */
export async function estimateTransferEnergy(
  client: TronClient,
  a: { owner: string; contract: string; to: string; amount: bigint },
  signal?: AbortSignal,
): Promise<bigint> {
  const { energy } = await constantCall(
    client,
    {
      owner: a.owner,
      contract: a.contract,
      selector: 'transfer(address,uint256)',
      parameter: transferParameter(a.to, a.amount),
    },
    signal,
  )
  return energy
}

/** `balanceOf(owner)` of a TRC-20 `contract` (both `41…` hex), in base units. */
export async function trc20Balance(
  client: TronClient,
  a: { owner: string; contract: string },
  signal?: AbortSignal,
): Promise<bigint> {
  const { output } = await constantCall(
    client,
    { owner: a.owner, contract: a.contract, selector: 'balanceOf(address)', parameter: addressWord(a.owner) },
    signal,
  )
  if (!/^[0-9a-fA-F]{64}/.test(output))
    throw new DriverError('RPC_ERROR', `balanceOf answered ${JSON.stringify(output)}`, { retryable: true })
  return BigInt(`0x${output.slice(0, 64)}`)
}
