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

/**
 * The chain's node is on another network than the configured one: nothing is scanned from it (an operator must
 * point the chain at the right node, or fix the configuration).
 *
 * @example
 * throw wrongNetwork('ethereum', 'eip155:1', 'eip155:56')
 */
export const wrongNetwork = (chain: string, expected: string, actual: string) =>
  new GatewayError(
    'permanent',
    'WRONG_NETWORK',
    `chain "${chain}": the node is on ${actual}, the chain is configured for ${expected}`,
  )
