// Closed-loop HTTP load: `concurrency` workers, each sending its next request when the last one answered.
import { percentile } from './lib.ts'

const args = JSON.parse(process.argv[2] as string) as {
  url: string
  body: string
  headers: Record<string, string>
  concurrency: number
  requests: number
}
const latencies: number[] = []
let sent = 0
let errors = 0
const started = performance.now()
await Promise.all(
  Array.from({ length: args.concurrency }, async () => {
    while (sent < args.requests) {
      sent++
      const t0 = performance.now()
      const res = await fetch(args.url, { method: 'POST', headers: args.headers, body: args.body })
      const text = await res.text()
      latencies.push(performance.now() - t0)
      if (!res.ok || text.includes('"errors"') || text.includes('UserError')) errors++
    }
  }),
)
const seconds = (performance.now() - started) / 1000
latencies.sort((a, b) => a - b)
console.log(
  JSON.stringify({
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  }),
)
