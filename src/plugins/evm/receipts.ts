import { DriverError } from '@tollgate/sdk'
import type { EvmRpc } from './rpc.ts'
import { call } from './rpc-errors.ts'

/** The receipt fields the scan reads (fees: OP-stack chains add `l1Fee`, blob transactions their blob gas). */
export type RpcReceipt = {
  transactionHash: string
  status?: string
  blockHash: string
  gasUsed?: string
  effectiveGasPrice?: string
  blobGasUsed?: string
  blobGasPrice?: string
  l1Fee?: string
}

/** Whether the node has `eth_getBlockReceipts`: unknown until first asked, then remembered. */
export type BlockReceiptsSupport = { known?: boolean }

/** From this many wanted transactions in one block on, the block's receipts are asked in one call. */
export const blockReceiptsFrom = 8

const toHex = (n: bigint) => `0x${n.toString(16)}`

/**
 * Receipts of `wanted` transactions, by lowercase hash: per block, one `eth_getBlockReceipts` when at least
 * `blockReceiptsFrom` of its transactions are wanted (and the node has the method), else one
 * `eth_getTransactionReceipt` each — all asked at once, so a batching transport sends them together. A receipt the
 * node lacks, or of another block than the one read, is a retryable error, never a silently smaller answer.
 *
 * @example
 * const receipts = await fetchReceipts(rpc, [{ height: 5n, hash: '0x…', txs: ['0x…'] }], support, signal)
 */
export async function fetchReceipts(
  rpc: EvmRpc,
  blocks: readonly { height: bigint; hash: string; txs: readonly string[] }[],
  support: BlockReceiptsSupport,
  signal?: AbortSignal,
): Promise<Map<string, RpcReceipt>> {
  const out = new Map<string, RpcReceipt>()
  const one = async (txHash: string, block: { height: bigint; hash: string }) => {
    const r = await call<RpcReceipt | null>(rpc.batched, 'eth_getTransactionReceipt', [txHash], signal)
    if (!r)
      throw new DriverError('RECEIPT_NOT_FOUND', `receipt of ${txHash} (block ${block.height}) not found`, {
        retryable: true,
      })
    keep(r, block)
  }
  const keep = (r: RpcReceipt, block: { height: bigint; hash: string }) => {
    if (r.blockHash !== block.hash)
      throw new DriverError('INCONSISTENT_RANGE', `receipt of ${r.transactionHash} is from another block`, {
        retryable: true,
      })
    out.set(r.transactionHash.toLowerCase(), r)
  }
  const whole = async (block: { height: bigint; hash: string; txs: readonly string[] }) => {
    try {
      const all = await call<RpcReceipt[] | null>(
        rpc.client,
        'eth_getBlockReceipts',
        [toHex(block.height)],
        signal,
      )
      support.known = true
      for (const r of all ?? []) keep(r, block)
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== 'RPC_UNSUPPORTED') throw err
      support.known = false
      await Promise.all(block.txs.map((h) => one(h, block)))
      return
    }
    for (const h of block.txs)
      if (!out.has(h.toLowerCase()))
        throw new DriverError('RECEIPT_NOT_FOUND', `receipt of ${h} (block ${block.height}) not found`, {
          retryable: true,
        })
  }
  await Promise.all(
    blocks.map((block) =>
      block.txs.length >= blockReceiptsFrom && support.known !== false
        ? whole(block)
        : Promise.all(block.txs.map((h) => one(h, block))),
    ),
  )
  return out
}

/** What a transaction cost its sender, in wei: execution gas, blob gas, and an OP-stack chain's L1 fee. */
export function feeOf(r: RpcReceipt): bigint {
  const big = (hex: string | undefined) => (hex ? BigInt(hex) : 0n)
  return big(r.gasUsed) * big(r.effectiveGasPrice) + big(r.blobGasUsed) * big(r.blobGasPrice) + big(r.l1Fee)
}
