import { describe, expect, test } from 'bun:test'
import type { ChainStatus } from './chain-status.ts'
import { createMetrics } from './metrics.ts'

const status = (over: Partial<ChainStatus> = {}): ChainStatus => ({
  chain: 'eth',
  scannedHeight: 100n,
  tip: 104n,
  lagBlocks: 4,
  nodeBehindBlocks: 0,
  lastScanAt: new Date(),
  lastScanAgeSeconds: 3,
  tipAgeSeconds: 12,
  lastErrorCode: 'RPC_ERROR',
  lastErrorKind: 'retryable',
  lastErrorStage: 'scan',
  lastErrorAt: new Date(),
  failedRuns: 2,
  halted: false,
  haltedReason: null,
  lastBlockAt: null,
  rpcCallsPerBlock: 2.5,
  rpcBytesPerBlock: 48_000,
  network: null,
  ready: true,
  unavailable: null,
  degraded: ['SCAN_LAG'],
  payouts: {
    lastPass: {
      finishedAt: new Date(),
      ageSeconds: 7,
      durationMs: 2500,
      failedStages: [{ stage: 'outbound', code: 'RPC_DEADLINE' }],
      failedSteps: 1,
      lastErrorCode: 'RPC_DEADLINE',
      lastErrorStage: 'outbound',
      lastErrorAt: new Date(),
      failingPasses: 3,
      failingSince: new Date(),
      failingForSeconds: 9,
    },
    queued: { count: 2, oldestAgeSeconds: 40 },
    inFlight: { count: 1, oldestAgeSeconds: 15 },
    openTransactions: { count: 1, oldestAgeSeconds: 15 },
  },
  ...over,
})

describe('chain status gauges', () => {
  test('default: lag, ages, failures and the payout backlog per chain, read once per scrape', async () => {
    let reads = 0
    let current = [status()]
    const metrics = createMetrics(undefined, async () => {
      reads++
      return current
    })
    const text = await metrics.registry.metrics()
    expect(reads).toBe(1)
    for (const line of [
      'tollgate_chain_tip_height{chain="eth"} 104',
      'tollgate_chain_lag_blocks{chain="eth"} 4',
      'tollgate_chain_scan_rpc_calls_per_block{chain="eth"} 2.5',
      'tollgate_chain_scan_rpc_bytes_per_block{chain="eth"} 48000',
      'tollgate_chain_last_scan_age_seconds{chain="eth"} 3',
      'tollgate_chain_tip_age_seconds{chain="eth"} 12',
      'tollgate_chain_scan_failed_runs{chain="eth"} 2',
      'tollgate_chain_degraded{chain="eth",reason="SCAN_LAG"} 1',
      'tollgate_payouts_backlog{chain="eth",state="queued"} 2',
      'tollgate_payouts_backlog{chain="eth",state="in_flight"} 1',
      'tollgate_payouts_oldest_age_seconds{chain="eth",state="queued"} 40',
      'tollgate_payouts_last_pass_age_seconds{chain="eth"} 7',
      'tollgate_payouts_last_pass_duration_seconds{chain="eth"} 2.5',
      'tollgate_payouts_stage_failed{chain="eth",stage="outbound"} 1',
      'tollgate_payouts_stage_failed{chain="eth",stage="batching"} 0',
      'tollgate_payouts_failed_steps{chain="eth"} 1',
      'tollgate_payouts_failing_passes{chain="eth"} 3',
    ])
      expect(text).toContain(line)

    // the next scrape reads afresh, and a reason that went away leaves no series behind
    current = [status({ lagBlocks: 0, degraded: [] })]
    const next = await metrics.registry.metrics()
    expect(reads).toBe(2)
    expect(next).toContain('tollgate_chain_lag_blocks{chain="eth"} 0')
    expect(next).not.toContain('reason="SCAN_LAG"')
  })

  test('behavior: a status that cannot be read leaves the gauges empty; the scrape still answers', async () => {
    const metrics = createMetrics(undefined, () => Promise.reject(new Error('database down')))
    const text = await metrics.registry.metrics()
    expect(text).toContain('# TYPE tollgate_chain_lag_blocks gauge')
    expect(text).not.toContain('tollgate_chain_lag_blocks{')
  })
})

describe('rate gauges', () => {
  test('default: each pair’s rate age and whether it is stale, read from the rate book at scrape; a pair gone is gone', async () => {
    let rates = [
      { pair: 'BTC/USD', at: new Date(Date.now() - 30_000), fresh: true },
      { pair: 'ETH/EUR', at: new Date(Date.now() - 900_000), fresh: false },
    ]
    const metrics = createMetrics(undefined, undefined, undefined, () => rates)
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/tollgate_rate_age_seconds\{pair="BTC\/USD"\} (29|30|31)\n/)
    expect(text).toContain('tollgate_rate_stale{pair="ETH/EUR"} 1')
    expect(text).toContain('tollgate_rate_stale{pair="BTC/USD"} 0')
    rates = rates.slice(0, 1)
    expect(await metrics.registry.metrics()).not.toContain('ETH/EUR')
  })
})
