/**
 * An in-memory toy chain behind a JSON-RPC endpoint: the node the plugin's tests (and the gateway's pack-and-install
 * test) talk to. A real plugin's tests start its chain's own devnet instead (anvil, regtest, a local validator).
 *
 * Methods (params and results are JSON; heights and amounts are decimal strings):
 *   toy_network            → { network }
 *   toy_tip                → block (without transfers)
 *   toy_block [height]     → block (without transfers), or error -32001 past the tip
 *   toy_blocks [from, to]  → block[] with their transfers, or error -32001 when `to` is past the tip
 */
import { createHash } from 'node:crypto'
import type { ToyBlockJson, ToyTransferJson } from './rpc.ts'

export type ToyNode = {
  url: string
  network: string
  /** Mines one block holding one transfer of `amount` base units of `asset` to `to`; returns its hash. */
  pay(to: string, amount: bigint, asset?: string): string
  /** Mines `blocks` empty blocks. */
  mine(blocks: number): void
  /** The current tip height. */
  height(): bigint
  stop(): Promise<void>
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
/** The address every `pay` comes from. */
export const toyFaucet = `toy1${'f'.repeat(40)}`

/**
 * Starts a toy node on a free local port (or `port`), with a genesis block at height 0.
 *
 * @example
 * const node = startToyNode()
 * const txHash = node.pay('toy1…', 150_000_000n) // mined at once, in a block of its own
 * await node.stop()
 */
export function startToyNode(options: { network?: string; port?: number } = {}): ToyNode {
  const network = options.network ?? 'devnet'
  const genesisTime = Math.floor(Date.now() / 1000) - 3600
  const blocks: Array<Required<ToyBlockJson>> = [
    {
      height: '0',
      hash: sha(`${network}:genesis`),
      parentHash: '0'.repeat(64),
      time: genesisTime,
      transfers: [],
    },
  ]
  let txCount = 0
  const mineBlock = (transfers: ToyTransferJson[]) => {
    const parent = blocks.at(-1)!
    const height = BigInt(parent.height) + 1n
    blocks.push({
      height: String(height),
      hash: sha(`${parent.hash}:${height}:${transfers.map((t) => t.txHash).join(',')}`),
      parentHash: parent.hash,
      time: Math.max(parent.time + 1, Math.floor(Date.now() / 1000)),
      transfers,
    })
  }
  const header = ({ transfers: _, ...block }: ToyBlockJson) => block
  const tipHeight = () => BigInt(blocks.length - 1)
  const pastTip = (height: bigint) => ({
    code: -32001,
    message: `block ${height} is past the tip ${tipHeight()}`,
  })

  const call = (method: string, params: unknown[]): { result: unknown } | { error: object } => {
    switch (method) {
      case 'toy_network':
        return { result: { network } }
      case 'toy_tip':
        return { result: header(blocks.at(-1)!) }
      case 'toy_block': {
        const height = BigInt(String(params[0]))
        const block = blocks[Number(height)]
        return height >= 0n && block ? { result: header(block) } : { error: pastTip(height) }
      }
      case 'toy_blocks': {
        const from = BigInt(String(params[0]))
        const to = BigInt(String(params[1]))
        if (to > tipHeight()) return { error: pastTip(to) }
        if (from < 0n || from > to) return { result: [] }
        return { result: blocks.slice(Number(from), Number(to) + 1) }
      }
      default:
        return { error: { code: -32601, message: `method ${method} not found` } }
    }
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      const body = (await req.json().catch(() => null)) as {
        id?: unknown
        method?: unknown
        params?: unknown
      }
      if (!body || typeof body.method !== 'string')
        return Response.json({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32600, message: 'invalid request' },
        })
      const params = Array.isArray(body.params) ? body.params : []
      return Response.json({ jsonrpc: '2.0', id: body.id ?? null, ...call(body.method, params) })
    },
  })

  return {
    url: `http://127.0.0.1:${server.port}`,
    network,
    pay: (to, amount, asset = 'native') => {
      const txHash = sha(`tx:${network}:${txCount++}`)
      mineBlock([{ txHash, index: 0, asset, from: toyFaucet, to: to.toLowerCase(), amount: String(amount) }])
      return txHash
    },
    mine: (n) => {
      for (let i = 0; i < n; i++) mineBlock([])
    },
    height: tipHeight,
    stop: () => server.stop(true),
  }
}
