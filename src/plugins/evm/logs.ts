import { DriverError } from '@tollgate/sdk'
import type { EvmRpc } from './rpc.ts'
import { call, isLogsLimit } from './rpc-errors.ts'

/** keccak256("Transfer(address,address,uint256)") */
export const transferTopic = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

export type RpcLog = {
  address: string
  topics: string[]
  data: string
  blockNumber: string
  blockHash: string
  transactionHash: string
  logIndex: string
  removed?: boolean
}

const toHex = (n: bigint) => `0x${n.toString(16)}`

/** What the logs path is asked: the token contracts' `Transfer` logs of `from..to`, whose blocks are `blocks`. */
export type TransferLogsQuery = {
  addresses: string[]
  from: bigint
  to: bigint
  /** The range's blocks as read (every height of `from..to`): their hashes and bloom filters. */
  blocks: readonly { number: string; hash: string; logsBloom: string }[]
  /** Most blocks one `eth_getLogs` call spans. Default 1000. */
  chunk?: number
  signal?: AbortSignal
}

/** `Transfer` logs of `addresses` in `from..to`, in chunks of `chunk` blocks; a range a node refuses is halved. */
export async function getTransferLogs(rpc: EvmRpc, q: TransferLogsQuery): Promise<RpcLog[]> {
  const { client } = rpc
  const { addresses, from, to, signal } = q
  const chunk = BigInt(Math.max(1, q.chunk ?? 1000))
  const params = (a: bigint, b: bigint) => [
    { fromBlock: toHex(a), toBlock: toHex(b), address: addresses, topics: [transferTopic] },
  ]
  const ask = async (a: bigint, b: bigint): Promise<RpcLog[]> => {
    if (a === b) return call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal)
    try {
      // no transport retries here: viem would retry a "too many results" (-32005) refusal with backoff
      return await call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal, 0)
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== 'RPC_ERROR') throw err
      if (!isLogsLimit(err)) return call<RpcLog[]>(client, 'eth_getLogs', params(a, b), signal)
      const mid = a + (b - a) / 2n
      return [...(await ask(a, mid)), ...(await ask(mid + 1n, b))]
    }
  }
  const parts: Promise<RpcLog[]>[] = []
  for (let a = from; a <= to; a += chunk) parts.push(ask(a, a + chunk - 1n < to ? a + chunk - 1n : to))
  return (await Promise.all(parts)).flat()
}
