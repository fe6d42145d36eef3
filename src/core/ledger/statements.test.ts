import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { openUnitDb, rejection, toyChain, unitCredit, unitMerchant } from '../../../test/helpers/unit.ts'
import type { Db, DbHandle } from '../../db/client.ts'
import { newId } from '../ids.ts'
import { getBalances } from './balances.ts'
import {
  postFee,
  postInternalMove,
  postWithdrawalRelease,
  postWithdrawalReserve,
  postWithdrawalSettle,
  syncMisdirectedHolding,
  syncPaymentCredit,
} from './postings.ts'
import {
  type LedgerEntry,
  listLedgerEntries,
  type StatementFilter,
  statementCsv,
  statementQuery,
} from './statements.ts'

const toy = toyChain()
const other = toyChain({ name: 'other' })
const chains = new Map([
  [toy.chain.name, toy.chain],
  [other.chain.name, other.chain],
])

let handle: DbHandle
let ctx: { db: Db; chains: typeof chains }
let shop: string
let neighbour: string
/** The references the statement's entries should name, filled as the ledger is written. */
const refs = {
  tokenPayment: '',
  nativePayment: '',
  otherPayment: '',
  neighbourPayment: '',
  settled: '',
  released: '',
  misdirected: '',
}

/** Every entry of `merchantId`'s statement, page by page. */
async function everyEntry(merchantId: string, filter: StatementFilter = {}, first = 100) {
  const entries: LedgerEntry[] = []
  let after: string | null = null
  for (;;) {
    const page = await listLedgerEntries(ctx, merchantId, { filter, first, after })
    entries.push(...page.rows)
    if (!page.hasNextPage) return entries
    after = page.rows.at(-1)?.id ?? null
  }
}

/** The CSV a statement streams, as lines of fields (RFC 4180 quoting undone). */
async function csvRows(merchantId: string, filter: StatementFilter = {}, batchSize?: number) {
  let text = ''
  for await (const chunk of statementCsv(ctx, merchantId, filter, { batchSize })) text += chunk
  expect(text.endsWith('\r\n')).toBe(true)
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((line) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].slice(0, -1))
    .map((fields) =>
      fields.map((m) => (m[1]?.startsWith('"') ? m[1].slice(1, -1).replaceAll('""', '"') : m[1])),
    )
}

beforeAll(async () => {
  handle = await openUnitDb()
  ctx = { db: handle.db, chains }
  shop = await unitMerchant(handle, 'Statement Shop')
  neighbour = await unitMerchant(handle, 'Neighbour Shop')
  refs.tokenPayment = await unitCredit(handle, shop, 'toy', toy.token.id, 2_500_000n)
  refs.nativePayment = await unitCredit(handle, shop, 'toy', toy.native.id, 150_000_000n)
  refs.otherPayment = await unitCredit(handle, shop, 'other', other.native.id, 7n)
  refs.neighbourPayment = await unitCredit(handle, neighbour, 'toy', toy.token.id, 9_000_000n)
  refs.settled = newId('wd')
  refs.released = newId('wd')
  refs.misdirected = newId('tr')
  await handle.db.transaction(async (tx) => {
    const settled = {
      id: refs.settled,
      merchantId: shop,
      chain: 'toy',
      asset: toy.token.id,
      amount: 1_000_000n,
    }
    await postWithdrawalReserve(tx, settled)
    await postWithdrawalSettle(tx, settled, { nativeAsset: toy.native.id, amount: 21n })
    const released = { ...settled, id: refs.released, amount: 300_000n }
    await postWithdrawalReserve(tx, released)
    await postWithdrawalRelease(tx, released)
    // a reorg takes part of a credit back: a negative payment entry
    await syncPaymentCredit(tx, {
      paymentId: refs.nativePayment,
      merchantId: shop,
      chain: 'toy',
      asset: toy.native.id,
      target: 100_000_000n,
    })
    await syncMisdirectedHolding(tx, {
      transferId: refs.misdirected,
      merchantId: shop,
      chain: 'other',
      asset: other.native.id,
      target: 5n,
      credit: true,
    })
    // the gateway's own accounts are in nobody's statement
    await postInternalMove(
      tx,
      { chain: 'toy', asset: toy.native.id, refType: 'sweep', refId: newId('sw') },
      'deposits',
      'treasury',
      50n,
    )
    await postFee(
      tx,
      { chain: 'toy', asset: toy.native.id, refType: 'sweep', refId: newId('sw') },
      'treasury',
      3n,
    )
  })
}, 30_000)
afterAll(() => handle.close())

describe('statements', () => {
  test("default: a merchant's statement lists its own postings to its own accounts, oldest first, with kinds and references", async () => {
    const entries = await everyEntry(shop)
    const summary = entries.map((e) => [e.chain, e.asset, e.account, e.amount, e.kind, e.reference])
    expect(summary).toEqual([
      ['toy', toy.token.id, 'merchant:available', 2_500_000n, 'PAYMENT', refs.tokenPayment],
      ['toy', toy.native.id, 'merchant:available', 150_000_000n, 'PAYMENT', refs.nativePayment],
      ['other', other.native.id, 'merchant:available', 7n, 'PAYMENT', refs.otherPayment],
      ['toy', toy.token.id, 'merchant:available', -1_000_000n, 'WITHDRAWAL_RESERVE', refs.settled],
      ['toy', toy.token.id, 'merchant:reserved', 1_000_000n, 'WITHDRAWAL_RESERVE', refs.settled],
      ['toy', toy.token.id, 'merchant:reserved', -1_000_000n, 'WITHDRAWAL_SETTLE', refs.settled],
      ['toy', toy.token.id, 'merchant:available', -300_000n, 'WITHDRAWAL_RESERVE', refs.released],
      ['toy', toy.token.id, 'merchant:reserved', 300_000n, 'WITHDRAWAL_RESERVE', refs.released],
      ['toy', toy.token.id, 'merchant:reserved', -300_000n, 'WITHDRAWAL_RELEASE', refs.released],
      ['toy', toy.token.id, 'merchant:available', 300_000n, 'WITHDRAWAL_RELEASE', refs.released],
      ['toy', toy.native.id, 'merchant:available', -50_000_000n, 'PAYMENT', refs.nativePayment],
      ['other', other.native.id, 'merchant:available', 5n, 'MISDIRECTED', refs.misdirected],
    ])
    const ids = entries.map((e) => BigInt(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)))
    const theirs = await everyEntry(neighbour)
    expect(theirs.map((e) => [e.amount, e.reference])).toEqual([[9_000_000n, refs.neighbourPayment]])
  })

  test('behavior: pages of any size join into the whole statement, without gaps or repeats', async () => {
    const whole = await everyEntry(shop)
    for (const first of [1, 2, 5]) {
      const paged = await everyEntry(shop, {}, first)
      expect(paged).toEqual(whole)
    }
    const firstPage = await listLedgerEntries(ctx, shop, { first: 12 })
    expect(firstPage.hasNextPage).toBe(false)
    const short = await listLedgerEntries(ctx, shop, { first: 11 })
    expect(short.hasNextPage).toBe(true)
  })

  test('behavior: chain, asset (symbol or CAIP-19 id) and kind narrow the statement', async () => {
    const bySymbol = await everyEntry(shop, { chain: 'toy', asset: 'TOK' })
    expect(bySymbol).toHaveLength(8)
    expect(bySymbol.every((e) => e.chain === 'toy' && e.asset === toy.token.id)).toBe(true)
    expect(await everyEntry(shop, { chain: 'toy', asset: toy.token.id })).toEqual(bySymbol)
    expect((await everyEntry(shop, { chain: 'other' })).map((e) => e.kind)).toEqual([
      'PAYMENT',
      'MISDIRECTED',
    ])
    expect((await everyEntry(shop, { kind: 'WITHDRAWAL_RELEASE' })).map((e) => e.amount)).toEqual([
      -300_000n,
      300_000n,
    ])
    expect((await everyEntry(shop, { kind: 'MISDIRECTED' })).map((e) => e.reference)).toEqual([
      refs.misdirected,
    ])
    expect(await everyEntry(shop, { kind: 'OTHER' })).toEqual([])
  })

  test('behavior: from is inclusive and to exclusive on the time an entry was recorded', async () => {
    const stamped = await unitMerchant(handle, 'Dated Shop')
    const days = ['2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-03T00:00:00.000Z']
    for (const [i, day] of days.entries()) {
      const paymentId = await unitCredit(handle, stamped, 'toy', toy.native.id, BigInt(i + 1))
      await handle.db.execute(
        sql`update ledger_postings set created_at = ${day}::timestamptz where ref_id like ${`${paymentId}#%`}`,
      )
    }
    const amounts = async (filter: StatementFilter) =>
      (await everyEntry(stamped, filter)).map((e) => e.amount)
    expect(await amounts({ from: new Date(days[1] as string) })).toEqual([2n, 3n])
    expect(await amounts({ to: new Date(days[1] as string) })).toEqual([1n])
    expect(await amounts({ from: new Date(days[0] as string), to: new Date(days[2] as string) })).toEqual([
      1n,
      2n,
    ])
  })

  test('behavior: hostile arguments are refused with typed errors before anything is read', async () => {
    // a database that fails any read: a refusal that got as far as a query would not be a TollgateError
    const unread = { db: undefined as unknown as Db, chains }
    const refused = async (params: Parameters<typeof listLedgerEntries>[2]) => {
      const err = await rejection(listLedgerEntries(unread, shop, params))
      return [err.code, err.field]
    }
    expect(await refused({ first: 101 })).toEqual(['INVALID_INPUT', 'first'])
    expect(await refused({ first: 1_000_000_000 })).toEqual(['INVALID_INPUT', 'first'])
    expect(await refused({ first: 0 })).toEqual(['INVALID_INPUT', 'first'])
    expect(await refused({ first: 1.5 })).toEqual(['INVALID_INPUT', 'first'])
    expect(await refused({ after: '1; drop table ledger_postings' })).toEqual(['INVALID_INPUT', 'after'])
    expect(await refused({ after: '99999999999999999999' })).toEqual(['INVALID_INPUT', 'after'])
    const day = new Date('2026-01-02T00:00:00Z')
    expect(await refused({ filter: { from: day, to: day } })).toEqual(['INVALID_INPUT', 'to'])
    expect(await refused({ filter: { from: day, to: new Date('2026-01-01T00:00:00Z') } })).toEqual([
      'INVALID_INPUT',
      'to',
    ])
    expect(await refused({ filter: { from: new Date(8.64e15) } })).toEqual(['INVALID_INPUT', 'from'])
    expect(await refused({ filter: { to: new Date(Number.NaN) } })).toEqual(['INVALID_INPUT', 'to'])
    expect(await refused({ filter: { asset: 'TOK' } })).toEqual(['INVALID_INPUT', 'chain'])
    expect(await refused({ filter: { chain: 'nowhere' } })).toEqual(['UNKNOWN_CHAIN', 'chain'])
    expect(await refused({ filter: { chain: 'toy', asset: 'NOPE' } })).toEqual(['UNKNOWN_ASSET', 'asset'])
    expect(await refused({ filter: { kind: 'FEE' as never } })).toEqual(['INVALID_INPUT', 'kind'])
  })

  test('behavior: the CSV statement summed per chain, asset and account from the beginning is the balances, exactly', async () => {
    const [header, ...lines] = await csvRows(shop, {}, 5)
    expect(header).toEqual([
      'date',
      'chain',
      'asset',
      'account',
      'kind',
      'reference',
      'amount',
      'amount_base_units',
    ])
    expect(lines).toHaveLength(12)
    // the balances, keyed as the CSV names them (chain, asset symbol, account)
    const balances = new Map<string, bigint>()
    for (const b of await getBalances(ctx, shop)) {
      const symbol = chains.get(b.chain)?.driver.assets.find((a) => a.id === b.asset)?.symbol
      balances.set(`${b.chain}|${symbol}|merchant:available`, b.available)
      if (b.reserved !== 0n) balances.set(`${b.chain}|${symbol}|merchant:reserved`, b.reserved)
    }
    expect(balances.size).toBe(3)
    const sums = new Map<string, bigint>()
    for (const [, chain, symbol, account, , , whole, base] of lines) {
      const key = `${chain}|${symbol}|${account}`
      sums.set(key, (sums.get(key) ?? 0n) + BigInt(base as string))
      // the whole-unit amount is the base-unit one, moved by the asset's decimals
      const decimals = symbol === 'TOK' ? 6 : 8
      const [int, fraction = ''] = (whole as string).replace('-', '').split('.')
      const units = BigInt(`${int}${fraction.padEnd(decimals, '0')}`)
      expect((whole as string).startsWith('-') ? -units : units).toBe(BigInt(base as string))
    }
    // an account whose entries cancel out has no balance to compare with: its sum is zero
    for (const [key, total] of sums) if (!balances.has(key)) expect([key, total]).toEqual([key, 0n])
    for (const [key, total] of balances) expect([key, sums.get(key)]).toEqual([key, total])
    expect(lines[0]?.slice(1, 7)).toEqual([
      'toy',
      'TOK',
      'merchant:available',
      'PAYMENT',
      refs.tokenPayment,
      '2.5',
    ])
    expect(lines[3]?.slice(6)).toEqual(['-1', '-1000000'])
  })

  test('behavior: text a spreadsheet would run as a formula is defused in the CSV', async () => {
    const merchantId = await unitMerchant(handle, 'Formula Shop')
    const hostile = '=HYPERLINK("http://evil.example","x")'
    await handle.db.transaction((tx) =>
      syncPaymentCredit(tx, {
        paymentId: hostile,
        merchantId,
        chain: 'toy',
        asset: toy.native.id,
        target: 1n,
      }),
    )
    const [, line] = await csvRows(merchantId)
    expect(line?.[5]).toBe(`'${hostile}`)
  })

  test('behavior: the export query string is checked: unknown, repeated and malformed parameters name themselves', () => {
    const query = (text: string) => statementQuery(chains, new URLSearchParams(text))
    const refusal = (text: string) => {
      try {
        query(text)
      } catch (err) {
        const { code, field } = err as { code: string; field: string }
        return [code, field]
      }
      throw new Error('expected a refusal')
    }
    expect(query('from=2026-01-01&to=2026-02-01T00:00:00Z')).toEqual({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-02-01T00:00:00Z'),
      chain: null,
      asset: null,
      kind: null,
    })
    expect(query('chain=toy&asset=TOK').asset).toBe(toy.token.id)
    expect(refusal('from=yesterday')).toEqual(['INVALID_INPUT', 'from'])
    expect(refusal('to=2026-13-45T00:00:00Z')).toEqual(['INVALID_INPUT', 'to'])
    expect(refusal('from=1e20')).toEqual(['INVALID_INPUT', 'from'])
    expect(refusal('from=2026-02-01&to=2026-01-01')).toEqual(['INVALID_INPUT', 'to'])
    expect(refusal('from=2026-01-01&from=2026-01-02')).toEqual(['INVALID_INPUT', 'from'])
    expect(refusal('limit=5')).toEqual(['INVALID_INPUT', 'limit'])
    expect(refusal('kind=FEE')).toEqual(['INVALID_INPUT', 'kind'])
    expect(refusal('chain=nowhere')).toEqual(['UNKNOWN_CHAIN', 'chain'])
  })
})
