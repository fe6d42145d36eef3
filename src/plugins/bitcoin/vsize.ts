/**
 * Transaction size arithmetic for what the payout builder makes: version 2, P2WPKH inputs only, any standard
 * outputs. Weight (BIP141) = 4 × (size without witness data) + (witness data, with the segwit marker and flag).
 *
 * A P2WPKH input is 41 bytes outside the witness (outpoint 36, empty scriptSig 1, nSequence 4) and has the
 * witness `[signature, public key]`: item count 1 + (1 + 72) + (1 + 33) = 108 bytes. 72 is the most a low-S DER
 * signature plus its sighash byte can take (r of 33 bytes, s of 32): the builder budgets 72, so the real weight
 * is never larger than the computed one. A signature whose r has its top bit clear (about half of them) is
 * 71 bytes, 1 weight unit less; a shorter r or s (1 in 256 each) saves one more byte per shorter integer.
 */

/** Weight units of one P2WPKH input outside its witness: (36 + 1 + 4) × 4. */
export const p2wpkhInputBaseWeight = 41 * 4

/** Bytes of the largest P2WPKH witness the builder budgets: 1 + (1 + 72) + (1 + 33). */
export const p2wpkhWitnessBudget = 108

/** Bytes of the largest low-S DER signature with its sighash byte, as budgeted. */
export const maxSignatureSize = 72

/** Bytes of Bitcoin's CompactSize encoding of `n`. */
export function varIntSize(n: number): number {
  if (n < 0xfd) return 1
  if (n <= 0xffff) return 3
  if (n <= 0xffffffff) return 5
  return 9
}

/** Bytes of one output paying a scriptPubKey of `scriptLength` bytes: value 8 + length prefix + script. */
export function outputSize(scriptLength: number): number {
  return 8 + varIntSize(scriptLength) + scriptLength
}

/**
 * Weight of a transaction spending `inputCount` P2WPKH inputs (witnesses at the 72-byte signature budget) to
 * outputs whose scriptPubKeys are `outputScriptLengths` bytes long.
 *
 * @example
 * // 1 input, 2 P2WPKH outputs: 4 × 113 + 2 + 108 = 562 WU, 141 vB (a real one is 561 or 562 WU)
 * p2wpkhSpendWeight(1, [22, 22]) // 562
 */
export function p2wpkhSpendWeight(inputCount: number, outputScriptLengths: readonly number[]): number {
  let base = 4 + varIntSize(inputCount) + 41 * inputCount + varIntSize(outputScriptLengths.length) + 4
  for (const length of outputScriptLengths) base += outputSize(length)
  // marker and flag (2) count once, the witness of every input after them
  return base * 4 + 2 + p2wpkhWitnessBudget * inputCount
}

/**
 * Virtual size (BIP141): weight / 4, rounded up. Fee rates are per virtual byte.
 *
 * @example
 * virtualSize(562) // 141
 */
export function virtualSize(weight: number): number {
  return Math.ceil(weight / 4)
}

/** Bitcoin Core's standardness ceiling: a transaction heavier than this is not relayed. */
export const maxStandardWeight = 400_000
