import { DriverError, isDriverError, type KytChain } from '@tollgate/sdk'
import { decodeFunctionResult, encodeFunctionData, type Hex, parseAbi } from 'viem'

/** The one function of the public sanctions oracle's ABI the provider calls. */
export const oracleAbi = parseAbi(['function isSanctioned(address addr) view returns (bool)'])

/** One configured oracle: the contract, and the chain it is asked on through that chain's own driver. */
export type OracleTarget = {
  /** The chain's name in `plugins.config.ts`. */
  name: string
  /** CAIP-2 id. */
  chainId: string
  /** The contract, as configured. */
  address: Hex
  callContract: NonNullable<KytChain['callContract']>
}

/** An ABI-encoded `bool`: exactly one 32-byte word. */
const oneWord = /^0x[0-9a-fA-F]{64}$/

/** A value for a message: never the whole of a long or hostile string. */
const shown = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : typeof v

/** Rejects when `signal` aborts, whether or not the driver underneath gives up its call. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => DriverError): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}) // its outcome no longer matters, and must not surface as unhandled
    return Promise.reject(onAbort())
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort())
    signal.addEventListener('abort', abort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

/**
 * Asks the oracle whether `address` (an EVM address, any case) is sanctioned: one `isSanctioned` call at the
 * chain's latest block, through the chain driver's `callContract`, never cached. Rejects with a `DriverError`:
 * a retryable `KYT_TIMEOUT` after `timeoutMs`; the driver's own error (its code and `retryable` kept, the message
 * naming the oracle) when the node cannot be asked or the call reverts (no such function: not the oracle);
 * a non-retryable `KYT_BAD_ANSWER` when the answer is not exactly one ABI-encoded `bool` (an address without
 * code answers nothing, another contract's fallback anything).
 *
 * @example
 * await askOracle(target, '0x8589427373d6d84e98730d7795d8f6f8731fda16', 5000) // true
 */
export async function askOracle(
  target: OracleTarget,
  address: Hex,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const where = `the sanctions oracle at ${target.address} on ${target.name} (${target.chainId})`
  const data = encodeFunctionData({ abi: oracleAbi, functionName: 'isSanctioned', args: [address] })
  const timeout = AbortSignal.timeout(timeoutMs)
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout
  const ended = () =>
    signal?.aborted
      ? new DriverError('ABORTED', `${where}: aborted`, { retryable: true, cause: signal.reason })
      : new DriverError('KYT_TIMEOUT', `${where} did not answer within ${timeoutMs} ms`, { retryable: true })
  if (both.aborted) throw ended()
  let answer: unknown
  try {
    answer = await untilAborted(target.callContract({ to: target.address, data }, both), both, ended)
  } catch (err) {
    // the driver saw our deadline first: still a timeout, not the driver's ABORTED
    if (timeout.aborted && !signal?.aborted) throw ended()
    if (isDriverError(err)) {
      // the oracle never reverts an isSanctioned call: a contract that does is another one
      const hint = err.code === 'CALL_REVERTED' ? " (is it the oracle's address?)" : ''
      throw new DriverError(err.code, `${where}: ${err.message}${hint}`, {
        retryable: err.retryable,
        cause: err,
      })
    }
    // a driver must reject with DriverErrors; anything else is its bug, and may not happen again
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
    throw new DriverError('KYT_CALL_FAILED', `${where}: ${message}`, { retryable: true, cause: err })
  }
  if (typeof answer !== 'string' || !oneWord.test(answer))
    throw new DriverError(
      'KYT_BAD_ANSWER',
      `${where} answered ${shown(answer)}, not one ABI-encoded bool: is it the oracle's address?`,
      { retryable: false },
    )
  try {
    return decodeFunctionResult({ abi: oracleAbi, functionName: 'isSanctioned', data: answer as Hex })
  } catch {
    throw new DriverError(
      'KYT_BAD_ANSWER',
      `${where} answered ${shown(answer)}, which is neither true nor false: is it the oracle's address?`,
      { retryable: false },
    )
  }
}
