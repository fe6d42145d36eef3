// Scanner failover: two chain workers (real processes) on one devnet; the one holding the chain's lease is
// killed (SIGKILL: no cleanup) or stopped (SIGTERM: hands the lease back), a payment is paid right after, and
// the clock runs from the signal until the standby holds the lease and has scanned past that payment.
import { scanHeartbeatMs } from '../src/jobs/scan.ts'
import { startFailoverScene } from '../test/helpers/failover.ts'
import { type GatewayProcess, spawnWorker } from '../test/helpers/processes.ts'
import { fmt, median, percentile, report, table } from './lib.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 10)
const scene = await startFailoverScene(
  process.env.SCANNER_LEASE_MS ? { SCANNER_LEASE_MS: process.env.SCANNER_LEASE_MS } : {},
)
// the configured lease (the gateway's default unless SCANNER_LEASE_MS is set): what a dead holder costs
const leaseMs = scene.app.ctx.env.SCANNER_LEASE_MS
// how often holder and standby look at the lease, as src/jobs/scan.ts sets it
const heartbeatMs = scanHeartbeatMs(leaseMs)
const boundMs = 2000
const merchant = await scene.app.merchant('Failover bench')

type Signal = 'SIGKILL' | 'SIGTERM'
type Samples = { taken: number[]; resumed: number[]; seenByHolder: number }
const samples: Record<'alive' | Signal, Samples> = {
  alive: { taken: [], resumed: [], seenByHolder: 0 },
  SIGKILL: { taken: [], resumed: [], seenByHolder: 0 },
  SIGTERM: { taken: [], resumed: [], seenByHolder: 0 },
}

let { holder, standby, owner } = await scene.pair(leaseMs)
// alternating, so a drift of the machine during the run touches both alike
for (let round = 0; round < 2 * rounds; round++) {
  const signal: Signal = round % 2 === 0 ? 'SIGKILL' : 'SIGTERM'

  // baseline: the same payment, timed the same way, with the holder alive
  const t = performance.now()
  await (await scene.payNow(merchant.id)).seen()
  samples.alive.resumed.push(performance.now() - t)

  // the signal lands anywhere in the holder's heartbeat cycle, so anywhere in its last renewal's lease
  await Bun.sleep(Math.random() * heartbeatMs)
  const t0 = performance.now()
  holder.proc.kill(signal)
  const payment = await scene.payNow(merchant.id)
  const [[taker, taken], seen] = await Promise.all([
    scene.leaseTaken(owner).then((o) => [o, performance.now() - t0] as const),
    payment.seen().then(() => performance.now() - t0),
  ])
  // a stopping holder scans on until it hands the lease back, so it may see the payment itself; either way,
  // once the standby holds the lease and the payment was seen, every block since the signal has been scanned
  const s = samples[signal]
  s.taken.push(taken)
  s.resumed.push(Math.max(taken, seen))
  if (seen < taken) s.seenByHolder++
  await holder.proc.exited
  // the lease may only have gone to the standby
  await scene.heldBy(standby, taker)

  // the standby is the holder now; a new worker stands by
  const next: GatewayProcess = await spawnWorker(scene.workerEnv(leaseMs))
  ;({ holder, standby, owner } = await scene.roles(standby, next))
  // past its start-up and its first look at the lease: the next signal meets a pair in its steady state
  await Bun.sleep(heartbeatMs + 100)
}

const row = (what: string, s: Samples) => {
  const resumed = [...s.resumed].sort((a, b) => a - b)
  return [
    what,
    resumed.length,
    s.taken.length > 0 ? fmt(median(s.taken), 0) : '—',
    fmt(percentile(resumed, 50), 0),
    fmt(percentile(resumed, 95), 0),
    fmt(resumed.at(-1) as number, 0),
    fmt(percentile(resumed, 50) / leaseMs, 2),
  ]
}
const worst = (signal: Signal) => Math.max(...samples[signal].resumed)
report(
  'Scanner failover (bench/failover.ts)',
  `${table(
    [
      'lease holder',
      'rounds',
      'lease taken p50 ms',
      'resumed p50 ms',
      'resumed p95 ms',
      'resumed max ms',
      'resumed p50 ÷ lease',
    ],
    [
      row('alive (baseline)', samples.alive),
      row('SIGKILL', samples.SIGKILL),
      row('SIGTERM', samples.SIGTERM),
    ],
  )}

Two \`worker\` processes on one anvil devnet and one database. The ceiling is the lease,
SCANNER_LEASE_MS = ${leaseMs} ms: the most a dead holder's last renewal keeps the chain from the standby, which
looks every ${heartbeatMs} ms. Each round the holder gets the signal at a random point of its heartbeat and a payment
is paid (its block mined) right after; the clock runs from the signal to the standby holding the lease ("lease
taken"), and to the standby holding it with that payment out of PENDING ("resumed": the standby is in charge and
every block since the signal is scanned). A new standby starts before the next round; the signals alternate. The baseline is the same
payment, timed the same way, with the holder alive. **SIGKILL: resumed within ${fmt(worst('SIGKILL'), 0)} ms at
most** (bar: ≤ ${boundMs} ms; by design at most lease + one heartbeat + one scan). **SIGTERM: within
${fmt(worst('SIGTERM'), 0)} ms at most**, no wait for the lease: the holder scans on while it shuts down and hands
the lease back on its way out (the payment was seen before the lease changed hands in ${samples.SIGTERM.seenByHolder}
of ${rounds} rounds).`,
)
await Promise.all([holder.stop(), standby.stop()])
await scene.stop()
process.exit(0)
