// KYT screening, two measurements in one run:
// 1. the sanctions provider's list matching (`screen` against the full OFAC SDN lists of test/fixtures/kyt) side by
//    side with a bare `Set.has` of the same keys, over a mix of listed and unlisted EVM, Tron and Bitcoin addresses;
// 2. block mined → payment COMPLETED with real processes (API, worker, anvil, graphql-ws), one gateway without KYT
//    and one with the sanctions provider, their samples interleaved.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ChainDriver,
  chain,
  checkKytRequest,
  type KytRequest,
  kyt,
  type TollgateConfig,
} from '@tollgate/sdk'
import { address as bitcoinAddress } from 'bitcoinjs-lib'
import { createClient } from 'graphql-ws'
import { parseEther } from 'viem'
import type { SanctionsProvider } from '../src/plugins/kyt-sanctions/index.ts'
import { closeChains, closeKytProviders, loadChains, loadKytProviders } from '../src/plugins/registry.ts'
import { gatewayMnemonic, startDevnet } from '../test/helpers/chain.ts'
import { createTestDatabase } from '../test/helpers/db.ts'
import { createMerchantWithCli, spawnApi, spawnWorker, waitFor } from '../test/helpers/processes.ts'
import { fmt, median, percentile, report, table } from './lib.ts'

const repo = join(import.meta.dir, '..')
const fixtures = join(repo, 'test/fixtures/kyt')
const listFiles = readdirSync(fixtures)
  .filter((f) => /^ofac_sdn_\w+\.txt$/.test(f))
  .sort()
/** Every SDN list of the fixtures, as the provider's options name them. */
const lists = listFiles.map((f) => ({
  asset: f.slice('ofac_sdn_'.length, -'.txt'.length),
  file: join(fixtures, f),
}))

// ---------------------------------------------------------------------------------------------------------------
// 1. list matching throughput
// ---------------------------------------------------------------------------------------------------------------

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const offline = 'http://127.0.0.1:1'
const plugin = (name: string) => () => import(`../src/plugins/${name}/index.ts`)
// the chains a multi-chain gateway runs (nothing is fetched: screening never touches a node)
const matchingConfig: TollgateConfig = {
  chains: {
    ethereum: chain(plugin('evm'), { preset: 'ethereum', rpcUrls: [offline] }),
    bsc: chain(plugin('evm'), { preset: 'bsc', rpcUrls: [offline] }),
    tron: chain(plugin('tron'), { preset: 'tron', fullHosts: [offline] }),
    bitcoin: chain(plugin('bitcoin'), { network: 'mainnet', rpcUrls: [offline] }),
  },
  kyt: { sanctions: kyt(plugin('kyt-sanctions'), { lists }) },
}
const chains = await loadChains(matchingConfig, silent)
const providers = await loadKytProviders(matchingConfig, chains, silent)
const provider = providers.get('sanctions')!.provider
const driverOf = (name: string) => chains.get(name)!.driver as ChainDriver

const listed = listFiles.flatMap((f) =>
  readFileSync(join(fixtures, f), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#')),
)
const listedOf = { evm: listed.filter((a) => a.startsWith('0x')), tron: listed.filter((a) => /^T/.test(a)) }
const listedBitcoin = listed.filter((a) => !a.startsWith('0x') && !/^T/.test(a))
const randomBytes = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n)))
const pick = <T>(a: readonly T[]) => a[Math.floor(Math.random() * a.length)] as T
const unlistedOf = {
  evm: () => `0x${randomBytes(20).toString('hex')}`,
  tron: () => bitcoinAddress.toBase58Check(randomBytes(20), 0x41),
  // P2PKH, P2SH and P2WPKH, like the list's own mix
  bitcoin: () =>
    pick([
      () => bitcoinAddress.toBase58Check(randomBytes(20), 0x00),
      () => bitcoinAddress.toBase58Check(randomBytes(20), 0x05),
      () => bitcoinAddress.toBech32(randomBytes(20), 0, 'bc'),
    ])(),
}

const requestCount = 10_000
const listedShare = 0.1
const chainMix = ['ethereum', 'bsc', 'tron', 'bitcoin'] as const
/** What `screenSubject` hands a provider: the address, the chain's key of it, the value and the transaction. */
function request(name: (typeof chainMix)[number], isListed: boolean): KytRequest {
  const d = driverOf(name)
  const address =
    name === 'tron'
      ? isListed
        ? pick(listedOf.tron)
        : unlistedOf.tron()
      : name === 'bitcoin'
        ? isListed
          ? pick(listedBitcoin)
          : unlistedOf.bitcoin()
        : isListed
          ? pick(listedOf.evm)
          : unlistedOf.evm()
  return {
    chain: d.chainId,
    address,
    addressKey: d.addressKey(address),
    direction: 'inbound',
    asset: `${d.chainId}/slip44:0`,
    amount: 10n ** 16n,
    txHash: `0x${randomBytes(32).toString('hex')}`,
  }
}
const makeRequests = (share: number) =>
  Array.from({ length: requestCount }, (_, i) =>
    request(chainMix[i % chainMix.length]!, Math.random() < share),
  )
const mixed = makeRequests(listedShare)
const unlistedOnly = makeRequests(0)
const listedOnly = makeRequests(1)

// the ceiling: the same keys the provider indexes (each listed address through each chain of its family that
// takes it), in one Set
const keys = new Set<string>()
for (const name of chainMix)
  for (const address of listed)
    try {
      keys.add(driverOf(name).addressKey(address))
    } catch {
      // not an address of this chain
    }

type Loop = (requests: readonly KytRequest[], passes: number) => number | Promise<number>
const setLoop: Loop = (requests, passes) => {
  let hits = 0
  for (let p = 0; p < passes; p++) for (const r of requests) if (keys.has(r.addressKey)) hits++
  return hits
}
const sanctions = provider as SanctionsProvider
// the list matching itself: the provider's index lookup on the key the chain compares
const matchLoop: Loop = (requests, passes) => {
  let hits = 0
  for (let p = 0; p < passes; p++)
    for (const r of requests) if (sanctions.match(r.chain, r.addressKey)) hits++
  return hits
}
const screenLoop: Loop = async (requests, passes) => {
  let hits = 0
  for (let p = 0; p < passes; p++)
    for (const r of requests) if ((await provider.screen(r)).verdict === 'block') hits++
  return hits
}
// the parts of a `screen`, to see where its time goes
const settled = { verdict: 'allow' as const }
const awaitOnly = async (_: KytRequest) => settled
const awaitLoop: Loop = async (requests, passes) => {
  let hits = 0
  for (let p = 0; p < passes; p++)
    for (const r of requests) if ((await awaitOnly(r)).verdict !== 'allow') hits++
  return hits
}
const checkLoop: Loop = (requests, passes) => {
  let n = 0
  for (let p = 0; p < passes; p++) for (const r of requests) n += checkKytRequest(r).addressKey.length
  return n
}
const addressKeyLoop: Loop = (requests, passes) => {
  const byChain = new Map(chainMix.map((name) => [driverOf(name).chainId, driverOf(name)]))
  let n = 0
  for (let p = 0; p < passes; p++)
    for (const r of requests) n += byChain.get(r.chain)!.addressKey(r.address).length
  return n
}

// the provider must find exactly what the Set finds
for (const requests of [mixed, unlistedOnly, listedOnly]) {
  const [inSet, blocked, matched] = [
    await setLoop(requests, 1),
    await screenLoop(requests, 1),
    await matchLoop(requests, 1),
  ]
  if (inSet !== blocked || inSet !== matched)
    throw new Error(`screen blocked ${blocked} and match found ${matched} addresses, the Set holds ${inSet}`)
}

type Variant = { label: string; requests: readonly KytRequest[]; loop: Loop; passes: number }
const variants: Variant[] = [
  { label: '`Set.has` of the same keys (ceiling)', requests: mixed, loop: setLoop, passes: 400 },
  {
    label: 'sanctions list matching (`match`, the lookup `screen` makes)',
    requests: mixed,
    loop: matchLoop,
    passes: 400,
  },
  {
    label: 'sanctions `screen`, awaited (request check, lookup, answer)',
    requests: mixed,
    loop: screenLoop,
    passes: 40,
  },
  {
    label: 'sanctions `screen`, unlisted addresses only',
    requests: unlistedOnly,
    loop: screenLoop,
    passes: 40,
  },
  { label: 'sanctions `screen`, listed addresses only', requests: listedOnly, loop: screenLoop, passes: 10 },
  {
    label: 'part: an awaited `async` call returning a constant',
    requests: mixed,
    loop: awaitLoop,
    passes: 100,
  },
  { label: 'part: `checkKytRequest` (SDK) alone', requests: mixed, loop: checkLoop, passes: 100 },
  {
    label: 'caller side, not in `screen`: `driver.addressKey`',
    requests: mixed,
    loop: addressKeyLoop,
    passes: 4,
  },
]
const rounds = 7
for (const v of variants) await v.loop(v.requests, Math.ceil(v.passes / 4)) // warm-up
const nsEach = new Map<Variant, number[]>(variants.map((v) => [v, []]))
for (let round = 0; round < rounds; round++)
  for (const v of variants) {
    const t0 = performance.now()
    await v.loop(v.requests, v.passes)
    nsEach.get(v)!.push(((performance.now() - t0) * 1e6) / (v.passes * v.requests.length))
  }
const ns = (v: Variant) => median(nsEach.get(v)!)
const variantNamed = (prefix: string) => variants.find((v) => v.label.startsWith(prefix)) as Variant
const ceilingNs = ns(variants[0]!)
const matchRatio = ceilingNs / ns(variantNamed('sanctions list matching'))
const screenRatio = ceilingNs / ns(variantNamed('sanctions `screen`, awaited'))
const matchingTable = table(
  ['measured', 'addresses/s', 'ns each', '÷ `Set.has` rate'],
  variants.map((v) => [v.label, Math.round(1e9 / ns(v)), fmt(ns(v)), fmt(ceilingNs / ns(v), 2)]),
)
const listSizes = listFiles.map(
  (f, i) => `${lists[i]!.asset} ${readFileSync(join(fixtures, f), 'utf8').trim().split('\n').length}`,
)
const awaitNs = ns(variantNamed('part: an awaited'))
await closeKytProviders(providers)
await closeChains(chains)

// ---------------------------------------------------------------------------------------------------------------
// 2. block mined → COMPLETED, screening off and on
// ---------------------------------------------------------------------------------------------------------------

const samples = Number(process.env.BENCH_SAMPLES ?? 200)
/** The devnet config's `headPollMs`. */
const headPollMs = 100
const devnet = await startDevnet()
const configDir = mkdtempSync(join(tmpdir(), 'bench-kyt-'))
// the devnet config of the process tests, with the sanctions provider added (absolute paths: the file is outside
// the repository)
const kytConfigPath = join(configDir, 'plugins.config.ts')
writeFileSync(
  kytConfigPath,
  `import base from ${JSON.stringify(join(repo, 'test/fixtures/plugins.config.ts'))}
export default {
  ...base,
  kyt: {
    sanctions: {
      load: () => import(${JSON.stringify(join(repo, 'src/plugins/kyt-sanctions/index.ts'))}),
      options: { lists: ${JSON.stringify(lists)} },
    },
  },
}
`,
)

type Gateway = Awaited<ReturnType<typeof startGateway>>
async function startGateway(label: string, pluginsConfig: string, seed: string) {
  const db = await createTestDatabase()
  const env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `bench-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_SEED: seed,
    TOLLGATE_PLUGINS_CONFIG: pluginsConfig,
    TEST_RPC_URL: devnet.url,
    // credited in the block it is mined in: COMPLETED waits for nothing but the scan (and the screening)
    TEST_CONFIRMATIONS: '1',
    LOG_LEVEL: 'info',
  }
  const apiKey = await createMerchantWithCli(env, `Latency ${label}`)
  const [api, worker] = await Promise.all([spawnApi(env), spawnWorker(env)])
  const client = createClient({ url: api.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 })
  return {
    label,
    api,
    apiKey,
    client,
    /** Per payment: mined → COMPLETED, and PROCESSING → COMPLETED when the gateway announced PROCESSING, in ms. */
    completed: [] as number[],
    processingToCompleted: [] as number[],
    stop: async () => {
      await client.dispose()
      await Promise.all([api.stop(), worker.stop()])
      await db.drop()
    },
  }
}

/** One payment: created, subscribed to, paid (anvil answers once the block is mined), timed until COMPLETED. */
async function sample(g: Gateway) {
  const res = await fetch(`${g.api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${g.apiKey}` },
    body: JSON.stringify({
      query: `mutation { createPayment(input: {chain: "devnet", asset: "ETH", amount: "0.01"}) { ... on CreatePaymentPayload { payment { id address clientSecret } } } }`,
    }),
  })
  const p = ((await res.json()) as any).data.createPayment.payment
  let processingAt = 0
  let completedAt = 0
  let subscribed = false
  const unsubscribe = g.client.subscribe<{ paymentUpdated: { status: string } }>(
    {
      query: 'subscription ($id: ID!, $s: String!) { paymentUpdated(id: $id, clientSecret: $s) { status } }',
      variables: { id: p.id, s: p.clientSecret },
    },
    {
      next: (m) => {
        subscribed = true
        const status = m.data?.paymentUpdated.status
        if (status === 'PROCESSING' && !processingAt) processingAt = performance.now()
        if (status === 'COMPLETED' && !completedAt) completedAt = performance.now()
      },
      error: (e) => console.error(e),
      complete: () => {},
    },
  )
  await waitFor('subscription', () => subscribed)
  // each sample starts right after a gateway's head poll (the one that finished the last sample): a random wait
  // of up to one poll interval puts the block at a random point of both gateways' polls
  await Bun.sleep(Math.random() * headPollMs)
  await devnet.payNative(p.address, parseEther('0.01'))
  const minedAt = performance.now()
  await waitFor(`COMPLETED (${g.label})`, () => completedAt > 0, 10_000)
  unsubscribe()
  g.completed.push(completedAt - minedAt)
  if (processingAt) g.processingToCompleted.push(completedAt - processingAt)
}

// two gateways on one anvil, each with its own seed (no shared deposit address), database and Redis prefix
const off = await startGateway('no KYT', 'test/fixtures/plugins.config.ts', gatewayMnemonic)
const on = await startGateway(
  'sanctions',
  kytConfigPath,
  'legal winner thank year wave sausage worth useful legal winner thank yellow',
)
for (const g of [off, on]) await sample(g) // warm-up: first payment, first subscription, first screening
for (const g of [off, on]) g.completed.length = g.processingToCompleted.length = 0
for (let i = 0; i < samples; i++) for (const g of i % 2 === 0 ? [off, on] : [on, off]) await sample(g)

const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
const row = (g: Gateway) => {
  const c = sorted(g.completed)
  return [
    g.label,
    c.length,
    fmt(percentile(c, 50)),
    fmt(percentile(c, 90)),
    fmt(percentile(c, 99)),
    fmt(c.at(-1)!),
  ]
}
const p = (g: Gateway, q: number) => percentile(sorted(g.completed), q)
const addedP50 = p(on, 50) - p(off, 50)
const addedP99 = p(on, 99) - p(off, 99)
// on the screening gateway the scan announces PROCESSING and the screening then COMPLETED: the gap between the
// two is the screening's own time (claim, screen, decide and credit, announce), free of the head-poll phase
const screeningGap = sorted(on.processingToCompleted)
const latencyTable = table(
  ['gateway', 'samples', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
  [row(off), row(on), ['added by screening', '', fmt(addedP50), '', fmt(addedP99), '']],
)

await Promise.all([off.stop(), on.stop()])
await devnet.stop()
rmSync(configDir, { recursive: true, force: true })

report(
  'KYT screening (bench/kyt.ts)',
  `${matchingTable}

The sanctions provider loaded as the gateway loads it (\`kyt-sanctions\` with every OFAC SDN list of
test/fixtures/kyt: ${listSizes.join(', ')} lines) for Ethereum, BSC, Tron and Bitcoin mainnet. ${requestCount}
requests a mix, ${Math.round(listedShare * 100)}% listed, cycling EVM (two chains), Tron and Bitcoin (P2PKH, P2SH,
P2WPKH), each the shape \`screenSubject\` asks (address, the chain's key, asset, amount, transaction); the ceiling
looks the same keys up in one bare \`Set\` of every listed key. Median of ${rounds} alternating rounds; both find the
same listed addresses. **List matching ÷ \`Set.has\` = ${fmt(matchRatio, 2)}** (goal ≥ 0.5): the provider keys
every listed address through each chain's \`addressKey\` once, at load, so a lookup is one exact \`Map\` get.
The whole \`screen\` call is ${fmt(screenRatio, 2)}× a \`Set.has\`: an awaited \`async\` call alone costs
${fmt(awaitNs)} ns, ${fmt(awaitNs / ceilingNs, 1)}× a \`Set.has\`, and the contract's request check
(\`checkKytRequest\`, which every provider runs on untrusted input) most of the rest; unlisted addresses share one
frozen answer, a listed one builds its reasons. Either way a screening costs well under a microsecond per
address, beside milliseconds of database work to credit a deposit; the caller's \`addressKey\` (Base58 and
bech32 decoding on Tron and Bitcoin) costs more than the screening itself.

${latencyTable}

Block mined (anvil answers the transaction once it is in a block) → \`paymentUpdated\` with COMPLETED at a
graphql-ws client, one confirmation required. Two gateways (API and worker processes each, their own database and
Redis prefix) on one anvil, samples interleaved in alternating order, each paid after a random wait of up to one
head poll (${headPollMs} ms); one gateway without KYT, one with the sanctions provider above. Without KYT the
scan's transaction credits the payment; with it, the scan stores a pending screening (the payment is PROCESSING)
and pokes the screening pump, which claims it, screens the sender, decides and credits in a transaction of its
own. The head poll's phase spreads both columns over ${headPollMs} ms, so their difference is noisy; the
screening's own time, PROCESSING → COMPLETED on the screening gateway, is p50 ${fmt(percentile(screeningGap, 50))}
ms, p99 ${fmt(percentile(screeningGap, 99))} ms (over the ${screeningGap.length} payments whose PROCESSING reached the client). **p99 added by screening = ${fmt(addedP99)} ms** (goal ≤ 20 ms;
p50 added ${fmt(addedP50)} ms).`,
)
