import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type Hex, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { formatAmount } from '../../src/core/money.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'

let devnet: Devnet
let app: TestApp
let merchant: { id: string; key: string }
let other: { id: string; key: string }
let scanner: ScannerState
const ids = { eth: '', usdt: '', kept: '', canceled: '' }
const recipient = privateKeyToAccount(`0x${'7'.repeat(63)}1` as Hex).address

beforeAll(async () => {
  devnet = await startDevnet()
  app = await createTestApp({
    config: testConfig(devnet.url, { confirmations: 2 }, { sweeps: { enabled: false } }),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  merchant = await app.merchant('Statement shop')
  other = await app.merchant('Other shop')
  scanner = newScannerState()
  // credited through the real path: paid on chain, scanned, confirmed
  ids.eth = await payAndComplete('ETH', '1.25', parseEther('1.25'))
  ids.usdt = await payAndComplete('USDT', '150', 150_000_000n)
  ids.kept = await requestWithdrawal('40.5', 'kept')
  ids.canceled = await requestWithdrawal('9', 'canceled')
  const canceled = await app.gql(
    'mutation ($id: ID!) { cancelWithdrawal(id: $id) { ... on Withdrawal { status } } }',
    { id: ids.canceled },
    merchant.key,
  )
  expect(canceled.data.cancelWithdrawal.status).toBe('CANCELED')
}, 60_000)
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

async function payAndComplete(asset: string, amount: string, units: bigint): Promise<string> {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset, amount } },
    merchant.key,
  )
  const p = res.data.createPayment.payment as { id: string; address: string }
  if (asset === 'ETH') await devnet.payNative(p.address, units)
  else await devnet.payToken(p.address, units)
  await devnet.mine(2)
  await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)
  const done = await app.gql('query ($id: ID!) { payment(id: $id) { status } }', { id: p.id }, merchant.key)
  expect(done.data.payment.status).toBe('COMPLETED')
  return p.id
}

async function requestWithdrawal(amount: string, idempotencyKey: string): Promise<string> {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'USDT', to: recipient, amount, idempotencyKey } },
    merchant.key,
  )
  expect(res.data.requestWithdrawal.withdrawal).toBeDefined()
  return res.data.requestWithdrawal.withdrawal.id
}

type Entry = {
  id: string
  chain: string
  asset: { symbol: string }
  account: string
  amount: string
  amountBaseUnits: string
  kind: string
  reference: string
}

type EntryPage = {
  edges: Array<{ cursor: string; node: Entry }>
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null }
}

const entriesQuery = `query ($first: Int, $after: String, $filter: LedgerEntryFilter) {
  ledgerEntries(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id createdAt chain asset { symbol } account amount amountBaseUnits kind reference } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  } }`

/** Every entry the key sees, following cursors `first` at a time; the number of pages it took. */
async function allEntries(key: string, filter: Record<string, unknown> = {}, first = 100) {
  const entries: Entry[] = []
  let after: string | null = null
  let pages = 0
  for (;;) {
    const res: { errors?: unknown; data: { ledgerEntries: EntryPage } } = await app.gql(
      entriesQuery,
      { first, after, filter },
      key,
    )
    expect(res.errors).toBeUndefined()
    const connection = res.data.ledgerEntries
    expect(connection.pageInfo.hasPreviousPage).toBe(after !== null)
    pages++
    entries.push(...connection.edges.map((e) => e.node))
    if (!connection.pageInfo.hasNextPage) return { entries, pages }
    after = connection.pageInfo.endCursor
  }
}

const brief = (e: Entry) => [e.asset.symbol, e.account, e.amount, e.kind, e.reference]

/** The first error of a ledgerEntries request, as code and field. */
async function refusal(variables: Record<string, unknown>) {
  const res = await app.gql(entriesQuery, variables, merchant.key)
  expect(res.data?.ledgerEntries ?? null).toBeNull()
  return res.errors[0].extensions
}

const csv = (query = '', key: string | null = merchant.key) =>
  app.fetch(
    new Request(`http://tollgate.test/exports/ledger.csv${query}`, {
      headers: key === null ? {} : { authorization: `Bearer ${key}` },
    }),
  )

describe('ledger statements', () => {
  test('default: the statement lists payments credited and a withdrawal reserved and released, oldest first, page by page', async () => {
    const { entries, pages } = await allEntries(merchant.key, {}, 2)
    expect(pages).toBe(4)
    expect(entries.map(brief)).toEqual([
      ['ETH', 'merchant:available', '1.25', 'PAYMENT', ids.eth],
      ['USDT', 'merchant:available', '150', 'PAYMENT', ids.usdt],
      ['USDT', 'merchant:available', '-40.5', 'WITHDRAWAL_RESERVE', ids.kept],
      ['USDT', 'merchant:reserved', '40.5', 'WITHDRAWAL_RESERVE', ids.kept],
      ['USDT', 'merchant:available', '-9', 'WITHDRAWAL_RESERVE', ids.canceled],
      ['USDT', 'merchant:reserved', '9', 'WITHDRAWAL_RESERVE', ids.canceled],
      ['USDT', 'merchant:reserved', '-9', 'WITHDRAWAL_RELEASE', ids.canceled],
      ['USDT', 'merchant:available', '9', 'WITHDRAWAL_RELEASE', ids.canceled],
    ])
    expect(entries[2]?.amountBaseUnits).toBe('-40500000')
    expect((await allEntries(merchant.key)).entries).toEqual(entries)
  })

  test('behavior: chain and asset, kind and the time range narrow the statement', async () => {
    const usdt = await allEntries(merchant.key, { chain: 'devnet', asset: 'USDT' })
    expect(usdt.entries.map((e) => e.asset.symbol)).toEqual(Array(7).fill('USDT'))
    const released = await allEntries(merchant.key, { kind: 'WITHDRAWAL_RELEASE' })
    expect(released.entries.map((e) => e.amount)).toEqual(['-9', '9'])
    const { entries } = await allEntries(merchant.key)
    const stamps = await app.gql(entriesQuery, { first: 100 }, merchant.key)
    const times = stamps.data.ledgerEntries.edges.map(
      (e: { node: { createdAt: string } }) => e.node.createdAt,
    )
    const usdtCredit = times[1] as string
    // [from, to): from the USDT credit on; everything before the USDT credit
    const since = await allEntries(merchant.key, { from: usdtCredit })
    expect(since.entries.map((e) => e.id)).toEqual(
      entries.filter((_, i) => times[i] >= usdtCredit).map((e) => e.id),
    )
    expect(since.entries[0]?.reference).toBe(ids.usdt)
    const before = await allEntries(merchant.key, { to: usdtCredit })
    expect(before.entries.map((e) => e.reference)).toEqual([ids.eth])
    const future = new Date(Date.now() + 3_600_000).toISOString()
    expect((await allEntries(merchant.key, { from: future })).entries).toEqual([])
  })

  test('behavior: another merchant sees nothing of it, in the statement or the CSV', async () => {
    expect((await allEntries(other.key)).entries).toEqual([])
    const res = await csv('', other.key)
    expect(res.status).toBe(200)
    expect((await res.text()).trim().split('\r\n')).toHaveLength(1)
  })

  test('error: hostile arguments are typed errors', async () => {
    expect(await refusal({ first: 101 })).toMatchObject({ code: 'INVALID_INPUT', field: 'first' })
    expect(await refusal({ first: 2_000_000_000 })).toMatchObject({ code: 'QUERY_TOO_COSTLY' })
    expect(await refusal({ after: 'bm90IGEgY3Vyc29y' })).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'after',
    })
    const day = '2026-01-02T00:00:00.000Z'
    expect(await refusal({ filter: { from: day, to: day } })).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'to',
    })
    expect(await refusal({ filter: { chain: 'nowhere' } })).toMatchObject({ code: 'UNKNOWN_CHAIN' })
    expect(await refusal({ filter: { chain: 'devnet', asset: 'DOGE' } })).toMatchObject({
      code: 'UNKNOWN_ASSET',
    })
    expect(await refusal({ filter: { asset: 'USDT' } })).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'chain',
    })
    const badDate = await app.gql(entriesQuery, { filter: { from: 'last tuesday' } }, merchant.key)
    expect(badDate.errors[0].message).toContain('DateTime must be an ISO-8601 string')
    const unauthenticated = await app.gql(entriesQuery, {}, null)
    expect(unauthenticated.errors[0].extensions.code).toBe('UNAUTHENTICATED')
  })

  test('behavior: the CSV summed per chain, asset and account from the beginning is the balances query, exactly', async () => {
    const res = await csv()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    const [header, ...lines] = (await res.text()).trim().split('\r\n')
    expect(header).toBe('date,chain,asset,account,kind,reference,amount,amount_base_units')
    expect(lines).toHaveLength(8)
    const decimals: Record<string, number> = { ETH: 18, USDT: 6 }
    const sums = new Map<string, bigint>()
    for (const line of lines) {
      const [, chain, symbol, account, , , , base] = line.split(',')
      const key = `${chain}|${symbol}|${account}`
      sums.set(key, (sums.get(key) ?? 0n) + BigInt(base as string))
    }
    const balances = await app.gql(
      '{ balances { chain asset { symbol } available reserved } }',
      {},
      merchant.key,
    )
    const fromCsv = (chain: string, symbol: string, account: string) =>
      formatAmount(sums.get(`${chain}|${symbol}|${account}`) ?? 0n, decimals[symbol] as number)
    expect(balances.data.balances).toHaveLength(2)
    for (const b of balances.data.balances) {
      expect(fromCsv(b.chain, b.asset.symbol, 'merchant:available')).toBe(b.available)
      expect(fromCsv(b.chain, b.asset.symbol, 'merchant:reserved')).toBe(b.reserved)
    }
    expect(balances.data.balances.map((b: { available: string }) => b.available)).toEqual(['109.5', '1.25'])
  })

  test('error: the CSV needs a valid key and names a bad parameter', async () => {
    expect((await csv('', null)).status).toBe(401)
    expect((await csv('', 'tg_not_a_key')).status).toBe(401)
    const bad = async (query: string) => {
      const res = await csv(query)
      expect(res.status).toBe(400)
      return res.json()
    }
    expect(await bad('?from=yesterday')).toMatchObject({ code: 'INVALID_INPUT', field: 'from' })
    expect(await bad('?from=2026-02-01&to=2026-01-01')).toMatchObject({ code: 'INVALID_INPUT', field: 'to' })
    expect(await bad('?chain=nowhere')).toMatchObject({ code: 'UNKNOWN_CHAIN', field: 'chain' })
    expect(await bad('?limit=10')).toMatchObject({ code: 'INVALID_INPUT', field: 'limit' })
    const later = await csv(`?from=${new Date(Date.now() + 3_600_000).toISOString()}`)
    expect((await later.text()).trim().split('\r\n')).toHaveLength(1)
  })
})
