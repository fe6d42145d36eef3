import {
  type AssetInfo,
  DriverError,
  type PayoutOutput,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import {
  BaseError,
  concat,
  ExecutionRevertedError,
  encodeFunctionData,
  type Hex,
  keccak256,
  maxUint256,
  type PublicClient,
  parseAbi,
} from 'viem'
import { batchContract } from './batch-contract.ts'

/**
 * Batch payouts on EVM chains: many outputs in one transaction, through the BatchPayouts contract
 * (contracts/BatchPayouts.sol) that the deterministic deployment proxy puts at the same address on every chain.
 * The contract is used only once its runtime code is the one compiled here (keccak-256 of `eth_getCode`) and, for
 * a token, once the sender has allowed it to spend what the batch pays.
 */

const batchAbi = parseAbi([
  'function payNative(address[] to, uint256[] amounts) payable',
  'function payToken(address token, address[] to, uint256[] amounts)',
])
const allowanceAbi = parseAbi([
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 value) returns (bool)',
])

/** Outputs one batch transaction pays at most (a token batch of this size takes about 7M gas). */
export const maxBatchOutputs = 200

/** The batch contract's address (checksummed). */
export const batchAddress = batchContract.address as Hex

/** True when the node ran the call and it reverted (as opposed to the node failing to answer). */
export function isRevert(err: unknown): boolean {
  return err instanceof BaseError && err.walk((e) => e instanceof ExecutionRevertedError) !== null
}

function nodeError(what: string, err: unknown, retryable = true): DriverError {
  if (err instanceof DriverError) return err
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return new DriverError('RPC_ERROR', `${what}: ${message}`, { retryable, cause: err })
}

/** The call that pays `outputs` through the batch contract: `payNative` with their sum as value, or `payToken`. */
export function batchCall(
  asset: AssetInfo,
  outputs: readonly PayoutOutput[],
): { to: Hex; value: bigint; data: Hex } {
  const to = outputs.map((o) => o.to as Hex)
  const amounts = outputs.map((o) => o.amount)
  if (asset.native)
    return {
      to: batchAddress,
      value: amounts.reduce((sum, v) => sum + v, 0n),
      data: encodeFunctionData({ abi: batchAbi, functionName: 'payNative', args: [to, amounts] }),
    }
  return {
    to: batchAddress,
    value: 0n,
    data: encodeFunctionData({
      abi: batchAbi,
      functionName: 'payToken',
      args: [asset.contract as Hex, to, amounts],
    }),
  }
}

// a contract's code never changes at an address once it matches (no selfdestruct since Cancun): asked until then
const verified = new WeakSet<PublicClient>()

/** What is at the batch address: `missing` (nothing yet), `ok` (our contract), or `other` (someone else's code). */
export async function batchCode(
  client: PublicClient,
  signal?: AbortSignal,
): Promise<'missing' | 'ok' | 'other'> {
  if (verified.has(client)) return 'ok'
  signal?.throwIfAborted()
  const code = await client.getCode({ address: batchAddress }).catch((err) => {
    throw nodeError('eth_getCode', err)
  })
  if (!code || code === '0x') return 'missing'
  if (keccak256(code) !== batchContract.runtimeCodeHash) return 'other'
  verified.add(client)
  return 'ok'
}

/** How much of `asset` the batch contract may take from `owner`. */
async function allowance(client: PublicClient, owner: string, asset: AssetInfo): Promise<bigint> {
  return client
    .readContract({
      address: asset.contract as Hex,
      abi: allowanceAbi,
      functionName: 'allowance',
      args: [owner as Hex, batchAddress],
    })
    .catch((err) => {
      throw nodeError('allowance', err)
    })
}

/** Whether `from` can pay `total` of `asset` through the batch contract right now (code verified, allowance). */
export async function batchUsable(
  client: PublicClient,
  from: string,
  asset: AssetInfo,
  total: bigint,
  signal?: AbortSignal,
): Promise<boolean> {
  if ((await batchCode(client, signal)) !== 'ok') return false
  return asset.native || (await allowance(client, from, asset)) >= total
}

/** The gas a call takes as the node estimates it, or `reverts` when the node ran it and it reverted. */
async function estimate(
  client: PublicClient,
  from: Hex,
  call: { to: Hex; value: bigint; data: Hex },
): Promise<bigint | 'reverts'> {
  try {
    return await client.estimateGas({ account: from, ...call })
  } catch (err) {
    if (isRevert(err)) return 'reverts'
    throw nodeError('estimateGas', err)
  }
}

export type PlanDeps = {
  /** The gas one output sent alone takes (as `build` would send it); `reverts` when it would revert. */
  singleGas(output: PayoutOutput): Promise<bigint | 'reverts'>
  /** Whether `from` holds `total` of the asset (the batch is not simulated against funds it does not have). */
  holds(total: bigint): Promise<boolean>
}

/**
 * How to send `outputs`: batches that the node runs without a revert and that cost less gas than the same outputs
 * sent alone, every other output alone. A batch that would revert is cut in halves until the reverting outputs are
 * alone (the others are put back together and checked again), so one refusing recipient costs the rest nothing.
 */
export async function planBatch(
  client: PublicClient,
  a: { from: WalletAddress; asset: AssetInfo; outputs: readonly PayoutOutput[]; enabled: boolean },
  deps: PlanDeps,
  signal?: AbortSignal,
): Promise<number[][]> {
  const all = a.outputs.map((_, i) => i)
  const alone = (indexes: readonly number[]) => indexes.map((i) => [i])
  if (!a.enabled || a.outputs.length < 2) return alone(all)
  const total = a.outputs.reduce((sum, o) => sum + o.amount, 0n)
  if (!(await batchUsable(client, a.from.address, a.asset, total, signal))) return alone(all)
  if (!(await deps.holds(total))) return alone(all)
  const from = a.from.address as Hex
  const pick = (indexes: readonly number[]) => indexes.map((i) => a.outputs[i] as PayoutOutput)
  const gasOf = (indexes: readonly number[]) => estimate(client, from, batchCall(a.asset, pick(indexes)))
  const plan: number[][] = []
  for (let start = 0; start < all.length; start += maxBatchOutputs) {
    const chunk = all.slice(start, start + maxBatchOutputs)
    let gas = await gasOf(chunk)
    let members = chunk
    if (gas === 'reverts') {
      // halves until what reverts is alone; the halves that ran are joined again and asked once more
      const good: number[] = []
      const lone: number[] = []
      const split = async (part: number[]): Promise<void> => {
        signal?.throwIfAborted()
        if (part.length === 1) {
          lone.push(part[0] as number)
          return
        }
        if ((await gasOf(part)) !== 'reverts') {
          good.push(...part)
          return
        }
        const mid = part.length >> 1
        await split(part.slice(0, mid))
        await split(part.slice(mid))
      }
      const mid = chunk.length >> 1
      await split(chunk.slice(0, mid))
      await split(chunk.slice(mid))
      // a lone output that runs alone as part of a batch of one could still join: ask each once
      for (const i of [...lone]) {
        if ((await gasOf([i])) === 'reverts') continue
        lone.splice(lone.indexOf(i), 1)
        good.push(i)
      }
      plan.push(...alone(lone))
      good.sort((x, y) => x - y)
      members = good
      gas = members.length > 1 ? await gasOf(members) : 'reverts'
      if (gas === 'reverts') {
        plan.push(...alone(members))
        continue
      }
    }
    // never the dearer form: a batch of native transfers to fresh accounts costs more than sending them alone
    const singles = await Promise.all(pick(members).map((o) => deps.singleGas(o)))
    const singleTotal = singles.reduce<bigint>((sum, g) => sum + (g === 'reverts' ? 0n : g), 0n)
    if (singles.every((g) => g !== 'reverts') && gas >= singleTotal) plan.push(...alone(members))
    else plan.push(members)
  }
  return plan.sort((x, y) => (x[0] as number) - (y[0] as number))
}

/**
 * The transactions `from` still needs before batching: the contract's deployment through the deployment proxy
 * (when the address holds no code yet) and `approve(batch, max)` for each token whose allowance is below half of
 * the maximum. Refuses when someone else's code sits at the address.
 */
export async function batchSetupTxs(
  client: PublicClient,
  a: {
    from: WalletAddress
    nonce?: bigint
    tokens: readonly AssetInfo[]
    native: AssetInfo
    chainId: number
  },
  fees: () => Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }>,
  signal?: AbortSignal,
): Promise<Array<{ what: string; asset: AssetInfo; unsigned: UnsignedTx }>> {
  if (a.nonce === undefined)
    throw new DriverError('NONCE_REQUIRED', 'EVM transactions need a nonce', { retryable: false })
  const from = a.from.address as Hex
  const calls: Array<{ what: string; asset: AssetInfo; to: Hex; data: Hex }> = []
  const code = await batchCode(client, signal)
  if (code === 'other')
    throw new DriverError(
      'BATCH_CONTRACT_MISMATCH',
      `${batchAddress} holds code that is not the BatchPayouts contract this gateway was built with`,
      { retryable: false },
    )
  if (code === 'missing') {
    const proxyCode = await client.getCode({ address: batchContract.deploymentProxy as Hex })
    if (!proxyCode || proxyCode === '0x')
      throw new DriverError(
        'NO_DEPLOYMENT_PROXY',
        `the deterministic deployment proxy ${batchContract.deploymentProxy} is not on this chain`,
        { retryable: false },
      )
    calls.push({
      what: `deploy BatchPayouts at ${batchAddress}`,
      asset: a.native,
      to: batchContract.deploymentProxy as Hex,
      data: concat([batchContract.salt as Hex, batchContract.bytecode as Hex]),
    })
  }
  for (const token of a.tokens)
    if ((await allowance(client, from, token)) < maxUint256 / 2n)
      calls.push({
        what: `approve ${batchAddress} to spend ${token.symbol}`,
        asset: token,
        to: token.contract as Hex,
        data: encodeFunctionData({
          abi: allowanceAbi,
          functionName: 'approve',
          args: [batchAddress, maxUint256],
        }),
      })
  const terms = calls.length ? await fees() : undefined
  const out: Array<{ what: string; asset: AssetInfo; unsigned: UnsignedTx }> = []
  for (const [i, c] of calls.entries()) {
    const gas = await client.estimateGas({ account: from, to: c.to, data: c.data }).then(
      (g) => (g * 130n) / 100n,
      (err) => {
        throw nodeError('estimateGas', err, !isRevert(err))
      },
    )
    const { maxFeePerGas, maxPriorityFeePerGas } = terms as NonNullable<typeof terms>
    out.push({
      what: c.what,
      asset: c.asset,
      unsigned: {
        payload: {
          chainId: a.chainId,
          nonce: (a.nonce + BigInt(i)).toString(),
          to: c.to,
          value: '0',
          data: c.data,
          gas: gas.toString(),
          maxFeePerGas: maxFeePerGas.toString(),
          maxPriorityFeePerGas: maxPriorityFeePerGas.toString(),
        },
        maxFee: gas * maxFeePerGas,
      },
    })
  }
  return out
}
