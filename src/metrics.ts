import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

export type ChainStateSource = () => Promise<Array<{ chain: string; height: bigint; halted: boolean }>>

/** Prometheus metrics of one process, served at `/metrics`. Chain gauges are read from the database at scrape. */
export function createMetrics(chainState?: ChainStateSource) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
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
