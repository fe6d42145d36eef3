import {
  type AssetInfo,
  type BuildRequest,
  type ContractCall,
  type DestinationCheck,
  type DigestSigner,
  DriverError,
  type PayoutDriver,
  type SignedTx,
  type SweepNeed,
  type TxStatus,
  type UnsignedTx,
} from '@tollgate/sdk'
import {
  BaseError,
  encodeFunctionData,
  type Hex,
  keccak256,
  type PublicClient,
  parseAbi,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from 'viem'
import { batchCall, batchCode, batchSetupTxs, isRevert, planBatch } from './batch.ts'
import type { EvmOptions } from './options.ts'

const erc20 = parseAbi([
  'function transfer(address to, uint256 value) returns (bool)',
  'function balanceOf(address) view returns (uint256)',
])

/** The EIP-1559 fields the core stores before signing (bigints as decimal strings, so the row is plain JSON). */
export type EvmPayload = {
  chainId: number
  nonce: string
  to: Hex
  value: string
  data: Hex
  gas: string
  maxFeePerGas: string
  maxPriorityFeePerGas: string
}

export function rpcError(what: string, err: unknown, retryable = true): DriverError {
  if (err instanceof DriverError) return err
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return new DriverError('RPC_ERROR', `${what}: ${message}`, { retryable, cause: err })
}

function toSerializable(p: EvmPayload): TransactionSerializableEIP1559 {
  return {
    type: 'eip1559',
    chainId: p.chainId,
    nonce: Number(p.nonce),
    to: p.to,
    value: BigInt(p.value),
    data: p.data,
    gas: BigInt(p.gas),
    maxFeePerGas: BigInt(p.maxFeePerGas),
    maxPriorityFeePerGas: BigInt(p.maxPriorityFeePerGas),
  }
}

type Quote = { maxFeePerGas: bigint; maxPriorityFeePerGas?: bigint }
// a batch builds hundreds of transactions in a second: one fee quote serves them all (a block is seconds long)
const quoteTtlMs = 1000
const quotes = new WeakMap<PublicClient, { at: number; quote: Promise<Quote> }>()

function currentFees(client: PublicClient): Promise<Quote> {
  const cached = quotes.get(client)
  if (cached && performance.now() - cached.at < quoteTtlMs) return cached.quote
  const quote = client.estimateFeesPerGas().catch((err) => {
    quotes.delete(client)
    throw rpcError('estimateFeesPerGas', err)
  }) as Promise<Quote>
  quotes.set(client, { at: performance.now(), quote })
  return quote
}

/** The fee terms: the node's suggestion, raised by `feeBumpPercent`, never below 110 % of a replaced tx's. */
export async function feeTerms(client: PublicClient, options: EvmOptions, request: BuildRequest) {
  // a replacement asks the node afresh: it exists because the last quote was not enough
  if (request.replaces) quotes.delete(client)
  const fees = await currentFees(client)
  const bump = BigInt(request.feeBumpPercent ?? 100)
  let maxFeePerGas = (fees.maxFeePerGas * bump) / 100n
  let maxPriorityFeePerGas = ((fees.maxPriorityFeePerGas ?? 0n) * bump) / 100n
  const replaced = request.replaces?.payload as EvmPayload | undefined
  if (replaced) {
    // nodes accept a replacement only at least 10 % above both fee caps of the one it replaces
    const floor = (v: string) => (BigInt(v) * 110n + 99n) / 100n
    if (maxFeePerGas < floor(replaced.maxFeePerGas)) maxFeePerGas = floor(replaced.maxFeePerGas)
    if (maxPriorityFeePerGas < floor(replaced.maxPriorityFeePerGas))
      maxPriorityFeePerGas = floor(replaced.maxPriorityFeePerGas)
  }
  if (maxPriorityFeePerGas > maxFeePerGas) maxFeePerGas = maxPriorityFeePerGas
  if (options.maxFeePerGas !== undefined && maxFeePerGas > options.maxFeePerGas)
    throw new DriverError(
      'FEE_TOO_HIGH',
      `network fee ${maxFeePerGas} wei/gas is above the configured ceiling ${options.maxFeePerGas}`,
      { retryable: true },
    )
  return { maxFeePerGas, maxPriorityFeePerGas }
}

async function build(client: PublicClient, options: EvmOptions, request: BuildRequest): Promise<UnsignedTx> {
  if (request.call) return buildCall(client, options, request, request.call)
  if (request.outputs.length > 1 && options.batchPayouts && !request.sweepAll)
    return buildBatch(client, options, request)
  if (request.outputs.length !== 1)
    throw new DriverError('TOO_MANY_OUTPUTS', 'an EVM transaction pays exactly one output', {
      retryable: false,
    })
  if (request.nonce === undefined)
    throw new DriverError('NONCE_REQUIRED', 'EVM transactions need a nonce', { retryable: false })
  const [output] = request.outputs as [{ to: string; amount: bigint }]
  const { asset } = request
  const from = request.from.address as Hex
  let amount = request.sweepAll ? await balance(client, from, asset) : output.amount
  if (amount <= 0n)
    throw new DriverError('NOTHING_TO_SEND', `${from} holds no ${asset.symbol}`, { retryable: false })
  const to = (asset.native ? output.to : asset.contract) as Hex
  const transferData = (units: bigint): Hex =>
    asset.native
      ? '0x'
      : encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [output.to as Hex, units] })
  const replaced = request.replaces?.payload as EvmPayload | undefined
  // a replacement keeps the gas limit: the same call needs the same gas
  const gas = replaced
    ? BigInt(replaced.gas)
    : asset.native
      ? await nativeTransferGas(client, from, to, amount)
      : await client.estimateGas({ account: from, to, data: transferData(amount) }).then(
          (g) => (g * 120n) / 100n,
          (err) => {
            throw rpcError('estimateGas', err, false)
          },
        )
  const fees = await feeTerms(client, options, request)
  if (request.sweepAll && asset.native) {
    // with the tip equal to the cap the price paid is exactly the cap, so the fee is exactly gas × cap and
    // nothing is left behind at the address
    fees.maxPriorityFeePerGas = fees.maxFeePerGas
    const fee = gas * fees.maxFeePerGas
    if (amount <= fee)
      throw new DriverError('BELOW_FEE', `${from}'s ${amount} wei do not cover the ${fee} wei fee`, {
        retryable: false,
      })
    amount -= fee
  }
  if (request.sweepAll && !asset.native) {
    // a token sender funded for the fee at an earlier price: never ask for more gas money than it holds
    const native = await balance(client, from, { ...asset, native: true })
    const cap = native / gas
    if (cap > 0n && fees.maxFeePerGas > cap) {
      fees.maxFeePerGas = cap
      if (fees.maxPriorityFeePerGas > cap) fees.maxPriorityFeePerGas = cap
    }
  }
  const payload: EvmPayload = {
    chainId: options.chain.id,
    nonce: request.nonce.toString(),
    to,
    value: (asset.native ? amount : 0n).toString(),
    data: transferData(amount),
    gas: gas.toString(),
    maxFeePerGas: fees.maxFeePerGas.toString(),
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
  }
  return { payload, maxFee: gas * fees.maxFeePerGas, amounts: [amount] }
}

/**
 * A contract call sent from `from` (a Safe's `execTransaction`): no outputs, the gas the node estimates with a
 * margin (a replacement keeps the replaced one's). A call the node says reverts is refused for good.
 */
async function buildCall(
  client: PublicClient,
  options: EvmOptions,
  request: BuildRequest,
  call: ContractCall,
): Promise<UnsignedTx> {
  if (request.nonce === undefined)
    throw new DriverError('NONCE_REQUIRED', 'EVM transactions need a nonce', { retryable: false })
  if (request.outputs.length > 0)
    throw new DriverError('TOO_MANY_OUTPUTS', 'a contract call pays no outputs', { retryable: false })
  const from = request.from.address as Hex
  const to = call.to as Hex
  const data = call.data as Hex
  const replaced = request.replaces?.payload as EvmPayload | undefined
  const gas = replaced
    ? BigInt(replaced.gas)
    : await client.estimateGas({ account: from, to, data, value: call.value }).then(
        (g) => (g * 120n) / 100n,
        (err) => {
          throw rpcError('estimateGas (call)', err, !isRevert(err))
        },
      )
  const fees = await feeTerms(client, options, request)
  const payload: EvmPayload = {
    chainId: options.chain.id,
    nonce: request.nonce.toString(),
    to,
    value: call.value.toString(),
    data,
    gas: gas.toString(),
    maxFeePerGas: fees.maxFeePerGas.toString(),
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
  }
  return { payload, maxFee: gas * fees.maxFeePerGas, amounts: [] }
}

/**
 * One transaction paying several outputs through the batch contract (`payNative` with their sum as value, or
 * `payToken` spending the sender's allowance). The contract must be there with the expected code; the gas is the
 * node's estimate with a margin (a replacement keeps the replaced one's).
 */
async function buildBatch(
  client: PublicClient,
  options: EvmOptions,
  request: BuildRequest,
): Promise<UnsignedTx> {
  if (request.nonce === undefined)
    throw new DriverError('NONCE_REQUIRED', 'EVM transactions need a nonce', { retryable: false })
  if ((await batchCode(client)) !== 'ok')
    throw new DriverError(
      'BATCH_UNAVAILABLE',
      'the batch contract is not deployed here (tollgate batch enable)',
      {
        retryable: true,
      },
    )
  const from = request.from.address as Hex
  const call = batchCall(request.asset, request.outputs)
  const replaced = request.replaces?.payload as EvmPayload | undefined
  const gas = replaced
    ? BigInt(replaced.gas)
    : await client.estimateGas({ account: from, ...call }).then(
        (g) => (g * 120n) / 100n,
        (err) => {
          throw rpcError('estimateGas (batch)', err, !isRevert(err))
        },
      )
  const fees = await feeTerms(client, options, request)
  const payload: EvmPayload = {
    chainId: options.chain.id,
    nonce: request.nonce.toString(),
    to: call.to,
    value: call.value.toString(),
    data: call.data,
    gas: gas.toString(),
    maxFeePerGas: fees.maxFeePerGas.toString(),
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
  }
  return { payload, maxFee: gas * fees.maxFeePerGas, amounts: request.outputs.map((o) => o.amount) }
}

/** The gas one output takes sent alone, as `build` sends it; `reverts` when the node says it would revert. */
async function singleGas(
  client: PublicClient,
  from: Hex,
  asset: AssetInfo,
  output: { to: string; amount: bigint },
): Promise<bigint | 'reverts'> {
  try {
    if (asset.native) return await nativeTransferGas(client, from, output.to as Hex, output.amount)
    const data = encodeFunctionData({
      abi: erc20,
      functionName: 'transfer',
      args: [output.to as Hex, output.amount],
    })
    return await client.estimateGas({ account: from, to: asset.contract as Hex, data })
  } catch (err) {
    if (isRevert(err) || (err instanceof DriverError && !err.retryable)) return 'reverts'
    throw rpcError('estimateGas', err)
  }
}

/**
 * Gas for a plain native transfer: 21,000 to an ordinary account on L1, more where the chain charges more
 * (L2s) or the recipient is a contract, as the node estimates. No margin: a sweep of the whole balance pays
 * exactly gas × price, so the limit must be what the transfer uses.
 */
async function nativeTransferGas(client: PublicClient, from: Hex, to: Hex, value: bigint): Promise<bigint> {
  const estimate = await client.estimateGas({ account: from, to, value }).catch((err) => {
    // a recipient that reverts the transfer (a contract that takes no ETH) will not change its mind
    throw rpcError('estimateGas', err, !isRevert(err))
  })
  return estimate > 21_000n ? estimate : 21_000n
}

/**
 * Addresses nobody holds a key to, by their lowercase form: the zero address, and 0x…dEaD, which wallets and
 * token contracts use as the conventional burn address.
 */
const burnAddresses = new Set([
  '0x0000000000000000000000000000000000000000',
  '0x000000000000000000000000000000000000dead',
])

/**
 * Refuses burn addresses, a token's own contract (tokens sent there are stuck for good), and a destination at
 * which the transfer reverts: the call is run on the node as `from` (the treasury) would send it. A native
 * transfer runs with `from`'s balance raised by a state override, so only the recipient decides; a token
 * transfer runs with what `from` holds, up to `amount` (with nothing held there is nothing to run, and the
 * build refuses a reverting transfer later).
 */
async function checkDestination(
  client: PublicClient,
  a: { from: string; to: string; asset: AssetInfo; amount: bigint },
): Promise<DestinationCheck> {
  const to = a.to.toLowerCase() as Hex
  if (burnAddresses.has(to))
    return { ok: false, code: 'BURN_ADDRESS', reason: `${a.to} is a burn address: no one can spend from it` }
  if (!a.asset.native && to === a.asset.contract?.toLowerCase())
    return {
      ok: false,
      code: 'DESTINATION_REJECTED',
      reason: `${a.to} is the ${a.asset.symbol} contract itself: tokens sent to it are lost`,
    }
  const from = a.from as Hex
  let call: Parameters<PublicClient['call']>[0]
  if (a.asset.native)
    call = {
      account: from,
      to,
      value: a.amount,
      stateOverride: [{ address: from, balance: a.amount + 10n ** 24n }],
    }
  else {
    const units = await balance(client, from, a.asset).then((held) => (held < a.amount ? held : a.amount))
    if (units === 0n) return { ok: true }
    call = {
      account: from,
      to: a.asset.contract as Hex,
      data: encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [to, units] }),
    }
  }
  try {
    await client.call(call)
    return { ok: true }
  } catch (err) {
    if (!isRevert(err)) throw rpcError('eth_call (destination check)', err)
    const why = err instanceof BaseError ? err.shortMessage : 'execution reverted'
    return {
      ok: false,
      code: 'DESTINATION_REJECTED',
      reason: `a ${a.asset.symbol} transfer to ${a.to} reverts (${why}); the address does not accept it`,
    }
  }
}

/** What a token holder needs in native coin before it can send: the transfer's gas at today's price, with margin. */
async function sweepNeed(
  client: PublicClient,
  options: EvmOptions,
  a: { address: string; asset: AssetInfo; amount: bigint; to: string },
): Promise<SweepNeed | null> {
  if (a.asset.native) return null
  const data = encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [a.to as Hex, a.amount] })
  const gas = await client.estimateGas({ account: a.address as Hex, to: a.asset.contract as Hex, data }).then(
    (g) => (g * 120n) / 100n,
    (err) => {
      throw rpcError('estimateGas', err, false)
    },
  )
  const { maxFeePerGas } = await feeTerms(client, options, {
    from: { address: a.address, path: '' },
    asset: a.asset,
    outputs: [],
  })
  const required = gas * maxFeePerGas
  const has = await balance(client, a.address, { ...a.asset, native: true })
  return has >= required ? null : { native: required - has }
}

async function sign(tx: UnsignedTx, from: { path: string }, signer: DigestSigner): Promise<SignedTx> {
  const serializable = toSerializable(tx.payload as EvmPayload)
  const digest = keccak256(serializeTransaction(serializable), 'bytes')
  const { signature, recovery } = signer.signDigest(from.path, digest)
  const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}` as Hex
  const raw = serializeTransaction(serializable, {
    r: hex(signature.subarray(0, 32)),
    s: hex(signature.subarray(32, 64)),
    yParity: recovery,
  })
  return { raw, hash: keccak256(raw) }
}

async function broadcast(client: PublicClient, tx: SignedTx): Promise<void> {
  try {
    await client.request({ method: 'eth_sendRawTransaction', params: [tx.raw as Hex] })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    // the node has these exact bytes already (a retry after a crash): success
    if (/already known|already imported|known transaction/i.test(message)) return
    // the nonce is used: by these bytes (mined) or by another transaction; status() tells which
    if (/nonce too low|nonce has already been used/i.test(message))
      throw new DriverError('NONCE_USED', message.split('\n')[0] ?? message, { retryable: false, cause: err })
    if (/replacement transaction underpriced|underpriced/i.test(message))
      throw new DriverError('UNDERPRICED', message.split('\n')[0] ?? message, { retryable: true, cause: err })
    if (/insufficient funds/i.test(message))
      throw new DriverError('INSUFFICIENT_FUNDS', message.split('\n')[0] ?? message, {
        retryable: true,
        cause: err,
      })
    throw rpcError('eth_sendRawTransaction', err)
  }
}

async function status(client: PublicClient, hash: string): Promise<TxStatus> {
  try {
    const receipt = await client.request({ method: 'eth_getTransactionReceipt', params: [hash as Hex] })
    if (receipt?.blockNumber)
      return {
        state: 'mined',
        success: receipt.status === '0x1',
        blockHeight: BigInt(receipt.blockNumber),
        fee: BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice),
      }
    const tx = await client.request({ method: 'eth_getTransactionByHash', params: [hash as Hex] })
    return tx ? { state: 'pending' } : { state: 'unknown' }
  } catch (err) {
    throw rpcError('transaction status', err)
  }
}

export async function balance(client: PublicClient, address: string, asset: AssetInfo): Promise<bigint> {
  try {
    if (asset.native) return await client.getBalance({ address: address as Hex, blockTag: 'latest' })
    return await client.readContract({
      address: asset.contract as Hex,
      abi: erc20,
      functionName: 'balanceOf',
      args: [address as Hex],
    })
  } catch (err) {
    throw rpcError('balance', err)
  }
}

/**
 * Sending on EVM chains: one output per transaction (EIP-1559, ERC-20 `transfer` for tokens), signed through
 * the gateway's digest signer, nonces chosen by the core.
 *
 * @example
 * const payouts = createEvmPayouts(client, options)
 * const tx = await payouts.build({ from, asset, outputs: [{ to, amount }], nonce: 0n })
 */
export function createEvmPayouts(
  client: PublicClient,
  options: EvmOptions,
  nativeAsset: AssetInfo,
  tokens: readonly AssetInfo[] = [],
  batched: PublicClient = client,
): PayoutDriver {
  return {
    build: (request) => build(client, options, request),
    planOutputs: ({ from, asset, outputs }, signal) =>
      planBatch(
        client,
        { from, asset, outputs, enabled: options.batchPayouts },
        {
          // the singles are asked together: one batched request
          singleGas: (o) => singleGas(batched, from.address as Hex, asset, o),
          holds: async (total) => (await balance(client, from.address, asset)) >= total,
        },
        signal,
      ),
    batchSetup: ({ from, nonce }, signal) =>
      batchSetupTxs(
        client,
        { from, nonce, tokens, native: nativeAsset, chainId: options.chain.id },
        () => feeTerms(client, options, { from, asset: nativeAsset, outputs: [] }),
        signal,
      ),
    sign,
    broadcast: (tx) => broadcast(client, tx),
    // status reads issued together (a pass asks for many) go out as one JSON-RPC batch
    status: (hash) => status(batched, hash),
    confirmedNonce: (address) =>
      client.getTransactionCount({ address: address as Hex, blockTag: 'latest' }).then(BigInt, (err) => {
        throw rpcError('getTransactionCount', err)
      }),
    balance: (address, asset) => balance(client, address, asset),
    checkDestination: (a) => checkDestination(client, a),
    sweepNeed: (a) => sweepNeed(client, options, a),
    // the gas tank pays the fee money over as a plain transfer of the native coin
    buildFunding: ({ from, to, need, nonce, feeBumpPercent, replaces }) =>
      build(client, options, {
        from,
        asset: nativeAsset,
        outputs: [{ to, amount: need.native }],
        nonce,
        feeBumpPercent,
        replaces,
      }),
  }
}
