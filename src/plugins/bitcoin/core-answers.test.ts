import { afterAll, describe, expect, test } from 'bun:test'
import { broadcastPayout } from './broadcast.ts'
import { estimateFeeRate } from './fees.ts'
import { createBitcoinRpc } from './rpc.ts'

/**
 * Bitcoin Core's answers, replayed by a stub JSON-RPC server (the bcoin regtest tests cover the real node; Core
 * is not available here): its error strings for sendrawtransaction and its estimatesmartfee shapes.
 */
let answers: Record<string, { result?: unknown; error?: { code: number; message: string } }> = {}
const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    const { method } = (await req.json()) as { method: string }
    const answer = answers[method] ?? { error: { code: -32601, message: 'Method not found' } }
    return Response.json(
      { result: answer.result ?? null, error: answer.error ?? null, id: 'tollgate' },
      {
        status: answer.error ? 500 : 200,
      },
    )
  },
})
afterAll(() => server.stop(true))
const rpc = createBitcoinRpc({ urls: [`http://127.0.0.1:${server.port}/`], timeoutMs: 2000 })
const signed = { raw: '00', hash: 'ab'.repeat(32) }
const rejected = (message: string, code = -26) => ({ sendrawtransaction: { error: { code, message } } })

describe('broadcast against Core-style refusals', () => {
  test('behavior: bytes the node already has count as sent', async () => {
    for (const message of [
      'txn-already-in-mempool',
      'txn-already-known',
      'Transaction already in block chain',
    ]) {
      answers = rejected(message, -27)
      await expect(broadcastPayout(rpc, signed, 0)).resolves.toBeUndefined()
    }
    answers = rejected('Transaction outputs already in utxo set', -27)
    await expect(broadcastPayout(rpc, signed, 0)).resolves.toBeUndefined()
  })

  test('error: spent inputs, fee refusals and other rejections map to their codes', async () => {
    answers = rejected('bad-txns-inputs-missingorspent', -25)
    await expect(broadcastPayout(rpc, signed, 0)).rejects.toMatchObject({
      code: 'INPUTS_SPENT',
      retryable: false,
    })
    answers = rejected('Missing inputs', -25)
    await expect(broadcastPayout(rpc, signed, 0)).rejects.toMatchObject({ code: 'INPUTS_SPENT' })
    answers = rejected(
      `insufficient fee, rejecting replacement ${'cd'.repeat(32)}; new feerate 0.00002 <= old feerate 0.00002`,
    )
    await expect(broadcastPayout(rpc, signed, 0)).rejects.toMatchObject({
      code: 'UNDERPRICED',
      retryable: true,
    })
    answers = rejected('min relay fee not met, 100 < 141')
    await expect(broadcastPayout(rpc, signed, 0)).rejects.toMatchObject({ code: 'UNDERPRICED' })
    answers = rejected(
      'mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)',
    )
    await expect(broadcastPayout(rpc, signed, 0)).rejects.toMatchObject({
      code: 'REJECTED',
      retryable: false,
    })
  })
})

describe('estimatesmartfee shapes', () => {
  test('default: Core feerate and bcoin fee in BTC/kvB become sat/kvB; no estimate is undefined', async () => {
    answers = { estimatesmartfee: { result: { feerate: 0.00012345, blocks: 6 } } }
    expect(await estimateFeeRate(rpc, 6)).toBe(12345n)
    answers = { estimatesmartfee: { result: { fee: 0.00001, blocks: 6 } } }
    expect(await estimateFeeRate(rpc, 6)).toBe(1000n)
    answers = {
      estimatesmartfee: { result: { errors: ['Insufficient data or no feerate found'], blocks: 0 } },
    }
    expect(await estimateFeeRate(rpc, 6)).toBeUndefined()
    answers = { estimatesmartfee: { result: { fee: -1, blocks: 6 } } }
    expect(await estimateFeeRate(rpc, 6)).toBeUndefined()
    answers = {}
    expect(await estimateFeeRate(rpc, 6)).toBeUndefined()
  })
})
