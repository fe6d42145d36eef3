import {
  type AssetInfo,
  DriverError,
  type MempoolFate,
  type MempoolReader,
  type PendingTransfer,
} from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import type { BitcoinNetwork } from './networks.ts'
import { type ParsedTransaction, parseTransaction, scanParseOptions } from './parse.ts'
import type { BitcoinRpc } from './rpc.ts'
import { checkAborted } from './scan.ts'
import { resolveSenders, type SenderSlot, sendersInBlock } from './senders.ts'
import { isNotFound, rawTransaction } from './tx-status.ts'

export type BitcoinMempoolConfig = {
  network: BitcoinNetwork
  native: AssetInfo
  /** Parallel `getrawtransaction` calls when the mempool holds transactions not seen before. */
  concurrency: number
  /** Transactions that paid a watched key and left the mempool, kept for `fate` (oldest forgotten first). */
  departedLimit?: number
}

/**
 * What the reader keeps of every mempool transaction: the scriptPubKey hex of each output (by vout) and the
 * outpoints it spends. The same string objects sit in the key and spend indexes, so each is stored once.
 */
type Tracked = {
  outputs: readonly string[]
  spends: readonly string[]
  /** The `getrawmempool` answer (by count) that last listed it. */
  listed: number
}

/** A transaction that paid a watched key: what its transfers need beyond `Tracked`. */
type Paying = Pick<Tracked, 'outputs' | 'spends'> & { values: readonly bigint[]; senders: readonly string[] }

/** What `gettxout` answers, in the field used (Core and bcoin alike); null when the output is not unspent. */
type TxOut = { confirmations?: number } | null

const defaultDepartedLimit = 10_000

function splitOutpoint(outpoint: string): [string, number] {
  const colon = outpoint.lastIndexOf(':')
  return [outpoint.slice(0, colon), Number(outpoint.slice(colon + 1))]
}

/**
 * The node's mempool as the Bitcoin driver reads it, over the JSON-RPC calls Bitcoin Core and bcoin share, with
 * no transaction index needed for mempool transactions.
 *
 * `pending(watch)` costs one `getrawmempool` per call plus one `getrawtransaction <txid> false` per transaction
 * not seen before (at most `concurrency` at a time); nothing is fetched twice while it stays in the mempool. Of
 * each transaction it keeps only its output scripts and spent outpoints, indexed by script and by outpoint, so a
 * transaction seen before a key was watched is found when the key is, and a conflict is found without a call.
 * A transaction paying a watched key is reported as the block scan will report it once mined: `txHash` = txid,
 * `index` = vout, `to` = scriptPubKey hex, zero-value outputs skipped, `senders` from its inputs as
 * `resolveSenders` reads them (parents in the mempool, or mined ones through the node's transaction index).
 *
 * `fate(txs)` refreshes the same state, then per transaction: in the mempool → `pending`; one of its outputs
 * unspent on chain (`gettxout <txid> <vout> false`), or the node's transaction index placing it in a main-chain
 * block → `mined`; a mempool transaction spending one of its inputs → `replaced` when it pays one of the same
 * keys, else `double_spent` (by that txid); an input spent on chain (`gettxout` null and its parent not in the
 * mempool) → `double_spent` by null; else `dropped`. Without a transaction index on the node, a mined
 * transaction whose watched outputs are already spent, or that this process never saw, reads as `double_spent`
 * by null: the block scan reports it all the same, which revives it.
 *
 * @example
 * const mempool = createBitcoinMempool(rpc, { network, native, concurrency: 4 })
 * const pending = await mempool.pending(new Set([depositScriptHex]))
 * const fates = await mempool.fate(pending.map((p) => ({ txHash: p.txHash, spends: p.spends, to: [p.to] })))
 */
export function createBitcoinMempool(rpc: BitcoinRpc, config: BitcoinMempoolConfig): MempoolReader {
  const { network, native, concurrency } = config
  const departedLimit = config.departedLimit ?? defaultDepartedLimit
  /** Every transaction of the mempool as last read. */
  const tracked = new Map<string, Tracked>()
  /** Output script → the txid(s) paying it (one string for the usual single payer). */
  const byOutput = new Map<string, string | string[]>()
  /** Outpoint → the mempool txid spending it. */
  const bySpend = new Map<string, string>()
  /** Transactions that paid a watched key, in the mempool or departed (see `departed`). */
  const paying = new Map<string, Paying>()
  /** Paying txids that left the mempool, oldest first: kept for `fate`, up to `departedLimit`. */
  const departed = new Set<string>()
  /** The last watch set `pending` was given: `fate`'s refresh keeps new paying transactions parsed with it. */
  let lastWatch: ReadonlySet<string> = new Set()
  /** How many `getrawmempool` answers were read: marks what the latest one listed. */
  let listed = 0

  function addOutput(script: string, txid: string) {
    const payers = byOutput.get(script)
    if (payers === undefined) byOutput.set(script, txid)
    else if (typeof payers === 'string') byOutput.set(script, [payers, txid])
    else payers.push(txid)
  }

  function removeOutput(script: string, txid: string) {
    const payers = byOutput.get(script)
    if (payers === txid) byOutput.delete(script)
    else if (Array.isArray(payers)) {
      const rest = payers.filter((p) => p !== txid)
      if (rest.length === 0) byOutput.delete(script)
      else byOutput.set(script, rest.length === 1 ? (rest[0] as string) : rest)
    }
  }

  function track(tx: ParsedTransaction) {
    if (tracked.has(tx.txid)) return
    const entry: Tracked = { outputs: tx.outputs.map((o) => o.script), spends: tx.prevouts, listed }
    tracked.set(tx.txid, entry)
    for (const script of new Set(entry.outputs)) addOutput(script, tx.txid)
    for (const outpoint of entry.spends) bySpend.set(outpoint, tx.txid)
  }

  function forget(txid: string, entry: Tracked) {
    tracked.delete(txid)
    for (const script of new Set(entry.outputs)) removeOutput(script, txid)
    for (const outpoint of entry.spends) if (bySpend.get(outpoint) === txid) bySpend.delete(outpoint)
    if (paying.has(txid)) {
      departed.add(txid)
      for (const old of departed) {
        if (departed.size <= departedLimit) break
        departed.delete(old)
        paying.delete(old)
      }
    }
  }

  /** The transaction `txid` from the node's mempool, parsed and checked, or undefined once it left. */
  async function fetchParsed(txid: string, signal?: AbortSignal): Promise<ParsedTransaction | undefined> {
    const raw = await rawTransaction(rpc, txid, signal)
    if (raw === undefined) return undefined
    const tx = parseTransaction(raw, network, scanParseOptions)
    if (tx.txid !== txid)
      throw new DriverError('BAD_TX_DATA', `transaction answered for ${txid} hashes to ${tx.txid}`, {
        retryable: true,
      })
    return tx
  }

  /**
   * Brings `tracked` to the mempool the node holds now: forgets what left, fetches what is new. Returns the new
   * transactions paying a key of `watch`, parsed (their transfers need values and inputs).
   */
  async function refresh(watch: ReadonlySet<string>, signal?: AbortSignal) {
    checkAborted(signal, 'mempool')
    const ids = await rpc.call<string[]>('getrawmempool', [], signal)
    // one lookup per listed txid and one pass over what is tracked: a large mempool is read without a set of it
    listed++
    const fresh: string[] = []
    for (const txid of ids) {
      const entry = tracked.get(txid)
      if (entry) entry.listed = listed
      else fresh.push(txid)
    }
    for (const [txid, entry] of tracked) if (entry.listed !== listed) forget(txid, entry)
    const parsed = new Map<string, ParsedTransaction>()
    // each transaction is tracked as it arrives: a failure part way keeps what was read for the next call
    await mapLimit(fresh, concurrency, async (txid) => {
      const tx = await fetchParsed(txid, signal)
      if (tx === undefined) return
      track(tx)
      if (tx.outputs.some((o) => watch.has(o.script))) parsed.set(txid, tx)
    })
    return parsed
  }

  /** Txids of the mempool with an output paying a key of `watch`. */
  function payersOf(watch: ReadonlySet<string>): Set<string> {
    const found = new Set<string>()
    const add = (payers: string | string[] | undefined) => {
      if (typeof payers === 'string') found.add(payers)
      else if (payers) for (const p of payers) found.add(p)
    }
    if (watch.size <= byOutput.size) for (const key of watch) add(byOutput.get(key))
    else for (const [script, payers] of byOutput) if (watch.has(script)) add(payers)
    return found
  }

  /** Reads values and senders of payers not yet in `paying` (re-fetching those seen before their key was watched). */
  async function learnPayers(
    txids: Iterable<string>,
    parsed: Map<string, ParsedTransaction>,
    signal?: AbortSignal,
  ) {
    const unknown = [...txids].filter((txid) => !paying.has(txid))
    const missing = unknown.filter((txid) => !parsed.has(txid))
    await mapLimit(missing, concurrency, async (txid) => {
      const tx = await fetchParsed(txid, signal)
      if (tx) parsed.set(txid, tx)
    })
    const slots = new Map<string, SenderSlot[]>()
    for (const txid of unknown) {
      const tx = parsed.get(txid)
      if (tx)
        slots.set(
          txid,
          sendersInBlock(tx, network, () => undefined),
        )
    }
    if (slots.size === 0) return
    const senders = await resolveSenders(slots, network, rpc, { concurrency, signal })
    for (const txid of slots.keys()) {
      const tx = parsed.get(txid) as ParsedTransaction
      const entry = tracked.get(txid)
      paying.set(txid, {
        outputs: entry?.outputs ?? tx.outputs.map((o) => o.script),
        spends: entry?.spends ?? tx.prevouts,
        values: tx.outputs.map((o) => o.value),
        senders: senders.get(txid) ?? [],
      })
    }
  }

  async function pending(watch: ReadonlySet<string>, signal?: AbortSignal): Promise<PendingTransfer[]> {
    lastWatch = watch
    const parsed = await refresh(watch, signal)
    const payers = payersOf(watch)
    await learnPayers(payers, parsed, signal)
    checkAborted(signal, 'mempool')
    const transfers: PendingTransfer[] = []
    for (const txid of [...payers].sort()) {
      const tx = paying.get(txid)
      if (!tx) continue // left the mempool while it was read
      tx.outputs.forEach((script, index) => {
        const amount = tx.values[index] as bigint
        if (amount > 0n && watch.has(script))
          transfers.push({
            txHash: txid,
            index,
            asset: native.id,
            to: script,
            senders: tx.senders,
            amount,
            spends: tx.spends,
          })
      })
    }
    return transfers
  }

  /** True when one of `txid`'s outputs is unspent on chain, or the node's transaction index puts it in a main-chain block. */
  async function isMined(txid: string, to: readonly string[], signal?: AbortSignal): Promise<boolean> {
    const known = paying.get(txid)
    if (known) {
      const vouts = known.outputs.flatMap((script, vout) => (to.includes(script) ? [vout] : []))
      for (const vout of vouts)
        if ((await rpc.call<TxOut>('gettxout', [txid, vout, false], signal)) !== null) return true
    }
    let info: { blockhash?: string | null }
    try {
      info = await rpc.call<{ blockhash?: string | null }>('getrawtransaction', [txid, true], signal)
    } catch (err) {
      // Core without -txindex: "No such mempool transaction"; bcoin: "Transaction not found"
      if (isNotFound(err)) return false
      throw err
    }
    if (!info.blockhash) return false
    const header = await rpc.call<{ height: number }>('getblockheader', [info.blockhash, true], signal)
    const mainHash = await rpc.call<string>('getblockhash', [header.height], signal).catch(() => undefined)
    return mainHash === info.blockhash
  }

  /** True when one of `spends` is gone from the chain's unspent outputs while its parent is not in the mempool. */
  async function spentOnChain(spends: readonly string[], signal?: AbortSignal): Promise<boolean> {
    for (const outpoint of spends) {
      const [parent, vout] = splitOutpoint(outpoint)
      // an unconfirmed parent's output is not on chain yet: its absence proves nothing
      if (tracked.has(parent)) continue
      if ((await rpc.call<TxOut>('gettxout', [parent, vout, false], signal)) === null) return true
    }
    return false
  }

  async function fateOf(
    tx: { txHash: string; spends: readonly string[]; to: readonly string[] },
    signal?: AbortSignal,
  ): Promise<MempoolFate> {
    if (tracked.has(tx.txHash)) return { state: 'pending' }
    if (await isMined(tx.txHash, tx.to, signal)) return { state: 'mined' }
    const conflicts = new Set<string>()
    for (const outpoint of tx.spends) {
      const spender = bySpend.get(outpoint)
      if (spender !== undefined && spender !== tx.txHash) conflicts.add(spender)
    }
    for (const by of conflicts)
      if (tracked.get(by)?.outputs.some((script) => tx.to.includes(script))) return { state: 'replaced', by }
    const [first] = conflicts
    if (first !== undefined) return { state: 'double_spent', by: first }
    if (await spentOnChain(tx.spends, signal)) return { state: 'double_spent', by: null }
    return { state: 'dropped' }
  }

  async function fate(
    txs: readonly { txHash: string; spends: readonly string[]; to: readonly string[] }[],
    signal?: AbortSignal,
  ): Promise<Map<string, MempoolFate>> {
    const fates = new Map<string, MempoolFate>()
    if (txs.length === 0) return fates
    const parsed = await refresh(lastWatch, signal)
    await learnPayers(parsed.keys(), parsed, signal)
    const answers = await mapLimit(
      txs,
      concurrency,
      async (tx) => [tx.txHash, await fateOf(tx, signal)] as const,
    )
    for (const [txid, answer] of answers) {
      fates.set(txid, answer)
      // asked once: a settled transaction's details are no longer needed
      if (answer.state !== 'pending' && departed.delete(txid)) paying.delete(txid)
    }
    checkAborted(signal, 'mempool')
    return fates
  }

  return { pending, fate }
}
