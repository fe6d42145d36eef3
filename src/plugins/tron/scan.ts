import {
  type AssetInfo,
  type BlockRef,
  DriverError,
  type ScanRequest,
  type ScanResult,
  type Transfer,
} from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { tronHexToBase58 } from './address.ts'
import type { TronClient } from './http.ts'

/** keccak256("Transfer(address,address,uint256)"), as TVM logs carry it (no 0x). */
export const TRC20_TRANSFER_TOPIC = 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

/** `/wallet/getblockbynum` and `/wallet/getnowblock` (visible = false: addresses are `41…` hex). */
export type TronBlock = {
  blockID?: string
  block_header?: { raw_data: { number?: number; parentHash: string; timestamp: number } }
  transactions?: Array<{
    txID: string
    ret?: Array<{ contractRet?: string }>
    raw_data: {
      contract: Array<{ type: string; parameter: { value: Record<string, unknown> } }>
    }
  }>
}

/** One `/wallet/gettransactioninfobyid` (or an element of `gettransactioninfobyblocknum`). */
export type TronTxInfo = {
  id: string
  fee?: number
  blockNumber?: number
  blockTimeStamp?: number
  contract_address?: string
  receipt?: {
    energy_usage?: number
    energy_fee?: number
    energy_usage_total?: number
    net_usage?: number
    net_fee?: number
    result?: string
  }
  log?: Array<{ address: string; topics: string[]; data: string }>
  result?: string
  resMessage?: string
}

/** A TRC-20 `Transfer` log decoded: addresses in base58, `index` = position in the tx-info `log` array. */
export type DecodedLogTransfer = { index: number; contract: string; from: string; to: string; amount: bigint }

/** What a transaction info says, decoded. `from/to/amount/contract` are those of its first Transfer log. */
export type DecodedTxInfo = {
  txHash: string
  block?: bigint
  /** `receipt.result` (`SUCCESS`, `OUT_OF_ENERGY`, `REVERT`…); plain TRX transfers have none → `SUCCESS`. */
  result: string
  /** True when the transaction failed (`result: "FAILED"` or a receipt result other than SUCCESS). */
  failed: boolean
  /** Total sun burned: energy, bandwidth and activation fees. */
  fee: bigint
  energyUsed: bigint
  energyFee: bigint
  netUsage: bigint
  netFee: bigint
  from?: string
  to?: string
  amount?: bigint
  contract?: string
  transfers: DecodedLogTransfer[]
}

const big = (n: number | string | undefined) => BigInt(n ?? 0)
const word20 = (topic: string) => topic.slice(-40).toLowerCase()

/**
 * Decodes a tx-info body: receipt numbers, and every well-formed TRC-20 `Transfer(address,address,uint256)`
 * log (3 topics; any contract). Tron tx-info logs have no global log index; `index` is the log's position in
 * the transaction's `log` array, which with the txID identifies it.
 *
 * @example
 * decodeTransactionInfo(info).transfers[0] // { index: 0, contract: 'TR7N…', from: 'TL24…', to: 'TXVj…', amount: 41677389n }
 */
export function decodeTransactionInfo(info: TronTxInfo): DecodedTxInfo {
  const receipt = info.receipt ?? {}
  const result = receipt.result ?? 'SUCCESS'
  const transfers: DecodedLogTransfer[] = []
  ;(info.log ?? []).forEach((log, index) => {
    if (log.topics.length !== 3 || log.topics[0]?.toLowerCase() !== TRC20_TRANSFER_TOPIC) return
    if (!/^[0-9a-fA-F]{40}$/.test(log.address) || log.data.length < 64) return
    transfers.push({
      index,
      contract: tronHexToBase58(`41${log.address.toLowerCase()}`),
      from: tronHexToBase58(`41${word20(log.topics[1] as string)}`),
      to: tronHexToBase58(`41${word20(log.topics[2] as string)}`),
      amount: BigInt(`0x${log.data.slice(0, 64)}`),
    })
  })
  const first = transfers[0]
  return {
    txHash: info.id,
    ...(info.blockNumber !== undefined ? { block: BigInt(info.blockNumber) } : {}),
    result,
    failed: info.result === 'FAILED' || result !== 'SUCCESS',
    fee: big(info.fee),
    energyUsed: big(receipt.energy_usage_total),
    energyFee: big(receipt.energy_fee),
    netUsage: big(receipt.net_usage),
    netFee: big(receipt.net_fee),
    ...(first ? { from: first.from, to: first.to, amount: first.amount, contract: first.contract } : {}),
    transfers,
  }
}

/** The ref of a java-tron block answer; throws a retryable `BLOCK_NOT_FOUND` for `{}`. */
export function tronBlockRef(block: TronBlock, asked?: bigint): BlockRef {
  const raw = block.block_header?.raw_data
  if (!block.blockID || !raw)
    throw new DriverError('BLOCK_NOT_FOUND', `block ${asked ?? 'head'} not found`, { retryable: true })
  const height = BigInt(raw.number ?? 0)
  if (asked !== undefined && height !== asked)
    throw new DriverError('INCONSISTENT_RANGE', `asked block ${asked}, node answered ${height}`, {
      retryable: true,
    })
  return { height, hash: block.blockID, parentHash: raw.parentHash, time: Math.floor(raw.timestamp / 1000) }
}

export type TronScanConfig = {
  native: AssetInfo
  /** Configured tokens by the 20-byte lowercase hex a log's `address` carries; other contracts never count. */
  tokens: ReadonlyMap<string, AssetInfo>
  concurrency: number
}

const inconsistent = (message: string) => new DriverError('INCONSISTENT_RANGE', message, { retryable: true })

/**
 * The base58 form (what `validateAddress` normalizes to) of each `41…` hex address, each once, in order. A
 * transaction always has an owner: one without is a garbled answer (retryable, another node may answer right).
 */
function sendersOf(txID: string, ...hexes: string[]): string[] {
  for (const h of hexes)
    if (!/^41[0-9a-f]{40}$/.test(h))
      throw new DriverError('BAD_BLOCK_DATA', `transaction ${txID} names no valid sender (${h || 'none'})`, {
        retryable: true,
      })
  return [...new Set(hexes.map((h) => tronHexToBase58(h)))]
}

/** The owner (signer) of a transaction's first contract, lowercase `41…` hex, as java-tron prints it. */
const ownerOf = (tx: NonNullable<TronBlock['transactions']>[number]) =>
  String(tx.raw_data.contract[0]?.parameter.value.owner_address ?? '').toLowerCase()

/**
 * Transfers into watched addresses (keys: lowercase `41…` hex) in blocks `from..to`, and every block's ref.
 *
 * - TRX: a `TransferContract` whose `to_address` is watched and whose `ret[0].contractRet` is `SUCCESS`
 *   (`index` -1). TRX moved by contracts (internal transactions) is not visible here.
 * - TRC-20: for blocks holding at least one `TriggerSmartContract`, `/wallet/gettransactioninfobyblocknum`, and
 *   in it the `Transfer` logs of configured contracts, only from transactions whose `receipt.result` is
 *   `SUCCESS` (and not `result: FAILED`): OUT_OF_ENERGY, REVERT and the like never credit. `index` = the log's
 *   position in the transaction's `log` array.
 * - `senders` (base58): TRX, the owner address; TRC-20, the transaction's owner (who called the contract) and
 *   the event's `from` (whose tokens moved), each once. Both come from the answers the scan reads anyway.
 *
 * Blocks of the answer must link (each `parentHash` = the previous block id) and every tx-info must name its
 * block, else a retryable `INCONSISTENT_RANGE` (two nodes on different forks, or a reorg mid-scan). A missing
 * block is a retryable error, never a silently smaller answer.
 */
export async function scanTronRange(
  client: TronClient,
  config: TronScanConfig,
  req: ScanRequest,
): Promise<ScanResult> {
  const { signal } = req
  if (req.to < req.from) return { transfers: [], blocks: [] }
  const heights: bigint[] = []
  for (let h = req.from; h <= req.to; h++) heights.push(h)
  const wantTokens = config.tokens.size > 0 && req.watch.size > 0

  const perBlock = await mapLimit(heights, config.concurrency, async (h) => {
    const block = await client.call<TronBlock>('/wallet/getblockbynum', { num: Number(h) }, signal)
    const ref = tronBlockRef(block, h)
    const txs = block.transactions ?? []
    const hasCalls = txs.some((t) => t.raw_data.contract[0]?.type === 'TriggerSmartContract')
    const infos =
      wantTokens && hasCalls
        ? await client.call<TronTxInfo[] | Record<string, never>>(
            '/wallet/gettransactioninfobyblocknum',
            { num: Number(h) },
            signal,
          )
        : []
    return { ref, txs, infos: Array.isArray(infos) ? infos : [] }
  })

  const blocks = perBlock.map((b) => b.ref)
  for (let i = 1; i < blocks.length; i++)
    if ((blocks[i] as BlockRef).parentHash !== (blocks[i - 1] as BlockRef).hash)
      throw inconsistent(
        `block ${(blocks[i] as BlockRef).height} does not link onto ${(blocks[i - 1] as BlockRef).hash}`,
      )

  const transfers: Transfer[] = []
  if (req.watch.size === 0) return { transfers, blocks }
  for (const { ref, txs, infos } of perBlock) {
    for (const tx of txs) {
      const c = tx.raw_data.contract[0]
      if (c?.type !== 'TransferContract' || tx.ret?.[0]?.contractRet !== 'SUCCESS') continue
      const to = String(c.parameter.value.to_address ?? '').toLowerCase()
      if (!req.watch.has(to)) continue
      // java-tron prints int64 as JSON numbers: exact up to 2^53 sun (9e9 TRX), far above any deposit
      const amount = BigInt(c.parameter.value.amount as number)
      if (amount <= 0n) continue
      transfers.push({
        txHash: tx.txID,
        index: -1,
        block: ref,
        asset: config.native.id,
        to,
        from: ownerOf(tx),
        senders: sendersOf(tx.txID, ownerOf(tx)),
        amount,
      })
    }
    const owners = new Map(txs.map((t) => [t.txID, ownerOf(t)]))
    for (const info of infos) {
      if (info.blockNumber !== undefined && BigInt(info.blockNumber) !== ref.height)
        throw inconsistent(
          `transaction info of ${info.id} is from block ${info.blockNumber}, not ${ref.height}`,
        )
      const owner = owners.get(info.id)
      if (owner === undefined)
        throw inconsistent(`transaction info of ${info.id} is not in block ${ref.height}`)
      if (info.result === 'FAILED' || info.receipt?.result !== 'SUCCESS') continue
      ;(info.log ?? []).forEach((log, index) => {
        const asset = config.tokens.get(log.address.toLowerCase())
        if (!asset || log.topics.length !== 3 || log.topics[0]?.toLowerCase() !== TRC20_TRANSFER_TOPIC) return
        const to = `41${word20(log.topics[2] as string)}`
        if (!req.watch.has(to) || log.data.length < 64) return
        const amount = BigInt(`0x${log.data.slice(0, 64)}`)
        if (amount === 0n) return
        const from = `41${word20(log.topics[1] as string)}`
        transfers.push({
          txHash: info.id,
          index,
          block: ref,
          asset: asset.id,
          to,
          from,
          senders: sendersOf(info.id, owner, from),
          amount,
        })
      })
    }
  }
  if (signal?.aborted)
    throw new DriverError('ABORTED', 'scan: aborted', { retryable: true, cause: signal.reason })
  return { transfers, blocks }
}
