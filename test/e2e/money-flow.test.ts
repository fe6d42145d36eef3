import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Devnet, gatewayEvmWallet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { createTestDatabase } from '../helpers/db.ts'
import { reconcileJson, type SplitGateway, startKeylessGateway, waitFor } from '../helpers/processes.ts'

// The whole money path with real processes, keys in one place: an API and a chain worker that derive from
// xpubs only, a signer that alone holds the seed, anvil as the chain.
let devnet: Devnet
let db: Awaited<ReturnType<typeof createTestDatabase>>
let gateway: SplitGateway
let env: Record<string, string>
let miner: ReturnType<typeof setInterval> | undefined

beforeAll(async () => {
  ;[devnet, db] = await Promise.all([startDevnet(), createTestDatabase()])
  env = {
    DATABASE_URL: db.url,
    REDIS_PREFIX: `money-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
    TEST_RPC_URL: devnet.url,
    TEST_CONFIRMATIONS: '2',
    TEST_PAYOUT_INTERVAL_MS: '200',
    TEST_PAYOUT_MAX_BATCH: '50',
    TEST_SWEEPS: 'true',
    LOG_LEVEL: 'info',
  }
  gateway = await startKeylessGateway(env, 'Money shop')
  // blocks keep coming, as on a real chain
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
}, 60_000)

afterAll(async () => {
  if (miner) clearInterval(miner)
  await gateway?.stop()
  await devnet?.stop()
  await db?.drop()
})

const gql = (query: string, variables: Record<string, unknown> = {}) => gateway.gql(query, variables)

const usdtOf = (address: string) => devnet.tokenBalance(address)

test('default: pay ETH and USDT → COMPLETED → swept (USDT after a gas top-up) → 50 withdrawals confirmed → ledger and chain agree exactly', async () => {
  // the API holds no key, and only the signer can send
  expect(gateway.api.output()).not.toContain('holds the seed')
  expect(gateway.chainWorker.output()).toContain('"signs":false')
  expect(gateway.signer.output()).toContain('"signs":true')

  // the operator fills the gas tank (its address comes from `xpub show`'s accounts; here, from the seed)
  const gasTank = gatewayEvmWallet('gas').address
  const treasury = gatewayEvmWallet('treasury').address
  await devnet.payNative(gasTank, parseEther('1'))

  const create = async (asset: string, amount: string) =>
    (
      await gql(
        `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
        { input: { chain: 'devnet', asset, amount } },
      )
    ).data.createPayment.payment as { id: string; address: string }
  const ethPayment = await create('ETH', '3')
  const usdtPayment = await create('USDT', '500')
  await devnet.payNative(ethPayment.address, parseEther('3'))
  await devnet.payToken(usdtPayment.address, 500_000_000n)
  await waitFor(
    'both payments COMPLETED and swept to the treasury',
    async () => {
      const eth = await devnet.client.getBalance({ address: ethPayment.address as Hex })
      const usdt = await usdtOf(usdtPayment.address)
      return eth === 0n && usdt === 0n && (await usdtOf(treasury)) === 500_000_000n
    },
    30_000,
  )
  const balances = (await gql('{ balances { asset { symbol } available reserved } }')).data.balances
  type BalanceView = { asset: { symbol: string }; available: string; reserved: string }
  const bySymbol = (list: BalanceView[]) =>
    [...list].sort((a, b) => a.asset.symbol.localeCompare(b.asset.symbol))
  expect(bySymbol(balances)).toEqual([
    { asset: { symbol: 'ETH' }, available: '3', reserved: '0' },
    { asset: { symbol: 'USDT' }, available: '500', reserved: '0' },
  ])

  // 50 withdrawals to fresh addresses, half ETH and half USDT
  const recipients = Array.from(
    { length: 50 },
    (_, i) => privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, 'e')}` as Hex).address,
  )
  const ids: string[] = []
  for (const [i, to] of recipients.entries()) {
    const asset = i % 2 === 0 ? 'ETH' : 'USDT'
    const amount = asset === 'ETH' ? `0.0${(i % 9) + 1}` : `${(i % 10) + 1}`
    const res = await gql(
      `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
        ... on RequestWithdrawalPayload { withdrawal { id status } } ... on UserError { code message } } }`,
      { input: { chain: 'devnet', asset, to, amount, idempotencyKey: `w-${i}` } },
    )
    expect(res.data.requestWithdrawal).toMatchObject({ withdrawal: { status: 'QUEUED' } })
    ids.push(res.data.requestWithdrawal.withdrawal.id)
  }
  await waitFor(
    '50 withdrawals CONFIRMED',
    async () => {
      const page = await gql('{ withdrawals(first: 100) { edges { node { id status } } } }')
      const statuses = page.data.withdrawals.edges.map((e: { node: { status: string } }) => e.node.status)
      return statuses.length === 50 && statuses.every((s: string) => s === 'CONFIRMED')
    },
    60_000,
  )
  for (const [i, to] of recipients.entries()) {
    if (i % 2 === 0)
      expect(await devnet.client.getBalance({ address: to })).toBe(parseEther(`0.0${(i % 9) + 1}`))
    else expect(await usdtOf(to)).toBe(BigInt((i % 10) + 1) * 1_000_000n)
  }
  const ethOut = recipients.reduce((s, _, i) => (i % 2 === 0 ? s + parseEther(`0.0${(i % 9) + 1}`) : s), 0n)
  const usdtOut = recipients.reduce(
    (s, _, i) => (i % 2 === 1 ? s + BigInt((i % 10) + 1) * 1_000_000n : s),
    0n,
  )
  const after = (await gql('{ balances { asset { symbol } available reserved } }')).data.balances
  const { formatEther, formatUnits } = await import('viem')
  expect(bySymbol(after)).toEqual([
    { asset: { symbol: 'ETH' }, available: formatEther(parseEther('3') - ethOut), reserved: '0' },
    { asset: { symbol: 'USDT' }, available: formatUnits(500_000_000n - usdtOut, 6), reserved: '0' },
  ])

  // the operator's reconciliation: every wallet's on-chain balance equals the ledger's figure
  clearInterval(miner)
  miner = undefined
  const { code, report } = await reconcileJson({ ...env, TOLLGATE_SEED: gatewayMnemonic })
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(code).toBe(0)
  const line = (role: string, asset: string) =>
    report.lines.find((l: { role: string; asset: string }) => l.role === role && l.asset.includes(asset))
  expect(BigInt(line('treasury', 'erc20').onChain)).toBe(500_000_000n - usdtOut)
  expect(BigInt(line('treasury', 'erc20').ledger)).toBe(500_000_000n - usdtOut)
  expect(line('treasury', 'slip44').ledger).toBe(line('treasury', 'slip44').onChain)
  expect(line('gas', 'slip44').ledger).toBe(
    String(await devnet.client.getBalance({ address: gasTank as Hex })),
  )
}, 120_000)
