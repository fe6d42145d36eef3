import { DriverError, type SignedTx } from '@tollgate/sdk'
import { Transaction } from 'bitcoinjs-lib'
import { type BitcoinRpc, rpcErrorCode } from './rpc.ts'
import { inMempool, rawTransaction, transactionStatus } from './tx-status.ts'

/** A mempool larger than this is not searched for the transaction a refused one conflicts with. */
const conflictScanLimit = 1000

const alreadyKnown =
  /already in (the )?mempool|txn-already-known|txn-already-in-mempool|already have transaction|already in block ?chain|outputs already in utxo set/i
const inputsSpent =
  /missing.?inputs|bad-txns-inputs-missingorspent|bad-txns-inputs-spent|inputs-missingorspent/i
const underpriced =
  /insufficient fee|rejecting replacement|min relay fee not met|mempool min fee not met|txn-mempool-conflict/i

const outpointsOf = (tx: Transaction) =>
  tx.ins.map((i) => `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`)

/** The mempool transaction spending any of `outpoints`, if the mempool is small enough to look. */
async function conflictInMempool(
  rpc: BitcoinRpc,
  outpoints: ReadonlySet<string>,
  self: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const txids = await rpc.call<string[]>('getrawmempool', [], signal)
  if (txids.length > conflictScanLimit) return undefined
  for (const txid of txids) {
    if (txid === self) continue
    const raw = await rawTransaction(rpc, txid, signal)
    if (raw && outpointsOf(Transaction.fromHex(raw)).some((o) => outpoints.has(o))) return txid
  }
  return undefined
}

/**
 * Why a node that took `sendrawtransaction` without an error (bcoin: it validates afterwards and reports
 * nothing) does not hold the transaction: an input gone from the chain's UTXO set and the mempool →
 * `INPUTS_SPENT`; a mempool transaction spending the same coins → `UNDERPRICED` (the node did not let it
 * replace that one; bcoin 1.x never replaces); otherwise `REJECTED` (invalid: a bad signature, a policy).
 */
async function diagnose(rpc: BitcoinRpc, tx: Transaction, signal?: AbortSignal): Promise<DriverError> {
  const txid = tx.getId()
  for (const input of tx.ins) {
    const parent = Buffer.from(input.hash).reverse().toString('hex')
    const coin =
      (await rpc.call('gettxout', [parent, input.index, false], signal)) ??
      (await rpc.call('gettxout', [parent, input.index, true], signal))
    if (coin === null)
      return new DriverError(
        'INPUTS_SPENT',
        `${txid} spends ${parent}:${input.index}, which is spent or does not exist`,
        { retryable: false },
      )
  }
  const conflict = await conflictInMempool(rpc, new Set(outpointsOf(tx)), txid, signal)
  if (conflict)
    return new DriverError(
      'UNDERPRICED',
      `${txid} conflicts with ${conflict} in the node's mempool, which the node did not let it replace`,
      { retryable: true },
    )
  return new DriverError(
    'REJECTED',
    `the node did not accept ${txid} into its mempool (it does not say why: invalid signature or a relay policy)`,
    { retryable: false },
  )
}

/**
 * Sends signed bytes with `sendrawtransaction` and makes sure the node took them.
 *
 * - The node already has them (in its mempool or a block: "already in mempool", "txn-already-known",
 *   "already have transaction", "outputs already in utxo set") → success, so a retry after a crash is harmless.
 * - "missing inputs" / "bad-txns-inputs-missingorspent" → `INPUTS_SPENT` (not retryable).
 * - "insufficient fee" / "rejecting replacement" / relay-fee floors → `UNDERPRICED` (retryable).
 * - Any other refusal → `REJECTED` (not retryable); transport failures stay the RPC client's retryable errors.
 *
 * bcoin answers every `sendrawtransaction` with the txid and validates afterwards, reporting nothing: so after
 * sending, the transaction must appear in the mempool (`getmempoolentry`, polled up to `waitMs`) or be mined;
 * otherwise the reason is worked out from the node's state (see `diagnose`).
 *
 * @example
 * await broadcastPayout(rpc, signed, 5000)
 */
export async function broadcastPayout(
  rpc: BitcoinRpc,
  signed: SignedTx,
  waitMs: number,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await rpc.call<string>('sendrawtransaction', [signed.raw], signal)
  } catch (err) {
    if (rpcErrorCode(err) === undefined) throw err
    const message = err instanceof Error ? err.message : String(err)
    if (alreadyKnown.test(message)) return
    if (inputsSpent.test(message))
      throw new DriverError('INPUTS_SPENT', message, { retryable: false, cause: err })
    if (underpriced.test(message))
      throw new DriverError('UNDERPRICED', message, { retryable: true, cause: err })
    throw new DriverError('REJECTED', message, { retryable: false, cause: err })
  }
  const deadline = performance.now() + waitMs
  for (let pause = 10, round = 0; ; pause = Math.min(pause * 2, 250), round++) {
    if (await inMempool(rpc, signed.hash, signal)) return
    // bytes sent again after they were mined: the node has them in a block
    if (round === 0 && (await transactionStatus(rpc, signed.hash, signal)).state === 'mined') return
    if (performance.now() >= deadline) break
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
  if ((await transactionStatus(rpc, signed.hash, signal)).state !== 'unknown') return
  throw await diagnose(rpc, Transaction.fromHex(signed.raw), signal)
}
