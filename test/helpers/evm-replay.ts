import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RpcLog } from '../../src/plugins/evm/logs.ts'

/** The real mainnet recordings this server replays (see test/fixtures/chain-data/SOURCES.md). */
export const evmFixtureDir = join(import.meta.dir, '../fixtures/chain-data/evm')

export type FixtureTx = { hash: string; from: string; to: string | null; value: string; blockHash: string }
export type FixtureLog = RpcLog
export type FixtureReceipt = {
  transactionHash: string
  status: string
  blockHash: string
  logs: FixtureLog[]
}
export type FixtureBlock = {
  number: string
  hash: string
  parentHash: string
  timestamp: string
  transactions: FixtureTx[]
}

export function loadEvmFixture(height: number): { block: FixtureBlock; receipts: FixtureReceipt[] } {
  const read = (name: string) =>
    JSON.parse(readFileSync(join(evmFixtureDir, `eth_mainnet_${height}_${name}`), 'utf8'))
  return { block: read('eth_getBlockByNumber_full.result.json'), receipts: read('receipts.result.json') }
}

/**
 * A JSON-RPC server that answers like an Ethereum node would for the recorded blocks: blocks with full
 * transactions, transactions by hash, receipts (one by one or a block's at once), and `eth_getLogs` filtered by
 * range, address and topic0 from the receipts' logs. It keeps no state: balances and traces are unavailable.
 */
export function startEvmReplay(heights: number[]) {
  const fixtures = heights.map(loadEvmFixture)
  const blocks = new Map(fixtures.map((f) => [BigInt(f.block.number), f.block]))
  const receipts = new Map(fixtures.flatMap((f) => f.receipts.map((r) => [r.transactionHash, r] as const)))
  const logs = fixtures.flatMap((f) => f.receipts.flatMap((r) => r.logs))
  const transactions = new Map(
    fixtures.flatMap((f) =>
      f.block.transactions.map(
        (t) => [t.hash, { ...t, blockHash: f.block.hash, blockNumber: f.block.number }] as const,
      ),
    ),
  )
  const calls: Record<string, number> = {}

  const answer = (method: string, params: any[]): unknown => {
    calls[method] = (calls[method] ?? 0) + 1
    switch (method) {
      case 'eth_chainId':
        return '0x1'
      case 'eth_blockNumber':
        return `0x${[...blocks.keys()].reduce((a, b) => (a > b ? a : b)).toString(16)}`
      case 'eth_getBlockByNumber': {
        const block = blocks.get(BigInt(params[0]))
        if (!block) return null
        return params[1] ? block : { ...block, transactions: block.transactions.map((t) => t.hash) }
      }
      case 'eth_getTransactionReceipt':
        return receipts.get(params[0]) ?? null
      case 'eth_getTransactionByHash':
        return transactions.get(params[0]) ?? null
      case 'eth_getBlockReceipts': {
        // by number or hash, as nodes take either
        const block =
          typeof params[0] === 'string' && params[0].length === 66
            ? [...blocks.values()].find((b) => b.hash === params[0])
            : blocks.get(BigInt(params[0]))
        return block ? block.transactions.map((t) => receipts.get(t.hash) ?? null) : null
      }
      case 'eth_getLogs': {
        const filter = params[0] as {
          fromBlock: string
          toBlock: string
          address?: string | string[]
          topics?: (string | null)[]
        }
        const from = BigInt(filter.fromBlock)
        const to = BigInt(filter.toBlock)
        const addresses =
          filter.address === undefined ? undefined : [filter.address].flat().map((a) => a.toLowerCase())
        const topic0 = filter.topics?.[0]
        return logs.filter(
          (l) =>
            BigInt(l.blockNumber) >= from &&
            BigInt(l.blockNumber) <= to &&
            (!addresses || addresses.includes(l.address.toLowerCase())) &&
            (!topic0 || l.topics[0] === topic0),
        )
      }
      default:
        throw Object.assign(new Error(`the method ${method} does not exist/is not available`), {
          code: -32601,
        })
    }
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const body = (await request.json()) as any
      const one = (req: { id: number; method: string; params: any[] }) => {
        try {
          return { jsonrpc: '2.0', id: req.id, result: answer(req.method, req.params ?? []) }
        } catch (err) {
          return {
            jsonrpc: '2.0',
            id: req.id,
            error: { code: (err as { code?: number }).code ?? -32000, message: (err as Error).message },
          }
        }
      }
      return Response.json(Array.isArray(body) ? body.map(one) : one(body))
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, calls, stop: () => server.stop(true) }
}
