// Withdrawals per second from request to confirmation on anvil, against a ceiling measured in the same run: the
// same number of ERC-20 transfers sent straight from a local wallet (sequential nonces, no database, no checks).
import { type Hex, parseAbi } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createPayment } from '../src/core/payments/create.ts'
import { roleWallet } from '../src/core/payouts/wallet-roles.ts'
import { newScannerState, syncChain } from '../src/core/scanning/sync.ts'
import { withdrawals } from '../src/db/schema/index.ts'
import { processPayouts, runPayoutJob } from '../src/jobs/payouts.ts'
import { createTestApp, testConfig } from '../test/helpers/app.ts'
import { gatewayMnemonic, startDevnet, tokenAbi } from '../test/helpers/chain.ts'
import { measureBatchGas } from './batch-gas.ts'
import { fmt, percentile, report, table } from './lib.ts'

const count = Number(process.env.BENCH_WITHDRAWALS ?? 200)
const devnet = await startDevnet()
const app = await createTestApp({
  config: testConfig(
    devnet.url,
    { confirmations: 1 },
    { payouts: { maxBatch: count, intervalMs: 100 }, sweeps: { enabled: false } },
  ),
  env: { TOLLGATE_SEED: gatewayMnemonic },
})
const chain = app.ctx.chains.get('devnet')!
const merchant = await app.merchant('Bench payouts')
const treasury = roleWallet(app.ctx, chain, 'treasury')
const recipientsFrom = (first: number) =>
  Array.from(
    { length: count },
    (_, i) => privateKeyToAccount(`0x${(first + i).toString(16).padStart(64, '0')}` as Hex).address,
  )
const recipients = recipientsFrom(1)
// the live run pays accounts nobody paid yet, as the bare wallet did (and none the gateway checked moments ago)
const liveRecipients = recipientsFrom(count + 1)

// a credited balance through the real path, and a funded hot wallet (for two gateway runs of `count` each)
const units = 2n * BigInt(count) * 1_000_000n
const { payment } = await createPayment(app.ctx, merchant.id, {
  chain: 'devnet',
  asset: 'USDT',
  amount: String(2 * count),
})
await devnet.payToken(payment.address, units)
await devnet.mine(1)
await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner: newScannerState() }, chain)
await devnet.payToken(treasury.address, units)
await devnet.payNative(treasury.address, 10n ** 19n)

// ceiling: a bare wallet sending the same transfers and waiting for every receipt
const bare = devnet.payer
const wallet = (await import('viem')).createWalletClient({
  account: bare,
  chain: devnet.client.chain,
  transport: (await import('viem')).http(devnet.url),
})
const erc20 = parseAbi(['function transfer(address to, uint256 value) returns (bool)'])
let nonce = await devnet.client.getTransactionCount({ address: bare.address })
const rawStart = performance.now()
const hashes: Hex[] = []
for (const to of recipients)
  hashes.push(
    await wallet.writeContract({
      address: devnet.tokenAddress,
      abi: erc20,
      functionName: 'transfer',
      args: [to, 1n],
      nonce: nonce++,
      gas: 80_000n,
    }),
  )
for (const hash of hashes) await devnet.client.waitForTransactionReceipt({ hash, pollingInterval: 20 })
const rawSeconds = (performance.now() - rawStart) / 1000

// the gateway: GraphQL request (validation, balance lock, reserve) → batch → persist → sign → persist → send →
// confirm → settle in the ledger
const started = performance.now()
for (const [i, to] of recipients.entries()) {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) { __typename } }`,
    { input: { chain: 'devnet', asset: 'USDT', to, amount: '1', idempotencyKey: `bench-${i}` } },
    merchant.key,
  )
  if (res.data?.requestWithdrawal?.__typename !== 'RequestWithdrawalPayload')
    throw new Error(`request failed: ${JSON.stringify(res)}`)
}
const requestedSeconds = (performance.now() - started) / 1000
const { batchWithdrawals } = await import('../src/core/payouts/batches.ts')
const { advanceOutbound } = await import('../src/core/payouts/outbound.ts')
const phase = { batch: 0, send: 0, track: 0, passes: 0 }
let mark = performance.now()
await batchWithdrawals(app.ctx, chain)
phase.batch = (performance.now() - mark) / 1000
mark = performance.now()
await advanceOutbound(app.ctx, chain)
phase.send = (performance.now() - mark) / 1000
mark = performance.now()
for (;;) {
  phase.passes++
  await processPayouts(app.ctx, 'devnet')
  const rows = await app.ctx.db.select({ status: withdrawals.status }).from(withdrawals)
  if (rows.every((r) => r.status === 'CONFIRMED')) break
}
phase.track = (performance.now() - mark) / 1000
const seconds = (performance.now() - started) / 1000
const rows = await app.ctx.db.select().from(withdrawals)
const latencies = rows.map((w) => w.updatedAt.getTime() - w.createdAt.getTime()).sort((a, b) => a - b)
for (const to of recipients.slice(0, 3)) {
  const held = await devnet.client.readContract({
    address: devnet.tokenAddress,
    abi: tokenAbi,
    functionName: 'balanceOf',
    args: [to],
  })
  if (held !== 1_000_001n) throw new Error(`recipient ${to} holds ${held}`)
}

// the gateway as it runs: clients ask side by side while the payout job runs beside them (the next pass at once
// while the last one moved something, else at the interval), from the first request to the last CONFIRMED
const clients = 8
const intervalMs = chain.settings.payouts.intervalMs
const liveStarted = performance.now()
let asked = 0
let requestsDone = false
const requesting = Promise.all(
  Array.from({ length: clients }, async () => {
    for (let i = asked++; i < count; i = asked++) {
      const res = await app.gql(
        `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) { __typename } }`,
        {
          input: {
            chain: 'devnet',
            asset: 'USDT',
            to: liveRecipients[i],
            amount: '1',
            idempotencyKey: `bench-live-${i}`,
          },
        },
        merchant.key,
      )
      if (res.data?.requestWithdrawal?.__typename !== 'RequestWithdrawalPayload')
        throw new Error(`request failed: ${JSON.stringify(res)}`)
    }
  }),
).then(() => {
  requestsDone = true
})
let livePasses = 0
for (;;) {
  const jobStarted = performance.now()
  livePasses += (await runPayoutJob(app.ctx, 'devnet')).length
  const open = await app.ctx.db.select({ status: withdrawals.status }).from(withdrawals)
  if (requestsDone && open.length === 2 * count && open.every((r) => r.status === 'CONFIRMED')) break
  await Bun.sleep(Math.max(0, intervalMs - (performance.now() - jobStarted)))
}
await requesting
const liveSeconds = (performance.now() - liveStarted) / 1000
for (const to of liveRecipients.slice(0, 3)) {
  const held = await devnet.client.readContract({
    address: devnet.tokenAddress,
    abi: tokenAbi,
    functionName: 'balanceOf',
    args: [to],
  })
  if (held !== 1_000_000n) throw new Error(`recipient ${to} holds ${held} after the live run`)
}

const gas = await measureBatchGas(devnet)
const gatewayRate = count / seconds
const rawRate = count / rawSeconds
const payoutSeconds = phase.batch + phase.send + phase.track
const liveRate = count / liveSeconds
// issue #19's measure is the payout path (its phases: batching, signing and sending, tracking): queued → CONFIRMED
const payoutRatio = count / payoutSeconds / rawRate
const liveRatio = liveRate / rawRate
const bar = 0.5
report(
  'Withdrawals: request → confirmed on anvil',
  `**Issue #19 measure: the payout path, ${count} single ERC-20 withdrawals, queued → CONFIRMED (batch → sign → send →
confirm → settle): ${fmt(payoutRatio, 2)}× the bare wallet** (bar ≥ ${fmt(bar, 2)}×: ${
    payoutRatio >= bar ? 'met' : `not met, ${fmt((payoutRatio / bar) * 100, 0)} % of the way`
  }; the payout-path row of the table, timed in the same run as the bare wallet). The rows with GraphQL requests
include the requests' own time (validation, balance lock, reserve) and are not that measure.

${table(
  ['path', 'transfers', 'seconds', 'per second', 'vs ceiling'],
  [
    ['bare wallet: send + receipts (ceiling)', count, fmt(rawSeconds, 2), fmt(rawRate), '1.00'],
    [
      '**gateway, payout path (issue #19 measure): queued → batch → sign → send → confirm → settle**',
      count,
      fmt(payoutSeconds, 2),
      fmt(count / payoutSeconds),
      `**${fmt(payoutRatio, 2)}**`,
    ],
    [
      `gateway with requests: ${clients} clients requesting over GraphQL while the payout job runs, first request → last CONFIRMED`,
      count,
      fmt(liveSeconds, 2),
      fmt(liveRate),
      fmt(liveRatio, 2),
    ],
    [
      'gateway with requests, sequential: GraphQL requests one by one, then batch → sign → send → confirm → settle',
      count,
      fmt(seconds, 2),
      fmt(gatewayRate),
      fmt(gatewayRate / rawRate, 2),
    ],
  ],
)}

Phases: requests ${fmt(requestedSeconds, 2)} s (${fmt(count / requestedSeconds)}/s); batching (build + persist, one
database transaction) ${fmt(phase.batch, 2)} s; signing and sending ${fmt(phase.send, 2)} s; tracking to confirmation
and settling ${fmt(phase.track, 2)} s over ${phase.passes} pass(es). Per withdrawal, request to
CONFIRMED: p50 ${fmt(percentile(latencies, 50) / 1000, 2)} s, p99 ${fmt(percentile(latencies, 99) / 1000, 2)} s (all ${count}
were queued first, then sent as one batch of sequential nonces). Confirmation depth 1 on both paths; anvil mines
each transaction as it arrives. One payout pass runs at a time per chain (one sender per address). A pass signs
built transactions in rounds of 32, each round stored in one statement and sent while the next is signed (a
sender's nonces in order, up to 16 in flight), records them as broadcast in one database transaction, reads each
sender's nonce once and every status in one round (on EVM the reads asked together go out as JSON-RPC batches),
and settles the mined ones with bulk statements (transitions, events, ledger postings) in one database
transaction per chunk.

The payout path is the sum of the three phases above, run one after another on the withdrawals the sequential row
queued. The first row with requests is the gateway as it runs: ${clients} clients send ${count} requests side by side (to ${count} accounts
nobody paid yet, as the bare wallet's) while the payout job runs beside them (runPayoutJob: the next pass at once
while the last one moved something, else at the ${intervalMs} ms interval), timed from the first request to the last
CONFIRMED over ${livePasses} pass(es). The sequential row sends its requests one by one first (to the bare wallet's
recipients), then runs the payout phases.

Gas per payout, one transaction each vs one BatchPayouts call (\`batchPayouts: true\`), 100 payouts each; "planner
picks" is what planOutputs chose for the batch's recipients before it was sent (bar: ERC-20 batch ≤ 0.6× single;
ERC-20 to fresh accounts here ${fmt(gas.erc20Ratio, 2)}×):

${gas.table}`,
)
await app.close()
await devnet.stop()
process.exit(0)
