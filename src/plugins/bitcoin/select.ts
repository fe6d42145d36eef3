import { type Coin, DriverError } from '@tollgate/sdk'
import { maxStandardWeight, p2wpkhSpendWeight, virtualSize } from './vsize.ts'

/** What a spend must pay: the recipients' script lengths and amounts, and where change may go. */
export type SelectionRequest = {
  /** Coins spent whatever happens (a replacement's inputs), in this order. */
  fixed: readonly Coin[]
  /** Coins added as needed, largest first (ties: by `txid:vout`), after the fixed ones. */
  candidates: readonly Coin[]
  /** Script length (bytes) and amount of each requested output. */
  recipients: ReadonlyArray<{ scriptLength: number; amount: bigint }>
  /** The change output's script length and the smallest change worth creating (its dust limit). */
  change: { scriptLength: number; dust: bigint }
  /** The least fee a transaction of `vsize` virtual bytes must pay. */
  minFee(vsize: number): bigint
}

/** The coins chosen and what the transaction looks like with them. */
export type Selection = {
  inputs: Coin[]
  /** Satoshis of change, or null when change would be dust (it then goes to the fee). */
  change: bigint | null
  fee: bigint
  weight: number
  vsize: number
}

/** Sort order of candidates: larger amount first, then `txid:vout`, so the same offer always selects alike. */
export function largestFirst(a: Coin, b: Coin): number {
  if (a.amount !== b.amount) return a.amount > b.amount ? -1 : 1
  const ka = `${a.txid}:${a.vout}`
  const kb = `${b.txid}:${b.vout}`
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

const tooLarge = (weight: number) =>
  new DriverError(
    'TX_TOO_LARGE',
    `the transaction would weigh ${weight} WU, above the standard ${maxStandardWeight}`,
    { retryable: false },
  )

/**
 * Largest-first coin selection: the fixed coins, then candidates one by one (largest first) until the inputs
 * pay the recipients and the fee. With each input count it tries, in order: a change output of at least the
 * change's dust limit (fee = `minFee` of the size with change), else no change (the rest, less than dust plus
 * the change output's own fee, goes to the fee). Deterministic for the same request.
 * Throws `INSUFFICIENT_FUNDS` (retryable: more coins may confirm) when every coin is not enough, and
 * `TX_TOO_LARGE` when enough coins would not fit in a standard transaction.
 *
 * @example
 * selectCoins({ fixed: [], candidates: coins, recipients: [{ scriptLength: 22, amount: 50_000n }],
 *   change: { scriptLength: 22, dust: 294n }, minFee: (vsize) => feeFor(2000n, vsize) })
 */
export function selectCoins(request: SelectionRequest): Selection {
  const target = request.recipients.reduce((s, r) => s + r.amount, 0n)
  const lengths = request.recipients.map((r) => r.scriptLength)
  const withChange = [...lengths, request.change.scriptLength]
  const pool = [...request.candidates].sort(largestFirst)
  const inputs = [...request.fixed]
  let total = inputs.reduce((s, c) => s + c.amount, 0n)
  let next = 0
  while (true) {
    if (inputs.length > 0) {
      const weightChange = p2wpkhSpendWeight(inputs.length, withChange)
      const vsizeChange = virtualSize(weightChange)
      const feeChange = request.minFee(vsizeChange)
      const change = total - target - feeChange
      if (change >= request.change.dust) {
        if (weightChange > maxStandardWeight) throw tooLarge(weightChange)
        return { inputs, change, fee: feeChange, weight: weightChange, vsize: vsizeChange }
      }
      const weight = p2wpkhSpendWeight(inputs.length, lengths)
      const vsize = virtualSize(weight)
      if (total - target >= request.minFee(vsize)) {
        if (weight > maxStandardWeight) throw tooLarge(weight)
        return { inputs, change: null, fee: total - target, weight, vsize }
      }
    }
    const coin = pool[next++]
    if (!coin) {
      const vsize = virtualSize(p2wpkhSpendWeight(Math.max(1, inputs.length), lengths))
      throw new DriverError(
        'INSUFFICIENT_FUNDS',
        `${inputs.length} coins hold ${total} sat; the outputs need ${target} sat plus at least ${request.minFee(vsize)} sat of fee`,
        { retryable: true },
      )
    }
    inputs.push(coin)
    total += coin.amount
    const smallest = p2wpkhSpendWeight(inputs.length, lengths)
    if (smallest > maxStandardWeight) throw tooLarge(smallest)
  }
}
