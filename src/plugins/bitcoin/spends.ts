import type { ParsedBlock } from './parse.ts'

/** One owned outpoint spent in a block. */
export type Spend = {
  /** The outpoint spent, `txid:vout`. */
  outpoint: string
  /** The spending transaction and which of its inputs spends it. */
  txid: string
  inputIndex: number
}

/**
 * Which of `owned` (outpoints as `txid:vout`) the block's transactions spend: what the money-out code needs to
 * mark its UTXOs spent (or see a spend it did not make).
 *
 * @example
 * findSpends(block, new Set(['6e04…ee10:1'])) // [{ outpoint: '6e04…ee10:1', txid: 'ee47…4a1f', inputIndex: 0 }]
 */
export function findSpends(block: Pick<ParsedBlock, 'txs'>, owned: ReadonlySet<string>): Spend[] {
  const spends: Spend[] = []
  if (owned.size === 0) return spends
  for (const tx of block.txs)
    tx.prevouts.forEach((outpoint, inputIndex) => {
      if (owned.has(outpoint)) spends.push({ outpoint, txid: tx.txid, inputIndex })
    })
  return spends
}
