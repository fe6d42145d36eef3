import { type AssetInfo, type BlockRef, DriverError, type Transfer } from '@tollgate/sdk'
import type { EvmRpc } from './rpc.ts'
import { call } from './rpc-errors.ts'

/** What balance mode needs of one block: its ref, its transactions, and its beacon withdrawals (gwei). */
export type BalanceBlock = {
  ref: BlockRef
  transactions: readonly { hash: string; from: string; to: string | null; value: string }[]
  withdrawals?: readonly { address: string; amount: string }[]
}

/** What a transaction's receipt says, for the balance sums: whether it succeeded and what it cost its sender. */
export type TxOutcome = { success: boolean; fee: bigint }

/** Balances already read, by `address@blockHash`: a range's last balances are the next range's first. */
export type BalanceCache = Map<string, bigint>

/** Most entries a `BalanceCache` keeps before it starts over. */
const cacheLimit = 20_000

export type BalanceQuery = {
  /** The range's blocks, in height order, each linked to the one before. */
  blocks: readonly BalanceBlock[]
  /** Lowercase addresses to check (the caller caps how many). */
  addresses: readonly string[]
  /** Receipts of every transaction of the range sent by, or paying value to, one of `addresses`, by hash. */
  outcomes: ReadonlyMap<string, TxOutcome>
  native: AssetInfo
  cache: BalanceCache
  signal?: AbortSignal
}

/**
 * The index of a transfer balance mode finds: `-2 - n`, `n` the address's first seven hex digits (28 bits), so
 * the same address in the same block is named the same on every scan. Two addresses of one block sharing those
 * digits (odds 2^-28 per pair) take the next lower free index, in address order.
 */
export function balanceIndexes(addresses: readonly string[]): Map<string, number> {
  const taken = new Set<number>()
  const out = new Map<string, number>()
  for (const address of [...addresses].sort()) {
    let index = -2 - Number.parseInt(address.slice(2, 9), 16)
    while (taken.has(index)) index--
    taken.add(index)
    out.set(address, index)
  }
  return out
}

/**
 * ETH that reached watched addresses in the range without a transaction paying them: the balance at each block
 * compared with the block before (`eth_getBalance` by block hash, EIP-1898, so the balances are of the very
 * blocks the scan read), less what the block's own transactions explain — value of successful top-level
 * transactions into the address, value and fees of the address's own transactions, beacon withdrawals to it.
 *
 * Cost: for each address, its balance at the range's end and at the block before the range (a cache hit when
 * the previous range ended there), all asked at once so the transport batches them. Only an address whose
 * balance moved more than its transactions explain is split in halves down to the blocks where it happened.
 *
 * Identity: such a transfer has no transaction; it is `(blockHash, balanceIndexes)`, so a reorg that drops the
 * block orphans it as any transfer of that block, and the same block scanned again names it the same way.
 * `from` is unknown and `senders` is empty: the chain cannot tell who paid without traces.
 *
 * Limits: addresses are taken to spend only through their own transactions (an EOA; a watched address with
 * code, as an EIP-7702 delegation, could send ETH internally and hide an arrival in the same range), and never
 * to be a block's fee recipient (priority fees are not subtracted). Several arrivals at one address in one
 * block are one transfer of their sum.
 *
 * @example
 * const found = await findBalanceTransfers(rpc, { blocks, addresses, outcomes, native, cache: new Map() })
 */
export async function findBalanceTransfers(rpc: EvmRpc, q: BalanceQuery): Promise<Transfer[]> {
  const { blocks, signal } = q
  if (blocks.length === 0 || q.addresses.length === 0) return []
  // the state before the first block; the genesis block has no parent: its allocations are no transfers
  const first = blocks[0]?.ref.height === 0n ? 1 : 0
  if (first >= blocks.length) return []
  const stateHash = (s: number) =>
    s === 0 ? (blocks[0] as BalanceBlock).ref.parentHash : (blocks[s - 1] as BalanceBlock).ref.hash
  const balanceAt = async (address: string, s: number): Promise<bigint> => {
    const hash = stateHash(s)
    const key = `${address}@${hash}`
    const known = q.cache.get(key)
    if (known !== undefined) return known
    const hex = await call<string>(rpc.batched, 'eth_getBalance', [address, { blockHash: hash }], signal)
    const balance = BigInt(hex)
    if (q.cache.size >= cacheLimit) q.cache.clear()
    q.cache.set(key, balance)
    return balance
  }

  const found = await Promise.all(
    q.addresses.map(async (address) => {
      const explained = blocks.map((b) => explainedChange(address, b, q.outcomes))
      const arrivals: Array<{ block: number; amount: bigint }> = []
      const split = async (lo: number, hi: number, atLo: bigint, atHi: bigint): Promise<void> => {
        let unexplained = atHi - atLo
        for (let i = lo; i < hi; i++) unexplained -= explained[i] as bigint
        if (unexplained === 0n) return
        if (hi - lo === 1) {
          if (unexplained > 0n) arrivals.push({ block: lo, amount: unexplained })
          return
        }
        const mid = (lo + hi) >> 1
        const atMid = await balanceAt(address, mid)
        await Promise.all([split(lo, mid, atLo, atMid), split(mid, hi, atMid, atHi)])
      }
      const [atFirst, atLast] = await Promise.all([
        balanceAt(address, first),
        balanceAt(address, blocks.length),
      ])
      await split(first, blocks.length, atFirst, atLast)
      return arrivals.map((a) => ({ address, ...a }))
    }),
  )

  const byBlock = new Map<number, Array<{ address: string; amount: bigint }>>()
  for (const a of found.flat()) byBlock.set(a.block, [...(byBlock.get(a.block) ?? []), a])
  const transfers: Transfer[] = []
  for (const [i, arrivals] of [...byBlock].sort((a, b) => a[0] - b[0])) {
    const block = (blocks[i] as BalanceBlock).ref
    const indexes = balanceIndexes(arrivals.map((a) => a.address))
    for (const a of arrivals)
      transfers.push({
        txHash: block.hash,
        index: indexes.get(a.address) as number,
        block,
        asset: q.native.id,
        to: a.address,
        senders: [],
        amount: a.amount,
      })
  }
  return transfers
}

/** How much a block's own transactions (and withdrawals) change `address`'s balance. */
function explainedChange(
  address: string,
  block: BalanceBlock,
  outcomes: ReadonlyMap<string, TxOutcome>,
): bigint {
  let change = 0n
  for (const tx of block.transactions) {
    const from = tx.from.toLowerCase() === address
    const to = tx.to?.toLowerCase() === address
    if (!from && !(to && BigInt(tx.value) > 0n)) continue
    const outcome = outcomes.get(tx.hash.toLowerCase())
    // never a guess: without the receipt the sums are unknown
    if (!outcome)
      throw new DriverError(
        'RECEIPT_NOT_FOUND',
        `receipt of ${tx.hash} (block ${block.ref.height}) not read`,
        {
          retryable: true,
        },
      )
    const value = outcome.success ? BigInt(tx.value) : 0n
    if (to) change += value
    if (from) change -= value + outcome.fee
  }
  for (const w of block.withdrawals ?? [])
    if (w.address.toLowerCase() === address) change += BigInt(w.amount) * 10n ** 9n
  return change
}
