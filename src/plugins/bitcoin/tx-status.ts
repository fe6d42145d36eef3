import { DriverError, type TxStatus } from '@tollgate/sdk'
import { Transaction } from 'bitcoinjs-lib'
import { scaledDecimal } from './decimal.ts'
import { type BitcoinRpc, rpcErrorCode } from './rpc.ts'

/** What `getrawtransaction <txid> true` answers, in the fields used (Core and bcoin alike). */
type VerboseTx = { hex?: string; blockhash?: string | null; confirmations?: number; fee?: number }

/** A node answer that a transaction or block is not there: Core -5 "No such …", bcoin -1 "… not found". */
export function isNotFound(err: unknown): boolean {
  return rpcErrorCode(err) !== undefined && /not found|no such/i.test(err instanceof Error ? err.message : '')
}

/** The raw hex of `txid` (mempool, or the chain through the node's transaction index), or undefined. */
export async function rawTransaction(
  rpc: BitcoinRpc,
  txid: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    return await rpc.call<string>('getrawtransaction', [txid, false], signal)
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/** True when the node's mempool holds `txid` (`getmempoolentry`, on Core and bcoin). */
export async function inMempool(rpc: BitcoinRpc, txid: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await rpc.call('getmempoolentry', [txid], signal)
    return true
  } catch (err) {
    if (rpcErrorCode(err) !== undefined) return false
    throw err
  }
}

/**
 * The fee `raw` paid: the values of the outputs it spends (each parent read with `getrawtransaction`, which
 * needs the node's transaction index for confirmed parents) less its own outputs.
 */
export async function paidFee(rpc: BitcoinRpc, raw: string, signal?: AbortSignal): Promise<bigint> {
  const tx = Transaction.fromHex(raw)
  const parents = new Map<string, Transaction>()
  let spent = 0n
  for (const input of tx.ins) {
    const parentId = Buffer.from(input.hash).reverse().toString('hex')
    let parent = parents.get(parentId)
    if (!parent) {
      const parentRaw = await rawTransaction(rpc, parentId, signal)
      if (!parentRaw)
        throw new DriverError(
          'TX_INDEX_REQUIRED',
          `cannot read ${parentId}, spent by ${tx.getId()}: the node needs a transaction index (Core -txindex, bcoin --index-tx)`,
          { retryable: false },
        )
      parent = Transaction.fromHex(parentRaw)
      parents.set(parentId, parent)
    }
    const out = parent.outs[input.index]
    if (!out)
      throw new DriverError('BAD_TX_DATA', `${parentId} has no output ${input.index}`, { retryable: true })
    spent += out.value
  }
  return spent - tx.outs.reduce((s, o) => s + o.value, 0n)
}

/**
 * Where `txid` is: `mined` (in a main-chain block: its height from `getblockheader`, checked against
 * `getblockhash` of that height; `fee` = what the transaction paid, from the node's `fee` field when it gives
 * one, else inputs' values read from the parents less the outputs), `pending` (in the mempool, or in a block
 * that is no longer on the main chain while the mempool holds it again) or `unknown`.
 *
 * Needs the node's transaction index for mined transactions (Core `-txindex`, bcoin `--index-tx`): without it
 * a mined transaction reads as `unknown`.
 *
 * @example
 * await transactionStatus(rpc, txid) // { state: 'mined', success: true, blockHeight: 812345n, fee: 2820n }
 */
export async function transactionStatus(
  rpc: BitcoinRpc,
  txid: string,
  signal?: AbortSignal,
): Promise<TxStatus> {
  let info: VerboseTx
  try {
    info = await rpc.call<VerboseTx>('getrawtransaction', [txid, true], signal)
  } catch (err) {
    if (isNotFound(err)) return { state: 'unknown' }
    throw err
  }
  if (info.blockhash) {
    const header = await rpc.call<{ height: number }>('getblockheader', [info.blockhash, true], signal)
    const mainHash = await rpc.call<string>('getblockhash', [header.height], signal).catch(() => undefined)
    if (mainHash === info.blockhash) {
      const raw = info.hex ?? ((await rawTransaction(rpc, txid, signal)) as string)
      const fee = typeof info.fee === 'number' ? scaledDecimal(info.fee, 8) : await paidFee(rpc, raw, signal)
      return { state: 'mined', success: true, blockHeight: BigInt(header.height), fee }
    }
  }
  return (await inMempool(rpc, txid, signal)) ? { state: 'pending' } : { state: 'unknown' }
}
