import { GatewayError } from '../errors.ts'

/**
 * A reorg deeper than the chain's finality depth: the scanner halts rather than guess, until an operator
 * resumes the chain (`tollgate chain resume`).
 *
 * @example
 * throw new ReorgTooDeepError('ethereum', 65)
 */
export class ReorgTooDeepError extends GatewayError {
  constructor(
    readonly chain: string,
    readonly depth: number,
  ) {
    super(
      'permanent',
      'REORG_TOO_DEEP',
      `chain "${chain}": reorg deeper than the finality depth (${depth}+ blocks); scanner halted`,
    )
    this.name = 'ReorgTooDeepError'
  }
}

/**
 * The scanner's lease on a chain ran out and another scanner holds it: this run's writes are refused (the
 * lease fences them) and the other scanner carries on.
 *
 * @example
 * if (moved.length === 0) throw leaseLost('ethereum')
 */
export const leaseLost = (chain: string) =>
  new GatewayError('retryable', 'LEASE_LOST', `chain "${chain}": lease lost; another scanner took over`)

/**
 * An operator's resume found no cursor to move (the chain was never scanned).
 *
 * @example
 * if (moved.length === 0) throw noCursor('ethereum')
 */
export const noCursor = (chain: string) =>
  new GatewayError('permanent', 'NO_CURSOR', `chain "${chain}": no cursor yet; nothing to resume`)
