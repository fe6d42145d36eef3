import type { ScriptType } from './address.ts'

/**
 * Smallest standard output value per destination type, in satoshis: Bitcoin Core's dust limit at its default
 * 3 sat/vB dust relay fee, i.e. 3 × (the output's size + the size of a typical input spending it). An output
 * below it is refused by nodes' relay policy.
 *
 * | type   | output | input spending it | limit |
 * | ---    | ---    | ---               | ---   |
 * | P2PKH  | 34 B   | 148 B             | 546   |
 * | P2SH   | 32 B   | 148 B             | 540   |
 * | P2WPKH | 31 B   | 67 vB             | 294   |
 * | P2WSH  | 43 B   | 67 vB             | 330   |
 * | P2TR   | 43 B   | 67 vB             | 330   |
 */
export const dustLimit: Readonly<Record<ScriptType, bigint>> = {
  p2pkh: 546n,
  p2sh: 540n,
  p2wpkh: 294n,
  p2wsh: 330n,
  p2tr: 330n,
}
