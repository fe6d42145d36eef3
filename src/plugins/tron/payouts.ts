import { sha256 } from '@noble/hashes/sha2.js'
import {
  type AssetInfo,
  type BuildRequest,
  type DestinationCheck,
  type DigestSigner,
  DriverError,
  type PayoutDriver,
  type SignedTx,
  type TxStatus,
  type UnsignedTx,
} from '@tollgate/sdk'
import { publicKeyToTronAddress } from './derive.ts'
import { broadcastOutcome, type TronBroadcastResult } from './errors.ts'
import { feeLimitFor, type TronPayoutContext } from './fees.ts'
import type { TronClient } from './http.ts'
import { int64Of } from './numbers.ts'
import type { TronOptions } from './options.ts'
import { base58, hex41, type TronPayload, unsignedTx } from './payload.ts'
import { encodeSignedTransaction, encodeTransferContract, encodeTriggerSmartContract } from './proto.ts'
import {
  bandwidthFee,
  fetchAccountState,
  fetchChainParameters,
  type TronChainParameters,
} from './resources.ts'
import { decodeTransactionInfo, type TronTxInfo } from './scan.ts'
import { createTronSweeps } from './sweeps.ts'
import {
  buildRawTransaction,
  fetchRefBlock,
  monotonicClock,
  type TronRefBlock,
  transactionBandwidth,
} from './transaction.ts'
import { estimateTransferEnergy, transferCallData, trc20Balance } from './trc20.ts'

const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * A replacement is built only once the transaction it replaces can no longer be included: Tron has no nonce, so
 * two live transactions would both pay. The replaced one is dead when the head block's time has reached its
 * expiration (java-tron refuses `expiration <= head time`) and it is not in a block up to that head — looked up
 * after the head was read, so an inclusion in between cannot slip through.
 */
async function assertReplaceable(
  ctx: TronPayoutContext,
  request: BuildRequest,
  ref: TronRefBlock,
  signal?: AbortSignal,
): Promise<void> {
  const replaced = request.replaces?.payload as TronPayload | undefined
  if (!replaced?.expiration) return
  const expiration = Number(replaced.expiration)
  if (ref.timestamp < expiration)
    throw new DriverError(
      'NOT_EXPIRED',
      `transaction ${replaced.txID} can still be included until ${new Date(expiration).toISOString()}; a replacement now could pay twice`,
      { retryable: true },
    )
  const info = await ctx.client.call<TronTxInfo>(
    '/wallet/gettransactioninfobyid',
    { value: replaced.txID },
    signal,
  )
  if (info.blockNumber !== undefined)
    throw new DriverError(
      'REPLACED_TX_MINED',
      `transaction ${replaced.txID} was mined in block ${info.blockNumber}; it needs no replacement`,
      { retryable: true },
    )
}

/** A TRX `TransferContract`; with `sweepAll`, `from`'s whole balance less the fee. */
async function buildTrx(
  ctx: TronPayoutContext,
  a: {
    from: string
    to: string
    amount: bigint
    sweepAll: boolean
    ref: TronRefBlock
    params: TronChainParameters
  },
  signal?: AbortSignal,
): Promise<UnsignedTx> {
  const { params, ref } = a
  const [sender, recipient] = await Promise.all([
    fetchAccountState(ctx.client, a.from, signal),
    ctx.client.call<{ address?: string }>('/wallet/getaccount', { address: a.to, visible: false }, signal),
  ])
  const createsAccount = recipient.address === undefined
  const timestamp = ctx.clock()
  const make = (amount: bigint) =>
    buildRawTransaction({
      ref,
      expirationMs: ctx.options.expirationMs,
      timestamp,
      feeLimit: 0n,
      contract: {
        type: 'TransferContract',
        value: encodeTransferContract({ owner: unhex(a.from), to: unhex(a.to), amount }),
      },
    })
  const bytesOf = (amount: bigint) => transactionBandwidth(make(amount).rawHex.length / 2)
  const feeOf = (amount: bigint) =>
    bandwidthFee({ bytes: bytesOf(amount), createsAccount, account: sender, params })

  let amount = a.amount
  let maxFee: bigint
  if (a.sweepAll) {
    // the fee depends on the size, the size on the amount's varint: the largest amount with amount + fee ≤
    // balance. The fee of the whole balance bounds every smaller amount's; one more step uses up the rest
    // unless it crosses a varint boundary.
    const balance = sender.balance
    const first = balance - feeOf(balance)
    const second = balance - feeOf(first)
    amount = feeOf(second) === feeOf(first) ? second : first
    if (amount <= 0n)
      throw new DriverError(
        'NOTHING_TO_SWEEP',
        `${base58(a.from)} holds ${balance} sun, not more than the ${feeOf(balance)} sun fee`,
        { retryable: false },
      )
    maxFee = balance - amount
  } else {
    if (amount <= 0n)
      throw new DriverError('INVALID_AMOUNT', 'a TRX transfer needs amount > 0', { retryable: false })
    // the most it can burn: the bandwidth in full (free bandwidth may be gone when it runs), or the creation fees
    maxFee = createsAccount
      ? params.createNewAccountFee + params.createAccountFee
      : bytesOf(amount) * params.transactionFee
  }
  return unsignedTx(
    make(amount),
    {
      type: 'TransferContract',
      owner: base58(a.from),
      to: base58(a.to),
      amount: amount.toString(),
      fee_limit: '0',
      ref_block: ref.number.toString(),
    },
    { maxFee, amount },
  )
}

/** A TRC-20 `transfer(to, amount)` with `fee_limit` from the node's energy estimate; `sweepAll`: the whole balance. */
async function buildTrc20(
  ctx: TronPayoutContext,
  a: {
    from: string
    to: string
    contract: string
    amount: bigint
    sweepAll: boolean
    ref: TronRefBlock
    params: TronChainParameters
  },
  signal?: AbortSignal,
): Promise<UnsignedTx> {
  const amount = a.sweepAll
    ? await trc20Balance(ctx.client, { owner: a.from, contract: a.contract }, signal)
    : a.amount
  if (amount <= 0n)
    throw new DriverError(
      a.sweepAll ? 'NOTHING_TO_SWEEP' : 'INVALID_AMOUNT',
      `no ${base58(a.contract)} tokens to send from ${base58(a.from)}`,
      { retryable: false },
    )
  const energy = await estimateTransferEnergy(
    ctx.client,
    { owner: a.from, contract: a.contract, to: a.to, amount },
    signal,
  )
  const feeLimit = feeLimitFor(ctx.options, a.params, energy)
  const tx = buildRawTransaction({
    ref: a.ref,
    expirationMs: ctx.options.expirationMs,
    timestamp: ctx.clock(),
    feeLimit,
    contract: {
      type: 'TriggerSmartContract',
      value: encodeTriggerSmartContract({
        owner: unhex(a.from),
        contract: unhex(a.contract),
        data: unhex(transferCallData(a.to, amount)),
      }),
    },
  })
  const bandwidth = transactionBandwidth(tx.rawHex.length / 2) * a.params.transactionFee
  return unsignedTx(
    tx,
    {
      type: 'TriggerSmartContract',
      owner: base58(a.from),
      to: base58(a.to),
      amount: amount.toString(),
      contract: base58(a.contract),
      fee_limit: feeLimit.toString(),
      ref_block: a.ref.number.toString(),
    },
    { maxFee: feeLimit + bandwidth, amount },
  )
}

async function build(
  ctx: TronPayoutContext,
  request: BuildRequest,
  signal?: AbortSignal,
): Promise<UnsignedTx> {
  if (request.outputs.length !== 1)
    throw new DriverError('TOO_MANY_OUTPUTS', 'a Tron transaction pays exactly one output', {
      retryable: false,
    })
  const [output] = request.outputs as [{ to: string; amount: bigint }]
  const from = hex41(request.from.address)
  const to = hex41(output.to)
  if (from === to)
    throw new DriverError('INVALID_OUTPUT', 'sender and recipient are the same', { retryable: false })
  const [ref, params] = await Promise.all([
    fetchRefBlock(ctx.client, signal),
    fetchChainParameters(ctx.client, signal),
  ])
  await assertReplaceable(ctx, request, ref, signal)
  const common = { from, to, amount: output.amount, sweepAll: request.sweepAll === true, ref, params }
  if (request.asset.native) return buildTrx(ctx, common, signal)
  if (!request.asset.contract)
    throw new DriverError('UNKNOWN_ASSET', `${request.asset.id} has no contract`, { retryable: false })
  return buildTrc20(ctx, { ...common, contract: hex41(request.asset.contract) }, signal)
}

/**
 * Signs `txID` (sha256 of the stored raw bytes, recomputed: a payload whose id does not match is refused) with
 * the key of `from.path`, which must be the sender's. The signature is r‖s‖v with v = the recovery id 0/1, as
 * java-tron's own signer and the recorded mainnet transactions carry it (java-tron accepts 27/28 too). `raw` is
 * the serialized `Transaction` in hex — what `/wallet/broadcasthex` takes — so a retry sends the same bytes.
 */
async function sign(tx: UnsignedTx, from: { path: string }, signer: DigestSigner): Promise<SignedTx> {
  const p = tx.payload as TronPayload
  const raw = unhex(p.raw_data_hex)
  if (hex(sha256(raw)) !== p.txID)
    throw new DriverError('BAD_PAYLOAD', `txID ${p.txID} is not sha256 of raw_data_hex`, { retryable: false })
  const signerAddress = publicKeyToTronAddress(signer.publicKey(from.path))
  if (signerAddress !== p.owner)
    throw new DriverError('WRONG_KEY', `${from.path} is ${signerAddress}, not the sender ${p.owner}`, {
      retryable: false,
    })
  const { signature, recovery } = signer.signDigest(from.path, unhex(p.txID))
  const sig = new Uint8Array(65)
  sig.set(signature.subarray(0, 64), 0)
  sig[64] = recovery
  return { raw: hex(encodeSignedTransaction(raw, [sig])), hash: p.txID }
}

/** Sends the signed bytes with `/wallet/broadcasthex`; see `broadcastOutcome` for how answers map. */
async function broadcast(ctx: TronPayoutContext, tx: SignedTx, signal?: AbortSignal): Promise<void> {
  const res = await ctx.client.call<TronBroadcastResult>(
    '/wallet/broadcasthex',
    { transaction: tx.raw },
    signal,
  )
  const error = broadcastOutcome(res)
  if (error) throw error
}

/**
 * Mined (`gettransactioninfobyid` names its block; `fee` = all sun it burned; failed when `result` is FAILED or
 * the receipt's result is not SUCCESS), pending (`gettransactionbyid` or `gettransactionfrompending` knows it),
 * else unknown.
 */
async function status(ctx: TronPayoutContext, hash: string, signal?: AbortSignal): Promise<TxStatus> {
  const value = hash.replace(/^0x/, '').toLowerCase()
  const info = await ctx.client.call<TronTxInfo>('/wallet/gettransactioninfobyid', { value }, signal)
  if (info.blockNumber !== undefined) {
    const decoded = decodeTransactionInfo(info)
    return {
      state: 'mined',
      success: !decoded.failed,
      blockHeight: int64Of(info.blockNumber, 'blockNumber'),
      fee: int64Of(info.fee, 'fee'),
    }
  }
  const inBlock = await ctx.client.call<{ txID?: string }>('/wallet/gettransactionbyid', { value }, signal)
  if (inBlock.txID) return { state: 'pending' }
  // not every node serves the pending pool; without it the answer is "unknown" and the core re-sends the same
  // bytes, which a node that has them answers with DUP_TRANSACTION_ERROR (success)
  const pending = await ctx.client
    .call<{ txID?: string }>('/wallet/gettransactionfrompending', { value }, signal)
    .catch(() => ({}) as { txID?: string })
  return pending.txID ? { state: 'pending' } : { state: 'unknown' }
}

/**
 * The address of 21 zero bytes (`410000…00`, base58 T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb): Tron's black hole,
 * where burned TRX and tokens go; no one holds its key.
 */
export const tronBlackHole = '410000000000000000000000000000000000000000'

/**
 * Refuses the black hole and a TRC-20 token's own contract (tokens sent there are stuck for good). Both are
 * decided from the address alone; the node is not asked.
 */
async function checkDestination(a: { to: string; asset: AssetInfo }): Promise<DestinationCheck> {
  const to = hex41(a.to)
  if (to === tronBlackHole)
    return {
      ok: false,
      code: 'BURN_ADDRESS',
      reason: `${base58(to)} is Tron's black hole: no one can spend from it`,
    }
  if (!a.asset.native && a.asset.contract && to === hex41(a.asset.contract))
    return {
      ok: false,
      code: 'DESTINATION_REJECTED',
      reason: `${base58(to)} is the ${a.asset.symbol} contract itself: tokens sent to it are lost`,
    }
  return { ok: true }
}

/** TRX from `getaccount` (0 for an account that does not exist), a token from `balanceOf`. */
async function balance(ctx: TronPayoutContext, address: string, asset: AssetInfo, signal?: AbortSignal) {
  const owner = hex41(address)
  if (asset.native) {
    const account = await ctx.client.call<{ balance?: number }>(
      '/wallet/getaccount',
      { address: owner, visible: false },
      signal,
    )
    return int64Of(account.balance, 'balance')
  }
  if (!asset.contract)
    throw new DriverError('UNKNOWN_ASSET', `${asset.id} has no contract`, { retryable: false })
  return trc20Balance(ctx.client, { owner, contract: hex41(asset.contract) }, signal)
}

/**
 * Sending on Tron: TRX and TRC-20 transfers built offline from a reference block (one output each, no nonce —
 * transactions are told apart by txID, `raw_data.timestamp` keeps two equal payouts distinct), signed through
 * the gateway's digest signer, sent with `broadcasthex`; plus the sweep funding of deposit addresses by the gas
 * tank (see `createTronSweeps`).
 *
 * @example
 * const payouts = createTronPayouts(client, options)
 * const tx = await payouts.build({ from, asset: trx, outputs: [{ to, amount: 1_000_000n }] })
 */
export function createTronPayouts(client: TronClient, options: TronOptions): PayoutDriver {
  const ctx: TronPayoutContext = { client, options, clock: monotonicClock() }
  return {
    build: (request, signal) => build(ctx, request, signal),
    sign,
    broadcast: (tx, signal) => broadcast(ctx, tx, signal),
    status: (hash, signal) => status(ctx, hash, signal),
    balance: (address, asset, signal) => balance(ctx, address, asset, signal),
    checkDestination,
    ...createTronSweeps(ctx),
  }
}
