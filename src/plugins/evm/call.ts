import { DriverError } from '@tollgate/sdk'
import { BaseError, ExecutionRevertedError, type Hex, isAddress, type PublicClient } from 'viem'
import { call } from 'viem/actions'

/** `0x` and whole bytes of hex: what `eth_call` takes as `data`. */
const hexBytes = /^0x(?:[0-9a-fA-F]{2})*$/

/** A value for a message: never the whole of a long or hostile string. */
const shown = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : typeof v

const aborted = (signal: AbortSignal) =>
  new DriverError('ABORTED', 'eth_call: aborted', { retryable: true, cause: signal.reason })

/** Rejects as soon as `signal` aborts, whether or not the transport underneath gives up its request. */
function untilAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work
  if (signal.aborted) {
    work.catch(() => {}) // its outcome no longer matters, and must not surface as unhandled
    return Promise.reject(aborted(signal))
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * A read-only contract call (`eth_call`) at the latest block, through the driver's client and so its RPC
 * failover: the ABI-encoded answer as `0x` hex (`0x` when the address has no code or the function returns
 * nothing). A node that cannot be asked rejects with a retryable `RPC_ERROR` (or `ABORTED`); a call the node ran
 * and the contract reverted with a non-retryable `CALL_REVERTED`; a `to` or `data` that is not an address or hex
 * bytes with a non-retryable `BAD_CALL` before any request. An `OffchainLookup` revert (EIP-3668) is a revert
 * like any other: the answer never depends on an HTTP server the contract names.
 *
 * @example
 * const answer = await callEvmContract(client, { to: oracle, data: encodeFunctionData({ abi, functionName: 'isSanctioned', args: [who] }) })
 */
export async function callEvmContract(
  client: PublicClient,
  request: { to: string; data: string },
  signal?: AbortSignal,
): Promise<Hex> {
  const { to, data } = (request ?? {}) as { to?: unknown; data?: unknown }
  if (typeof to !== 'string' || !isAddress(to, { strict: false }))
    throw new DriverError('BAD_CALL', `eth_call: to must be a 20-byte 0x address, got ${shown(to)}`, {
      retryable: false,
    })
  if (typeof data !== 'string' || !hexBytes.test(data))
    throw new DriverError('BAD_CALL', `eth_call: data must be 0x-prefixed hex bytes, got ${shown(data)}`, {
      retryable: false,
    })
  if (signal?.aborted) throw aborted(signal)
  // the client as it is, but never following CCIP-read: a KYT answer must come from the chain alone
  const chainOnly = { ...client, ccipRead: false } as PublicClient
  try {
    const result = await untilAborted(
      call(chainOnly, { to: to as Hex, data: data as Hex, blockTag: 'latest' }),
      signal,
    )
    return result.data ?? '0x'
  } catch (err) {
    if (err instanceof DriverError) throw err
    if (isRevert(err)) {
      const why = err instanceof BaseError ? err.shortMessage : 'execution reverted'
      throw new DriverError('CALL_REVERTED', `eth_call to ${to} reverted: ${why}`, {
        retryable: false,
        cause: err,
      })
    }
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
    throw new DriverError('RPC_ERROR', `eth_call to ${to}: ${message}`, { retryable: true, cause: err })
  }
}

/** True when the node ran the call and it reverted (as opposed to the node failing to answer). */
function isRevert(err: unknown): boolean {
  return err instanceof BaseError && err.walk((e) => e instanceof ExecutionRevertedError) !== null
}
