import { describe, expect, test } from 'bun:test'
import { toyChain, unitStage } from '../test/helpers/unit.ts'
import { assessChain, describePayouts, describeScan, readChainStatus } from './chain-status.ts'
import type { PayoutStatus } from './core/payouts/pass-status.ts'
import { recordPayoutPass } from './core/payouts/pass-status.ts'
import type { ScanStatus } from './core/scanning/status.ts'

// The lag math every surface shows (metrics, readiness, Chain.status, the CLI): blocks behind either way, and
// which thresholds a chain is past.

const limits = {
  lagBlocks: 5,
  scanAgeMs: 60_000,
  staleTipMs: 600_000,
  payoutPassAgeMs: 300_000,
  queuedAgeMs: 900_000,
}

const scan = (over: Partial<ScanStatus> = {}): Omit<ScanStatus, 'chain'> => ({
  scannedHeight: 100n,
  tip: 100n,
  haltedReason: null,
  lastScanAt: new Date(),
  lastScanAgeSeconds: 1,
  tipChangedAt: new Date(),
  tipAgeSeconds: 1,
  rpcCallsPerBlock: null,
  rpcBytesPerBlock: null,
  lastErrorCode: null,
  lastErrorKind: null,
  lastErrorStage: null,
  lastErrorAt: null,
  failedRuns: 0,
  failingForSeconds: null,
  quietMs: 1000,
  lastBlockAt: null,
  ...over,
})

const idle: Omit<PayoutStatus, 'chain'> = {
  lastPass: null,
  queued: { count: 0, oldestAgeSeconds: null },
  inFlight: { count: 0, oldestAgeSeconds: null },
  openTransactions: { count: 0, oldestAgeSeconds: null },
}

const pass = (over: Partial<NonNullable<PayoutStatus['lastPass']>> = {}): Omit<PayoutStatus, 'chain'> => ({
  ...idle,
  lastPass: {
    finishedAt: new Date(),
    ageSeconds: 1,
    durationMs: 20,
    failedStages: [],
    failedSteps: 0,
    lastErrorCode: null,
    lastErrorStage: null,
    lastErrorAt: null,
    failingPasses: 0,
    failingSince: null,
    failingForSeconds: null,
    ...over,
  },
})

describe('assessChain', () => {
  test('default: a scanner at the tip, scanning and paying out on time, is not degraded', () => {
    expect(assessChain(scan(), pass(), limits)).toEqual({ lagBlocks: 0, nodeBehindBlocks: 0, degraded: [] })
  })

  test('behavior: blocks behind the tip count as lag; past lagBlocks it is SCAN_LAG; 0 turns the check off', () => {
    expect(assessChain(scan({ tip: 105n }), idle, limits)).toMatchObject({ lagBlocks: 5, degraded: [] })
    expect(assessChain(scan({ tip: 106n }), idle, limits)).toMatchObject({
      lagBlocks: 6,
      degraded: ['SCAN_LAG'],
    })
    expect(assessChain(scan({ tip: 1000n }), idle, { ...limits, lagBlocks: 0 }).degraded).toEqual([])
    // a cursor before genesis (-1) and a tip at 3: four blocks to scan
    expect(assessChain(scan({ scannedHeight: -1n, tip: 3n }), idle, limits).lagBlocks).toBe(4)
  })

  test('behavior: a node whose tip is below what was scanned is behind by that much (NODE_BEHIND), lag 0', () => {
    expect(assessChain(scan({ tip: 92n }), idle, limits)).toEqual({
      lagBlocks: 0,
      nodeBehindBlocks: 8,
      degraded: ['NODE_BEHIND'],
    })
  })

  test("behavior: scans that succeed while the node's tip stays put are STALE_TIP", () => {
    expect(assessChain(scan({ tipAgeSeconds: 601 }), idle, limits).degraded).toEqual(['STALE_TIP'])
    expect(assessChain(scan({ tipAgeSeconds: 599 }), idle, limits).degraded).toEqual([])
    expect(assessChain(scan({ tipAgeSeconds: 9999 }), idle, { ...limits, staleTipMs: 0 }).degraded).toEqual(
      [],
    )
  })

  test('behavior: no successful scan for scanAgeMs is SCAN_STALLED (and says nothing about the tip)', () => {
    expect(assessChain(scan({ lastScanAgeSeconds: 61, tipAgeSeconds: 9999 }), idle, limits).degraded).toEqual(
      ['SCAN_STALLED'],
    )
    // never succeeded: counted from the first failure, not at once
    const neverOk = { lastScanAt: null, lastScanAgeSeconds: null, failedRuns: 3 }
    expect(assessChain(scan({ ...neverOk, failingForSeconds: 10 }), idle, limits).degraded).toEqual([])
    expect(assessChain(scan({ ...neverOk, failingForSeconds: 61 }), idle, limits).degraded).toEqual([
      'SCAN_STALLED',
    ])
  })

  test('behavior: a halt is HALTED, not also stalled', () => {
    expect(
      assessChain(scan({ haltedReason: 'reorg too deep', lastScanAgeSeconds: 9999 }), idle, limits).degraded,
    ).toEqual(['HALTED'])
  })

  test('behavior: payouts: no pass for payoutPassAgeMs, passes failing that long, a queued withdrawal waiting queuedAgeMs', () => {
    expect(assessChain(scan(), pass({ ageSeconds: 301 }), limits).degraded).toEqual(['PAYOUTS_STALLED'])
    expect(assessChain(scan(), pass({ failingPasses: 40, failingForSeconds: 301 }), limits).degraded).toEqual(
      ['PAYOUTS_FAILING'],
    )
    expect(assessChain(scan(), pass({ failingPasses: 2, failingForSeconds: 4 }), limits).degraded).toEqual([])
    const waiting = { ...pass(), queued: { count: 1, oldestAgeSeconds: 901 } }
    expect(assessChain(scan(), waiting, limits).degraded).toEqual(['PAYOUTS_BACKLOG'])
    // no pass ever ran (no signer here, or payouts unused): nothing to judge
    expect(assessChain(scan(), idle, limits).degraded).toEqual([])
  })
})

const stage = await unitStage('chainstatus')

describe('readChainStatus', () => {
  test('behavior: what the last run that read blocks cost the node, per block, where the driver counts it', async () => {
    const { toy, sync } = stage.scene()
    const scan = toy.chain.driver.scan
    toy.chain.driver.scan = async (req) => {
      const found = await scan(req)
      return { ...found, cost: { calls: 3 * found.blocks.length, bytes: 4096 * found.blocks.length } }
    }
    toy.mineEmpty(4)
    await sync()
    const [s] = await readChainStatus({ db: stage.db, chains: new Map([[toy.chain.name, toy.chain]]) })
    expect([s?.rpcCallsPerBlock, s?.rpcBytesPerBlock]).toEqual([3, 4096])
    expect(describeScan(s!)).toContain('3.0 calls and 4 KiB per block')
    // a run with no new block keeps the last figures instead of dividing by nothing
    await sync()
    const [again] = await readChainStatus({ db: stage.db, chains: new Map([[toy.chain.name, toy.chain]]) })
    expect(again?.rpcCallsPerBlock).toBe(3)
  })

  test('default: every configured chain has a status, scanned or not, with its lag, ages and payout backlog', async () => {
    const { toy, sync } = stage.scene({ settings: { degradedAfter: { ...limits, lagBlocks: 2 } } })
    toy.mineEmpty(4)
    await sync()
    await recordPayoutPass(stage.db, toy.chain.name, {
      durationMs: 2100,
      failedStages: [{ stage: 'outbound', code: 'RPC_DEADLINE' }],
      failedSteps: [],
    })
    toy.mineEmpty(3)
    // the scanner saw the new tip but stored nothing yet (a run that failed after the tip)
    toy.chain.driver.scan = () => Promise.reject(new Error('down'))
    await sync().catch(() => {})
    const fresh = toyChain({ name: 'unscanned' }).chain
    const chains = new Map([
      [toy.chain.name, toy.chain],
      [fresh.name, fresh],
    ])
    const [s, unscanned] = await readChainStatus({ db: stage.db, chains })
    expect(s).toMatchObject({
      chain: toy.chain.name,
      scannedHeight: 4n,
      tip: 7n,
      lagBlocks: 3,
      failedRuns: 1,
      lastErrorCode: 'UNKNOWN',
      degraded: ['SCAN_LAG'],
    })
    expect(s?.payouts.lastPass?.failedStages).toEqual([{ stage: 'outbound', code: 'RPC_DEADLINE' }])
    expect(describeScan(s!)).toBe(
      '3 blocks behind, last scan 0s ago, tip moved 0s ago, 1 failed run in a row, last error UNKNOWN',
    )
    expect(describePayouts(s!.payouts)).toBe(
      '0 queued, 0 in flight, 0 open tx, last pass 0s ago (2100 ms), failed: outbound RPC_DEADLINE',
    )
    expect(unscanned).toMatchObject({
      chain: 'unscanned',
      scannedHeight: null,
      tip: null,
      lagBlocks: null,
      degraded: [],
    })
    expect(describeScan(unscanned!)).toBe('not scanned yet')
    expect(describePayouts(unscanned!.payouts)).toBe('0 queued, 0 in flight, 0 open tx, no payout pass yet')
  })
})
