import {
  type AssetInfo,
  type BlockRef,
  DriverError,
  type ScanRequest,
  type ScanResult,
  type Transfer,
} from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { blockHashAt, lookupBlock } from './blocks.ts'
import type { BitcoinNetwork } from './networks.ts'
import { type ParsedTransaction, parseBlock, scanParseOptions } from './parse.ts'
import type { BitcoinRpc } from './rpc.ts'
import { resolveSenders, type SenderSlot, sendersInBlock } from './senders.ts'
import { findSpends, type Spend } from './spends.ts'

/** `ScanRequest` plus the outpoints (`txid:vout`) the gateway owns, whose spends the scan should report. */
export type BitcoinScanRequest = ScanRequest & { watchOutpoints?: ReadonlySet<string> }

/** An owned outpoint spent in a scanned block. */
export type BlockSpend = Spend & { block: BlockRef }

/** `ScanResult` plus `spends` when the request had `watchOutpoints`. */
export type BitcoinScanResult = ScanResult & { spends?: BlockSpend[] }

export type BitcoinScanConfig = {
  network: BitcoinNetwork
  native: AssetInfo
  /** Parallel block fetches. */
  concurrency: number
}

/** Throws the retryable `ABORTED` DriverError once `signal` has fired. */
export function checkAborted(signal: AbortSignal | undefined, where: string) {
  if (signal?.aborted)
    throw new DriverError('ABORTED', `${where}: aborted`, { retryable: true, cause: signal.reason })
}

type ScannedBlock = {
  ref: BlockRef
  transfers: Transfer[]
  spends: BlockSpend[]
  /** Senders of the transactions that paid a watched key, as far as the block tells (by txid). */
  senders: Map<string, SenderSlot[]>
}

/**
 * Every output paying a watched key (scriptPubKey hex) in blocks `from..to` (inclusive) as a `Transfer`
 * (`txHash` = txid, `index` = vout, amount in satoshis), and the ref of every block of the range.
 *
 * Each height is read as `getblockhash` then `getblock <hash> false` (raw, the same call on Core and bcoin) and
 * parsed locally; the parsed block must hash to the asked hash and match its merkle root, and the range must
 * link by parent hash, else the scan throws a retryable error (`BAD_BLOCK_DATA`, `INCONSISTENT_RANGE`,
 * `BLOCK_NOT_FOUND` when a reorg removed a block between the calls) rather than return a partial answer.
 * Zero-value outputs are skipped. Coinbase outputs count like any other (they mature after 100 blocks; see the
 * driver's notes). With `watchOutpoints`, spends of those outpoints come back in `spends`.
 *
 * `senders` of a transfer: the addresses of the outputs its transaction spent, in input order, each once. Read
 * from the inputs where they prove it (P2WPKH, P2PKH, P2SH-wrapped segwit; see `inputAddress`), else from the
 * spent transaction: in the same block, or one `getrawtransaction` per distinct transaction after the blocks,
 * only for transactions that pay a watched key (the node needs its transaction index for those; see
 * `resolveSenders`). A coinbase has none.
 */
export async function scanBitcoinRange(
  rpc: BitcoinRpc,
  config: BitcoinScanConfig,
  req: BitcoinScanRequest,
): Promise<BitcoinScanResult> {
  const { signal } = req
  checkAborted(signal, 'scan')
  const wantSpends = req.watchOutpoints !== undefined
  if (req.to < req.from)
    return wantSpends ? { transfers: [], blocks: [], spends: [] } : { transfers: [], blocks: [] }
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)

  const scanned = await mapLimit(heights, config.concurrency, async (height): Promise<ScannedBlock> => {
    const hash = await blockHashAt(rpc, height, signal)
    const raw = await lookupBlock(`block ${hash}`, () => rpc.call<string>('getblock', [hash, false], signal))
    checkAborted(signal, 'scan')
    const block = parseBlock(raw, config.network, scanParseOptions)
    if (block.hash !== hash)
      throw new DriverError('BAD_BLOCK_DATA', `block answered for ${hash} hashes to ${block.hash}`, {
        retryable: true,
      })
    const ref: BlockRef = { height, hash, parentHash: block.prevHash, time: block.time }
    const transfers: Transfer[] = []
    const senders = new Map<string, SenderSlot[]>()
    let byTxid: Map<string, ParsedTransaction> | undefined
    const sameBlock = (txid: string) => {
      byTxid ??= new Map(block.txs.map((tx) => [tx.txid, tx]))
      return byTxid.get(txid)
    }
    if (req.watch.size > 0)
      for (const tx of block.txs)
        for (const out of tx.outputs)
          if (out.value > 0n && req.watch.has(out.script)) {
            if (!senders.has(tx.txid)) senders.set(tx.txid, sendersInBlock(tx, config.network, sameBlock))
            transfers.push({
              txHash: tx.txid,
              index: out.index,
              block: ref,
              asset: config.native.id,
              to: out.script,
              amount: out.value,
            })
          }
    const spends = req.watchOutpoints
      ? findSpends(block, req.watchOutpoints).map((s) => ({ ...s, block: ref }))
      : []
    return { ref, transfers, spends, senders }
  })

  for (let i = 1; i < scanned.length; i++) {
    const prev = (scanned[i - 1] as ScannedBlock).ref
    const ref = (scanned[i] as ScannedBlock).ref
    if (ref.parentHash !== prev.hash)
      throw new DriverError(
        'INCONSISTENT_RANGE',
        `block ${ref.height} (${ref.hash}) does not build on ${prev.hash}: the chain changed during the scan`,
        { retryable: true },
      )
  }
  const transfers = scanned.flatMap((s) => s.transfers)
  const slots = new Map(scanned.flatMap((s) => [...s.senders]))
  if (slots.size > 0) {
    const senders = await resolveSenders(slots, config.network, rpc, {
      concurrency: config.concurrency,
      signal,
    })
    for (const t of transfers) t.senders = senders.get(t.txHash) ?? []
  }
  checkAborted(signal, 'scan')
  const result: BitcoinScanResult = { transfers, blocks: scanned.map((s) => s.ref) }
  if (wantSpends) result.spends = scanned.flatMap((s) => s.spends)
  return result
}
