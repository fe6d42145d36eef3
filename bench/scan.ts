// Scan throughput on a pre-mined anvil chain (1,000+ blocks of 20–50 mixed native/ERC-20 transactions) with
// 100k watched addresses, side by side with a raw JSON-RPC fetch of the same blocks and logs in the same run; and
// with 10M watched addresses in a compact key set (its memory, its build, the scan with it).
import type { ChainDriver } from '@tollgate/sdk'
import { privateKeyToAccount } from 'viem/accounts'
import { createPayment } from '../src/core/payments/create.ts'
import { createKeySet } from '../src/core/scanning/key-set.ts'
import { newScannerState, syncChain } from '../src/core/scanning/sync.ts'
import { payments } from '../src/db/schema/index.ts'
import { createEvmDriver } from '../src/plugins/evm/index.ts'
import { evmOptionsSchema } from '../src/plugins/evm/options.ts'
import { createTestApp, testConfig } from '../test/helpers/app.ts'
import { gatewayMnemonic, startDevnet, tokenAbi } from '../test/helpers/chain.ts'
import { fmt, median, report, table } from './lib.ts'

const blocks = Number(process.env.BENCH_BLOCKS ?? 1000)
const watchedCount = 100_000
const rangeSize = 100
const rounds = 3

const devnet = await startDevnet()
/** What the raw fetch asked: JSON-RPC calls (each of a batch) and response bytes, as the driver counts them. */
const rawCost = { calls: 0, bytes: 0 }
const decoder = new TextDecoder()
const rpc = async (body: unknown) => {
  const res = await fetch(devnet.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const bytes = await res.arrayBuffer()
  rawCost.calls += Array.isArray(body) ? body.length : 1
  rawCost.bytes += bytes.byteLength
  return JSON.parse(decoder.decode(bytes)) as any
}

// ---- the chain: 20–50 transactions per block, half native, half token transfers ----
const senders = (await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] })).result as string[]
const { encodeFunctionData } = await import('viem')
for (const s of senders)
  await devnet.test.request({
    method: 'eth_sendTransaction' as never,
    params: [
      {
        from: devnet.payer.address,
        to: devnet.tokenAddress,
        data: encodeFunctionData({
          abi: tokenAbi,
          functionName: 'transfer',
          args: [s as `0x${string}`, 10n ** 12n],
        }),
      },
    ] as never,
  })
await rpc({ jsonrpc: '2.0', id: 1, method: 'evm_setAutomine', params: [false] })
const randomAddress = () =>
  privateKeyToAccount(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`).address
const watched = Array.from({ length: watchedCount }, (_, i) =>
  i % 1000 === 0
    ? randomAddress()
    : `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString('hex')}`,
)
const startHeight =
  Number((await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] })).result) + 1
let txCount = 0
let id = 0
const nonces = new Map<string, number>()
for (const s of senders)
  nonces.set(
    s,
    Number(
      (await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: [s, 'pending'] }))
        .result,
    ),
  )
const nextNonce = (s: string) => {
  const n = nonces.get(s)!
  nonces.set(s, n + 1)
  return `0x${n.toString(16)}`
}
for (let b = 0; b < blocks; b++) {
  const n = 20 + Math.floor(Math.random() * 31)
  const batch = Array.from({ length: n }, (_, i) => {
    const from = senders[(b + i) % senders.length]!
    // one in ten pays a watched address
    const to = Math.random() < 0.1 ? watched[Math.floor(Math.random() * watched.length)]! : randomAddress()
    const tx =
      i % 2 === 0
        ? { from, to, value: '0x1', nonce: nextNonce(from) }
        : {
            from,
            nonce: nextNonce(from),
            to: devnet.tokenAddress,
            data: encodeFunctionData({
              abi: tokenAbi,
              functionName: 'transfer',
              args: [to as `0x${string}`, 1n],
            }),
            gas: '0x186a0',
          }
    return { jsonrpc: '2.0', id: id++, method: 'eth_sendTransaction', params: [tx] }
  })
  const answers = (await rpc(batch)) as any[]
  const failed = answers.find((a) => a.error)
  if (failed) throw new Error(JSON.stringify(failed.error))
  await rpc({ jsonrpc: '2.0', id: id++, method: 'evm_mine', params: [] })
  txCount += n
}
const endHeight = startHeight + blocks - 1
// anvil replays a block to trace it (about 50 ms for 35 transactions): the traced rows read the first blocks only
const tracedBlocks = Math.min(blocks, Number(process.env.BENCH_TRACED_BLOCKS ?? 100))
const tracedEnd = startHeight + tracedBlocks - 1

// ---- the contenders ----
const app = await createTestApp({
  // measured against the raw fetch doing the same: blocks and token logs (internal transfers are measured in
  // their own rows, against a raw fetch that also traces); default batching (small calls only)
  config: testConfig(
    devnet.url,
    { internalTransfers: 'off', timeoutMs: 10_000 },
    { startHeight, maxRange: rangeSize },
  ),
  env: { TOLLGATE_SEED: gatewayMnemonic },
})
const driver = app.ctx.chains.get('devnet')!.driver
// the same driver finding internal transfers in call traces of every block (what `auto` picks on anvil)
const tracingOptions = testConfig(devnet.url, { internalTransfers: 'traces', timeoutMs: 10_000 }).chains
  .devnet!
const tracingDriver = createEvmDriver(evmOptionsSchema.parse(tracingOptions.options), {
  chain: 'devnet',
  log: app.ctx.log,
} as never)
const watch = new Set(watched.map((a) => a.toLowerCase()))

async function rawFetch(traces = false, end = endHeight) {
  rawCost.calls = 0
  rawCost.bytes = 0
  let logs = 0
  for (let from = startHeight; from <= end; from += rangeSize) {
    const to = Math.min(end, from + rangeSize - 1)
    const heights = Array.from({ length: to - from + 1 }, (_, i) => from + i)
    let next = 0
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next < heights.length) {
          const h = heights[next++]!
          await rpc({
            jsonrpc: '2.0',
            id: 1,
            method: 'eth_getBlockByNumber',
            params: [`0x${h.toString(16)}`, true],
          })
          if (traces)
            await rpc({
              jsonrpc: '2.0',
              id: 1,
              method: 'debug_traceBlockByNumber',
              params: [`0x${h.toString(16)}`, { tracer: 'callTracer' }],
            })
        }
      }),
    )
    const res = await rpc({
      jsonrpc: '2.0',
      id: 1,
      method: 'eth_getLogs',
      params: [
        {
          fromBlock: `0x${from.toString(16)}`,
          toBlock: `0x${to.toString(16)}`,
          address: [devnet.tokenAddress],
          topics: [],
        },
      ],
    })
    logs += res.result.length
  }
  return logs
}

/** What the last driver.scan pass cost the node, from the driver's own count (`ScanResult.cost`). */
const scanCost = { calls: 0, bytes: 0 }
async function driverScan(
  watchSet: ReadonlySet<string> = watch,
  scanner: ChainDriver = driver,
  end = endHeight,
) {
  let found = 0
  scanCost.calls = 0
  scanCost.bytes = 0
  for (let from = startHeight; from <= end; from += rangeSize) {
    const to = Math.min(end, from + rangeSize - 1)
    const result = await scanner.scan({ from: BigInt(from), to: BigInt(to), watch: watchSet })
    found += result.transfers.length
    scanCost.calls += result.cost?.calls ?? Number.NaN
    scanCost.bytes += result.cost?.bytes ?? Number.NaN
  }
  return found
}

const time = async (fn: () => Promise<number>) => {
  const t0 = performance.now()
  const n = await fn()
  return { seconds: (performance.now() - t0) / 1000, n }
}

const progress = (what: string) => console.error(`[scan bench] ${what} at ${new Date().toISOString()}`)
progress(`chain of ${blocks} blocks ready`)
await rawFetch() // warm-up
const raw: Array<{ seconds: number; n: number }> = []
const scanned: Array<{ seconds: number; n: number }> = []
const rawTraced: Array<{ seconds: number; n: number }> = []
const traced: Array<{ seconds: number; n: number }> = []
const rawTracedCost = { calls: 0, bytes: 0 }
const tracedCost = { calls: 0, bytes: 0 }
for (let r = 0; r < rounds; r++) {
  progress(`round ${r + 1}`)
  rawTraced.push(await time(() => rawFetch(true, tracedEnd)))
  progress('raw fetch with traces done')
  Object.assign(rawTracedCost, rawCost)
  traced.push(await time(() => driverScan(watch, tracingDriver, tracedEnd)))
  progress('traced scan done')
  Object.assign(tracedCost, scanCost)
  raw.push(await time(() => rawFetch()))
  scanned.push(await time(() => driverScan()))
}
const perBlock = (cost: { calls: number; bytes: number }, count = blocks) => ({
  calls: fmt(cost.calls / count, 2),
  bytes: fmt(cost.bytes / count, 0),
})
const rawPerBlock = perBlock(rawCost)
const scanPerBlock = perBlock(scanCost)
const rawTracedPerBlock = perBlock(rawTracedCost, tracedBlocks)
const tracedPerBlock = perBlock(tracedCost, tracedBlocks)

// the whole scanner with the database: payments on watched addresses, cursor, block refs, payment updates
const merchant = await app.merchant('Bench')
const payTargets = new Set<string>()
for (const p of (await app.ctx.db.select().from(payments)).map((x) => x.address)) payTargets.add(p)
for (let i = 0; i < 200; i++)
  await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'ETH', amount: '1' })
const ctx = { db: app.ctx.db, log: app.ctx.log, scanner: newScannerState() }
const sync = await time(async () => {
  let stored = 0
  for (;;) {
    const r = await syncChain(ctx, app.ctx.chains.get('devnet')!, { deadline: Date.now() + 60_000 })
    stored += r.transfers
    if (r.height >= BigInt(endHeight)) return stored
  }
})

// ---- ten million watched addresses in a compact key set ----
const rssMb = () => process.memoryUsage().rss / 1024 / 1024
/** Transfers a scan of every block finds, as `txHash:index:to:amount`, sorted. */
async function transfersFound(watchSet: ReadonlySet<string>) {
  const found: string[] = []
  for (let from = startHeight; from <= endHeight; from += rangeSize) {
    const to = Math.min(endHeight, from + rangeSize - 1)
    const result = await driver.scan({ from: BigInt(from), to: BigInt(to), watch: watchSet })
    for (const t of result.transfers) found.push(`${t.txHash}:${t.index}:${t.to}:${t.amount}`)
  }
  return found.sort()
}
const tenMillion = 10_000_000
let buildPeakMb = 0
/** The bench's watched addresses, then random ones: made 64k at a time, as a loader reading pages would. */
function* tenMillionKeys() {
  yield* watch
  const chunk = new Uint8Array(20 * 65_536)
  const hex = Buffer.from(chunk.buffer)
  for (let made = watch.size, page = 1; made < tenMillion; page++) {
    crypto.getRandomValues(chunk)
    for (let i = 0; i < 65_536 && made < tenMillion; i++, made++)
      yield `0x${hex.toString('hex', i * 20, i * 20 + 20)}`
    buildPeakMb = Math.max(buildPeakMb, rssMb())
    // pages already packed are garbage: a loader lets them go (the set keeps none of these strings)
    if (page % 16 === 0) Bun.gc(false)
  }
}
progress('building the 10M key set')
const settledRssMb = async () => {
  // a full collection, then time for the allocator to hand freed pages back
  Bun.gc(true)
  await Bun.sleep(1000)
  Bun.gc(true)
  return rssMb()
}
const tenMillionBefore = await settledRssMb()
buildPeakMb = tenMillionBefore
const buildStart = performance.now()
const compactSet = createKeySet(tenMillionKeys())
const buildSeconds = (performance.now() - buildStart) / 1000
buildPeakMb = Math.max(buildPeakMb, rssMb())
const tenMillionMb = (await settledRssMb()) - tenMillionBefore
progress(`10M key set built (${compactSet.size} keys)`)
const withSet = await transfersFound(watch)
const withCompact = await transfersFound(compactSet)
const sameTransfers =
  withSet.length === withCompact.length && withSet.every((key, i) => key === withCompact[i])
if (!sameTransfers) {
  console.error(
    `[scan bench] FAILURE: the 10M compact set found ${withCompact.length} transfers, the Set ${withSet.length}`,
  )
  process.exitCode = 1
}
/** Microseconds per `has`, over the watched addresses and as many strangers (median of 3 passes). */
const lookupMicros = (set: ReadonlySet<string>) => {
  const probes = [
    ...watch,
    ...Array.from(
      { length: watch.size },
      () => `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString('hex')}`,
    ),
  ]
  const passes = Array.from({ length: 3 }, () => {
    const t0 = performance.now()
    let hits = 0
    for (const key of probes) if (set.has(key)) hits++
    if (hits < watch.size) throw new Error(`a watched address is missing from the set (${hits} found)`)
    return ((performance.now() - t0) * 1000) / probes.length
  })
  return median(passes)
}
const compactLookup = lookupMicros(compactSet)
const setLookup = lookupMicros(watch)
const rawBeside: Array<{ seconds: number; n: number }> = []
const compactScans: Array<{ seconds: number; n: number }> = []
for (let r = 0; r < rounds; r++) {
  rawBeside.push(await time(() => rawFetch()))
  compactScans.push(await time(() => driverScan(compactSet)))
}
const compactPerBlock = perBlock(scanCost)
const rawBesideS = median(rawBeside.map((r) => r.seconds))
const compactS = median(compactScans.map((r) => r.seconds))

// a million watched addresses: memory of the set and the scan with it
Bun.gc(true)
const heapBefore = process.memoryUsage().heapUsed
const million = new Set(watch)
while (million.size < 1_000_000)
  million.add(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString('hex')}`)
Bun.gc(true)
const millionMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
const millionScan = await time(() => driverScan(million))
const millionPerBlock = perBlock(scanCost)
// the same million keys packed
const compactMillionBefore = await settledRssMb()
const compactMillion = createKeySet(million)
const compactMillionMb = (await settledRssMb()) - compactMillionBefore
const compactMillionBytes = compactMillion.bytes()

const rawS = median(raw.map((r) => r.seconds))
const scanS = median(scanned.map((r) => r.seconds))
const rawTracedS = median(rawTraced.map((r) => r.seconds))
const tracedS = median(traced.map((r) => r.seconds))
report(
  'Scanning (bench/scan.ts)',
  `${table(
    ['variant', 'blocks/s', 'txs/s', 'transfers found/s', 'calls/block', 'bytes/block', 'seconds'],
    [
      [
        'raw JSON-RPC fetch (blocks with txs + token logs)',
        fmt(blocks / rawS, 0),
        fmt(txCount / rawS, 0),
        '—',
        rawPerBlock.calls,
        rawPerBlock.bytes,
        fmt(rawS, 2),
      ],
      [
        'driver.scan, 100k watched addresses',
        fmt(blocks / scanS, 0),
        fmt(txCount / scanS, 0),
        fmt(scanned[0]!.n / scanS, 0),
        scanPerBlock.calls,
        scanPerBlock.bytes,
        fmt(scanS, 2),
      ],
      [
        `raw JSON-RPC fetch + debug_traceBlockByNumber per block (first ${tracedBlocks} blocks)`,
        fmt(tracedBlocks / rawTracedS, 0),
        fmt((txCount * tracedBlocks) / blocks / rawTracedS, 0),
        '—',
        rawTracedPerBlock.calls,
        rawTracedPerBlock.bytes,
        fmt(rawTracedS, 2),
      ],
      [
        `driver.scan with call traces (internal transfers), 100k watched (first ${tracedBlocks} blocks)`,
        fmt(tracedBlocks / tracedS, 0),
        fmt((txCount * tracedBlocks) / blocks / tracedS, 0),
        fmt(traced[0]!.n / tracedS, 0),
        tracedPerBlock.calls,
        tracedPerBlock.bytes,
        fmt(tracedS, 2),
      ],
      [
        'driver.scan, 1M watched addresses',
        fmt(blocks / millionScan.seconds, 0),
        fmt(txCount / millionScan.seconds, 0),
        fmt(millionScan.n / millionScan.seconds, 0),
        millionPerBlock.calls,
        millionPerBlock.bytes,
        fmt(millionScan.seconds, 2),
      ],
      [
        'driver.scan, 10M watched addresses (compact key set)',
        fmt(blocks / compactS, 0),
        fmt(txCount / compactS, 0),
        fmt(compactScans[0]!.n / compactS, 0),
        compactPerBlock.calls,
        compactPerBlock.bytes,
        fmt(compactS, 2),
      ],
      [
        'syncChain (scan + database), 200 payments',
        fmt(blocks / sync.seconds, 0),
        fmt(txCount / sync.seconds, 0),
        '—',
        '—',
        '—',
        fmt(sync.seconds, 2),
      ],
    ],
  )}

${blocks} blocks, ${txCount} transactions (${fmt(txCount / blocks, 1)} per block, half ERC-20), ${watchedCount} watched
addresses, ranges of ${rangeSize} blocks, 6 parallel block fetches, median of ${rounds} alternating rounds. Calls
per block count each call of a batch (the driver's own count, \`ScanResult.cost\`); bytes per block are the
response bodies received. The driver batches only the small calls it asks together (receipts, transactions,
balances; \`rpcBatchSize\` 50), never block reads, which batching would hold back to the slowest. It also checks
its logs against the blocks' blooms (no extra call here: the node answers whole). The traced rows add one call
trace per block (\`internalTransfers: 'traces'\`, what \`auto\` picks on a node that has them) and need no receipts;
anvil replays each block to trace it, so they read the first ${tracedBlocks} blocks. A set of 1M watched
addresses takes ${fmt(millionMb, 0)} MB of heap. **driver.scan / raw fetch = ${fmt(rawS / scanS, 2)}** (bar: ≥ 0.90);
with traces, **${fmt(rawTracedS / tracedS, 2)}** of the raw fetch that also traces.

${table(
  ['10M watched addresses (compact key set)', 'measured', 'goal'],
  [
    ['scan, 10M watched (compact set) vs raw fetch', `${fmt(rawBesideS / compactS, 2)}×`, '≥ 0.80×'],
    ['watch set of 10M keys: RSS delta', `${fmt(tenMillionMb, 0)} MB`, '≤ 400 MB'],
    [
      'watch set of 10M keys: peak RSS delta while building',
      `${fmt(buildPeakMb - tenMillionBefore, 0)} MB`,
      '—',
    ],
    ['watch set of 10M keys: build time', `${fmt(buildSeconds, 1)} s`, '—'],
    [
      'has() per lookup: 10M compact set / 100k Set',
      `${fmt(compactLookup, 2)} µs / ${fmt(setLookup, 2)} µs`,
      '—',
    ],
    ['1M keys: plain Set (heap delta)', `${fmt(millionMb, 0)} MB`, '—'],
    [
      '1M keys: compact set (RSS delta; packed bytes)',
      `${fmt(compactMillionMb, 0)} MB; ${fmt(compactMillionBytes / 1024 / 1024, 1)} MB`,
      '—',
    ],
    [
      'transfers found with the 10M compact set = with the 100k Set',
      sameTransfers ? `same (${withSet.length})` : `MISMATCH (${withCompact.length} vs ${withSet.length})`,
      'same',
    ],
  ],
)}

The compact key set holds ${compactSet.size} keys (the ${watchedCount} watched addresses and random ones) as sorted
20-byte records (\`src/core/scanning/key-set.ts\`); RSS deltas are taken after a full collection, with the set
alive. The keys are produced 64k at a time as strings, as a loader reading pages would (a collection is asked
every 16 pages); the peak is sampled between pages and includes the strings not yet collected. The 10M scan is timed beside its own raw fetch
(median of ${rounds} alternating rounds; raw ${fmt(rawBesideS, 2)} s).`,
)
await app.close()
await devnet.stop()
