import { describe, expect, test } from 'bun:test'
import { DevnetError, fundDevWallet } from './devnet.ts'

describe('fundDevWallet', () => {
  test('error: a JSON-RPC error answer is a DevnetError RPC_ERROR naming the method', async () => {
    const node = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (req) => {
        const { id } = (await req.json()) as { id: number }
        return Response.json({ jsonrpc: '2.0', id, error: { code: -32601, message: 'Method not found' } })
      },
    })
    try {
      const err = await fundDevWallet(`http://127.0.0.1:${node.port}`, `0x${'11'.repeat(20)}`).catch(
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(DevnetError)
      expect(err).toMatchObject({ code: 'RPC_ERROR', message: 'eth_getBalance: Method not found' })
    } finally {
      await node.stop(true)
    }
  })
})
