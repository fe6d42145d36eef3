import { describe, expect, test } from 'bun:test'
import type { AssetInfo } from '@tollgate/sdk'
import { type CallFrame, internalTransfersOf, type ParityTrace, type TracedBlock } from './traces.ts'

const native: AssetInfo = {
  id: 'eip155:1/slip44:60',
  symbol: 'ETH',
  name: 'Ether',
  decimals: 18,
  native: true,
}
const a = (n: number) => `0x${n.toString(16).padStart(40, '0')}`
const eoa = a(0xe0a)
const wallet = a(0xca11)
const precompile = a(0x2)
const watched = a(0xbeef)
const tx = `0x${'ab'.repeat(32)}`
const block: TracedBlock = {
  ref: { height: 7n, hash: `0x${'77'.repeat(32)}`, parentHash: `0x${'66'.repeat(32)}`, time: 1 },
  transactions: [{ hash: tx, from: eoa }],
}
const watch = new Set([watched])
const rows = (r: ReturnType<typeof internalTransfersOf>) =>
  r.transfers.map((t) => [t.index, t.from, t.amount])

describe('call traces', () => {
  test('behavior: delegatecall, callcode and staticcall frames move no value, even with a value field; only CALL does', () => {
    // geth's callTracer shows the caller's msg.value on a DELEGATECALL frame, and CALLCODE keeps value in the caller
    const top: CallFrame = {
      type: 'CALL',
      from: eoa,
      to: wallet,
      value: '0x0',
      calls: [
        { type: 'DELEGATECALL', from: wallet, to: watched, value: '0x5' },
        { type: 'CALLCODE', from: wallet, to: watched, value: '0x6' },
        { type: 'STATICCALL', from: wallet, to: precompile },
        { type: 'CALL', from: wallet, to: watched, value: '0x7' },
      ],
    }
    const found = internalTransfersOf(
      'debug_traceBlockByNumber',
      [{ txHash: tx, result: top }],
      block,
      watch,
      native,
    )
    expect(rows(found)).toEqual([[-2, wallet, 7n]])
    expect(found.failed.size).toBe(0)
  })

  test('behavior: a zero-value frame one tracer shows and the other does not changes no index', () => {
    const moves = [
      { type: 'CALL', from: wallet, to: a(0x1234), value: '0x1' },
      { type: 'CALL', from: wallet, to: watched, value: '0x9' },
    ]
    const withPrecompile: CallFrame = {
      type: 'CALL',
      from: eoa,
      to: wallet,
      calls: [{ type: 'STATICCALL', from: wallet, to: precompile }, ...moves],
    }
    const without: CallFrame = { type: 'CALL', from: eoa, to: wallet, calls: moves }
    const one = internalTransfersOf(
      'debug_traceBlockByNumber',
      [{ result: withPrecompile }],
      block,
      watch,
      native,
    )
    const other = internalTransfersOf('debug_traceBlockByNumber', [{ result: without }], block, watch, native)
    expect(rows(one)).toEqual([[-3, wallet, 9n]])
    expect(rows(other)).toEqual(rows(one))
  })

  test('behavior: parity traces — a failed create with value keeps its place in the count, reward traces are no transaction', () => {
    const traces: ParityTrace[] = [
      {
        type: 'call',
        action: { callType: 'call', from: eoa, to: wallet, value: '0x0' },
        traceAddress: [],
        transactionHash: tx,
        transactionPosition: 0,
        blockHash: block.ref.hash,
      },
      {
        type: 'create',
        action: { from: wallet, value: '0x3' },
        result: null,
        error: 'Reverted',
        traceAddress: [0],
        transactionHash: tx,
        transactionPosition: 0,
        blockHash: block.ref.hash,
      },
      {
        type: 'call',
        action: { callType: 'call', from: wallet, to: watched, value: '0x8' },
        traceAddress: [1],
        transactionHash: tx,
        transactionPosition: 0,
        blockHash: block.ref.hash,
      },
      {
        type: 'reward',
        action: { value: '0x1bc16d674ec80000' },
        traceAddress: [],
        blockHash: block.ref.hash,
      },
    ]
    expect(rows(internalTransfersOf('trace_block', traces, block, watch, native))).toEqual([[-3, wallet, 8n]])
  })

  test('error: traces of another block or of another transaction are a retryable INCONSISTENT_RANGE', () => {
    const other: ParityTrace = {
      type: 'call',
      action: { callType: 'call', from: eoa, to: watched, value: '0x1' },
      traceAddress: [],
      transactionHash: tx,
      transactionPosition: 0,
      blockHash: `0x${'99'.repeat(32)}`,
    }
    expect(() => internalTransfersOf('trace_block', [other], block, watch, native)).toThrow(
      expect.objectContaining({ code: 'INCONSISTENT_RANGE', retryable: true }),
    )
    const top: CallFrame = { type: 'CALL', from: eoa, to: watched, value: '0x1' }
    expect(() =>
      internalTransfersOf(
        'debug_traceBlockByNumber',
        [{ txHash: `0x${'cd'.repeat(32)}`, result: top }],
        block,
        watch,
        native,
      ),
    ).toThrow(expect.objectContaining({ code: 'INCONSISTENT_RANGE', retryable: true }))
  })
})
