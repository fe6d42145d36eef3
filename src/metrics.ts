import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ChainStatus } from './chain-status.ts'
import type { KytStatus } from './core/compliance/status.ts'

export type ChainStateSource = () => Promise<Array<{ chain: string; height: bigint; halted: boolean }>>

/** Every chain's status (`readChainStatus`), read at scrape. */
export type ChainStatusSource = () => Promise<ChainStatus[]>

/** Screening status per chain (`readKytStatus`), read at scrape. */
export type KytStatusSource = () => Promise<KytStatus[]>

/**
 * Prometheus metrics of one process, served at `/metrics`. Chain gauges are read from the database at scrape:
 * `chainState` for the scanned height and halts, `chainStatus` for how far behind scanning and payouts are.
 */
/** Every stored rate's pair and time (the rate book's), read at scrape. */
export type RateAgesSource = () => Array<{ pair: string; at: Date; fresh: boolean }>

export function createMetrics(
  chainState?: ChainStateSource,
  chainStatus?: ChainStatusSource,
  kytStatus?: KytStatusSource,
  rateAges?: RateAgesSource,
) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  if (chainStatus) registerChainStatusGauges(registry, chainStatus)
  if (kytStatus) registerKytGauges(registry, kytStatus)
  if (rateAges) {
    new Gauge({
      name: 'tollgate_rate_age_seconds',
      help: 'Age of each pair’s current rate (its oldest source’s time); past the rule’s maxAgeSeconds, prices in it are refused',
      labelNames: ['pair'] as const,
      registers: [registry],
      collect() {
        this.reset()
        const now = Date.now()
        for (const r of rateAges())
          this.set({ pair: r.pair }, Math.max(0, Math.floor((now - r.at.getTime()) / 1000)))
      },
    })
    new Gauge({
      name: 'tollgate_rate_stale',
      help: '1 when a pair’s current rate is older than its rule allows (createPayment in it answers RATE_UNAVAILABLE)',
      labelNames: ['pair'] as const,
      registers: [registry],
      collect() {
        this.reset()
        for (const r of rateAges()) this.set({ pair: r.pair }, r.fresh ? 0 : 1)
      },
    })
  }
  if (chainState) {
    new Gauge({
      name: 'tollgate_chain_scanned_height',
      help: 'Last block height the scanner stored, per chain',
      labelNames: ['chain'] as const,
      registers: [registry],
      async collect() {
        for (const r of await chainState().catch(() => [])) this.set({ chain: r.chain }, Number(r.height))
      },
    })
    new Gauge({
      name: 'tollgate_chain_halted',
      help: '1 when the chain scanner halted (e.g. a reorg deeper than finality) and needs an operator',
      labelNames: ['chain'] as const,
      registers: [registry],
      async collect() {
        for (const r of await chainState().catch(() => [])) this.set({ chain: r.chain }, r.halted ? 1 : 0)
      },
    })
  }
  return {
    registry,
    httpRequests: new Counter({
      name: 'tollgate_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'tollgate_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'tollgate_rate_limited_total',
      help: 'Requests refused by a rate limit, by limiter (ip, key, auth: failed authentications of an address)',
      labelNames: ['limiter'] as const,
      registers: [registry],
    }),
    rateLimiterUnavailable: new Counter({
      name: 'tollgate_rate_limiter_unavailable_total',
      help: 'Rate-limit checks that could not reach Redis, by limiter (the request was let through)',
      labelNames: ['limiter'] as const,
      registers: [registry],
    }),
  }
}
export type Metrics = ReturnType<typeof createMetrics>

/**
 * A read of `source` that the gauges of one scrape share (the registry starts every gauge's collect at once; the
 * next scrape reads afresh); a failed read answers nothing rather than failing the scrape.
 */
function sharedRead<T>(source: () => Promise<T[]>): () => Promise<T[]> {
  let underWay: Promise<T[]> | undefined
  return () => {
    underWay ??= source()
      .catch(() => [])
      .finally(() => {
        underWay = undefined
      })
    return underWay
  }
}

/** A gauge per chain (and optional extra labels) whose values come from the chain status at scrape. */
type StatusGauge = {
  name: string
  help: string
  labels?: readonly string[]
  values: (s: ChainStatus) => Array<[labels: Record<string, string>, value: number | null]>
}

const one = (value: number | bigint | null | undefined): Array<[Record<string, string>, number | null]> => [
  [{}, value === null || value === undefined ? null : Number(value)],
]

/** Stages a payout pass runs; each gets a series, 0 while it passes. */
const payoutStages = ['network', 'sweeps', 'consolidation', 'batching', 'cold storage', 'outbound'] as const

const statusGauges: StatusGauge[] = [
  {
    name: 'tollgate_chain_tip_height',
    help: "The node's tip as the scanner last saw it, per chain",
    values: (s) => one(s.tip),
  },
  {
    name: 'tollgate_chain_lag_blocks',
    help: 'Blocks between the node tip and the last block scanned, per chain',
    values: (s) => one(s.lagBlocks),
  },
  {
    name: 'tollgate_chain_node_behind_blocks',
    help: "Blocks the node's tip is below what was already scanned (a stale node), per chain",
    values: (s) => one(s.nodeBehindBlocks),
  },
  {
    name: 'tollgate_chain_last_scan_age_seconds',
    help: 'Seconds since a scan run last succeeded, per chain',
    values: (s) => one(s.lastScanAgeSeconds),
  },
  {
    name: 'tollgate_chain_tip_age_seconds',
    help: "Seconds since the node's tip last moved up, per chain (a stale node's keeps growing)",
    values: (s) => one(s.tipAgeSeconds),
  },
  {
    name: 'tollgate_chain_scan_rpc_calls_per_block',
    help: 'RPC calls per scanned block in the last run that scanned blocks, per chain (drivers that count them)',
    values: (s) => one(s.rpcCallsPerBlock),
  },
  {
    name: 'tollgate_chain_scan_rpc_bytes_per_block',
    help: 'RPC response bytes per scanned block in the last run that scanned blocks, per chain (drivers that count them)',
    values: (s) => one(s.rpcBytesPerBlock),
  },
  {
    name: 'tollgate_chain_scan_failed_runs',
    help: 'Scan runs failed in a row, per chain (0 after one succeeds)',
    values: (s) => one(s.failedRuns),
  },
  {
    name: 'tollgate_chain_degraded',
    help: 'Per chain and reason: 1 while the chain is degraded for that reason (thresholds: degradedAfter)',
    labels: ['reason'],
    values: (s) => s.degraded.map((reason) => [{ reason }, 1]),
  },
  {
    name: 'tollgate_payouts_backlog',
    help: 'Per chain: withdrawals queued (not yet in a transaction) or in flight (sent, not confirmed), and open outbound transactions',
    labels: ['state'],
    values: (s) => [
      [{ state: 'queued' }, s.payouts.queued.count],
      [{ state: 'in_flight' }, s.payouts.inFlight.count],
      [{ state: 'open_transactions' }, s.payouts.openTransactions.count],
    ],
  },
  {
    name: 'tollgate_payouts_oldest_age_seconds',
    help: 'Per chain: seconds the oldest queued or in-flight withdrawal, or open outbound transaction, has waited (0 when none)',
    labels: ['state'],
    values: (s) => [
      [{ state: 'queued' }, s.payouts.queued.oldestAgeSeconds ?? 0],
      [{ state: 'in_flight' }, s.payouts.inFlight.oldestAgeSeconds ?? 0],
      [{ state: 'open_transactions' }, s.payouts.openTransactions.oldestAgeSeconds ?? 0],
    ],
  },
  {
    name: 'tollgate_payouts_last_pass_age_seconds',
    help: 'Seconds since a payout pass last finished, per chain (absent until the signer ran one)',
    values: (s) => one(s.payouts.lastPass?.ageSeconds),
  },
  {
    name: 'tollgate_payouts_last_pass_duration_seconds',
    help: 'How long the last payout pass took, per chain',
    values: (s) => one(s.payouts.lastPass ? s.payouts.lastPass.durationMs / 1000 : null),
  },
  {
    name: 'tollgate_payouts_stage_failed',
    help: 'Per chain and stage: 1 when that stage failed in the last payout pass',
    labels: ['stage'],
    values: (s) =>
      s.payouts.lastPass
        ? payoutStages.map((stage) => [
            { stage },
            s.payouts.lastPass?.failedStages.some((f) => f.stage === stage) ? 1 : 0,
          ])
        : [],
  },
  {
    name: 'tollgate_payouts_failed_steps',
    help: 'Per chain: transactions or sweeps whose step failed in the last payout pass (their stage went on)',
    values: (s) => one(s.payouts.lastPass?.failedSteps),
  },
  {
    name: 'tollgate_payouts_failing_passes',
    help: 'Payout passes in a row with something failed, per chain',
    values: (s) => one(s.payouts.lastPass?.failingPasses),
  },
]

/**
 * The chain status gauges. One scrape reads the status once (the registry starts every gauge's collect at once,
 * and they share the read under way; the next scrape reads afresh), and a failed read leaves the gauges empty
 * rather than failing the scrape.
 */
function registerChainStatusGauges(registry: Registry, source: ChainStatusSource) {
  const read = sharedRead(source)
  for (const spec of statusGauges)
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: ['chain', ...(spec.labels ?? [])],
      registers: [registry],
      async collect() {
        // series of chains or reasons that are gone must not linger with their last value
        this.reset()
        for (const status of await read())
          for (const [labels, value] of spec.values(status))
            if (value !== null) this.set({ chain: status.chain, ...labels }, value)
      },
    })
}

const kytGauges: Array<{ name: string; help: string; value: (s: KytStatus) => number }> = [
  {
    name: 'tollgate_kyt_pending',
    help: 'KYT screenings without a verdict, per chain (nothing they cover is credited)',
    value: (s) => s.pending,
  },
  {
    name: 'tollgate_kyt_held',
    help: 'Payments and withdrawals held by KYT screening for an admin, per chain (undecided)',
    value: (s) => s.held,
  },
  {
    name: 'tollgate_kyt_oldest_pending_seconds',
    help: 'Seconds the oldest KYT screening without a verdict has waited, per chain (providers down or slow)',
    value: (s) => s.oldestPendingSeconds,
  },
  {
    name: 'tollgate_kyt_fail_open_total',
    help: 'KYT screenings let through unscreened because no provider answered in time (failMode open), per chain',
    value: (s) => s.failOpen,
  },
  {
    name: 'tollgate_kyt_fail_closed_total',
    help: 'KYT screenings held because no provider answered in time (failMode closed), per chain',
    value: (s) => s.failClosed,
  },
]

/** The screening gauges, read from the database at scrape (one read shared by the gauges of a scrape). */
function registerKytGauges(registry: Registry, source: KytStatusSource) {
  const read = sharedRead(source)
  for (const spec of kytGauges)
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: ['chain'],
      registers: [registry],
      async collect() {
        this.reset()
        for (const status of await read()) this.set({ chain: status.chain }, spec.value(status))
      },
    })
}
