import type { AssetInfo } from '@tollgate/sdk'
import { and, asc, eq, gt, gte, inArray, lt, not, or, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ledgerPostings } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { csvField } from '../csv.ts'
import { invalidInput } from '../errors.ts'
import { formatAmount } from '../money.ts'
import { merchantAvailable, merchantReserved } from './postings.ts'

// A statement lists what moved a merchant's own accounts (available and reserved), one posting a line, in the
// order the ledger recorded them (the postings' serial id, oldest first): summed from the first line, a
// statement gives the balances, and a page boundary never moves while postings are added behind it.

/** The merchant's accounts a statement shows; every other account is the gateway's or the operator's. */
export const statementAccounts = [merchantAvailable, merchantReserved] as const

/** What moved a merchant's balance, derived from a posting's reference. */
export const entryKinds = [
  'PAYMENT',
  'WITHDRAWAL_RESERVE',
  'WITHDRAWAL_RELEASE',
  'WITHDRAWAL_SETTLE',
  'MISDIRECTED',
  'REFUND_HOLD',
  'REFUND_RELEASE',
  'OTHER',
] as const
export type EntryKind = (typeof entryKinds)[number]

/** The largest page of entries a request may ask for. */
export const maxEntriesPage = 100

type PostingRow = typeof ledgerPostings.$inferSelect

/** One line of a statement: a posting to one of the merchant's accounts. */
export type LedgerEntry = {
  /** The posting's serial id, as a decimal string. */
  id: string
  createdAt: Date
  chain: string
  /** CAIP-19 asset id. */
  asset: string
  account: string
  /** Signed base units: what the posting added to the account. */
  amount: bigint
  kind: EntryKind
  /** The payment, withdrawal or misdirected deposit the posting belongs to. */
  reference: string
}

/** Narrowing of a statement; `from` is inclusive, `to` exclusive, both on the posting's time. */
export type StatementFilter = {
  from?: Date | null
  to?: Date | null
  chain?: string | null
  asset?: string | null
  kind?: EntryKind | null
}

/** The kind of a posting from its reference (`withdrawal` postings say which step in the id's suffix). */
export function entryKind(refType: string, refId: string): EntryKind {
  if (refType === 'payment') return 'PAYMENT'
  if (refType === 'misdirected') return 'MISDIRECTED'
  // a refund link's hold while the buyer has not given an address, and its release (claimed or canceled)
  if (refType === 'refund') return refId.endsWith('#hold') ? 'REFUND_HOLD' : 'REFUND_RELEASE'
  if (refType === 'withdrawal') {
    const step = refId.slice(refId.lastIndexOf('#') + 1)
    if (step === 'reserve') return 'WITHDRAWAL_RESERVE'
    if (step === 'release') return 'WITHDRAWAL_RELEASE'
    if (step === 'settle') return 'WITHDRAWAL_SETTLE'
  }
  return 'OTHER'
}

function referenceStep(refType: string, step: string): SQL {
  return and(eq(ledgerPostings.refType, refType), sql`${ledgerPostings.refId} like ${`%#${step}`}`) as SQL
}

const kindConditions: Record<Exclude<EntryKind, 'OTHER'>, SQL> = {
  PAYMENT: eq(ledgerPostings.refType, 'payment'),
  MISDIRECTED: eq(ledgerPostings.refType, 'misdirected'),
  WITHDRAWAL_RESERVE: referenceStep('withdrawal', 'reserve'),
  WITHDRAWAL_RELEASE: referenceStep('withdrawal', 'release'),
  WITHDRAWAL_SETTLE: referenceStep('withdrawal', 'settle'),
  REFUND_HOLD: referenceStep('refund', 'hold'),
  REFUND_RELEASE: referenceStep('refund', 'release'),
}

function kindCondition(kind: EntryKind): SQL {
  return kind === 'OTHER' ? not(or(...Object.values(kindConditions)) as SQL) : kindConditions[kind]
}

const earliest = Date.UTC(1970, 0, 1)
const latest = Date.UTC(10000, 0, 1)

function checkInstant(value: Date | null | undefined, field: string): void {
  if (value == null) return
  const t = value.getTime()
  if (Number.isNaN(t) || t < earliest || t >= latest)
    throw invalidInput(field, `${field} must be an instant between 1970 and 9999`)
}

/**
 * The filter as the query will run it: bounds in range and in order (`from` before `to`), the asset resolved to
 * its CAIP-19 id on a configured chain (an asset needs its chain). Throws INVALID_INPUT, UNKNOWN_CHAIN or
 * UNKNOWN_ASSET naming the field.
 */
export function checkStatementFilter(chains: ChainRegistry, filter: StatementFilter): StatementFilter {
  checkInstant(filter.from, 'from')
  checkInstant(filter.to, 'to')
  if (filter.from && filter.to && filter.from.getTime() >= filter.to.getTime())
    throw invalidInput('to', 'to must be after from (the range is [from, to))')
  if (filter.kind != null && !entryKinds.includes(filter.kind))
    throw invalidInput('kind', `kind must be one of ${entryKinds.join(', ')}`)
  if (filter.asset != null && filter.chain == null) throw invalidInput('chain', 'asset needs its chain')
  const chain = filter.chain == null ? null : resolveChain(chains, filter.chain)
  const asset = chain && filter.asset != null ? resolveAsset(chain, filter.asset).id : null
  return { ...filter, chain: chain?.name ?? null, asset }
}

function statementWhere(merchantId: string, filter: StatementFilter, afterSerial: bigint | null) {
  return and(
    eq(ledgerPostings.merchantId, merchantId),
    inArray(ledgerPostings.account, [...statementAccounts]),
    filter.from ? gte(ledgerPostings.createdAt, filter.from) : undefined,
    filter.to ? lt(ledgerPostings.createdAt, filter.to) : undefined,
    filter.chain ? eq(ledgerPostings.chain, filter.chain) : undefined,
    filter.asset ? eq(ledgerPostings.asset, filter.asset) : undefined,
    filter.kind ? kindCondition(filter.kind) : undefined,
    afterSerial === null ? undefined : gt(ledgerPostings.id, afterSerial),
  )
}

function toEntry(row: PostingRow): LedgerEntry {
  return {
    id: row.id.toString(),
    createdAt: row.createdAt,
    chain: row.chain,
    asset: row.asset,
    account: row.account,
    amount: row.amount,
    kind: entryKind(row.refType, row.refId),
    reference: row.refId.split('#')[0] ?? row.refId,
  }
}

const serialPattern = /^[1-9][0-9]{0,18}$/

/** An entry id as the serial it stands for, or INVALID_INPUT naming `field`. */
export function entrySerial(id: string, field: string): bigint {
  if (!serialPattern.test(id)) throw invalidInput(field, `${field} is not a ledger entry of this API`)
  return BigInt(id)
}

/**
 * One page of a merchant's statement, oldest first, after the entry `after` (an entry id). The filter is checked
 * (see {@link checkStatementFilter}) and `first` bounded (1 to 100) before anything is read.
 *
 * @example
 * const { rows, hasNextPage } = await listLedgerEntries({ db, chains }, merchantId, { first: 20, filter: { kind: 'PAYMENT' } })
 */
export async function listLedgerEntries(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
  params: { filter?: StatementFilter | null; first?: number | null; after?: string | null },
): Promise<{ rows: LedgerEntry[]; hasNextPage: boolean }> {
  const first = params.first ?? 20
  if (!Number.isInteger(first) || first < 1 || first > maxEntriesPage)
    throw invalidInput('first', `first must be 1 to ${maxEntriesPage}`)
  const filter = checkStatementFilter(ctx.chains, params.filter ?? {})
  const after = params.after == null ? null : entrySerial(params.after, 'after')
  const rows = await ctx.db
    .select()
    .from(ledgerPostings)
    .where(statementWhere(merchantId, filter, after))
    .orderBy(asc(ledgerPostings.id))
    .limit(first + 1)
  return { rows: rows.slice(0, first).map(toEntry), hasNextPage: rows.length > first }
}

/** The columns of the CSV statement, in order. */
export const statementCsvColumns = [
  'date',
  'chain',
  'asset',
  'account',
  'kind',
  'reference',
  'amount',
  'amount_base_units',
] as const

function configuredAsset(chains: ChainRegistry, chain: string, asset: string): AssetInfo | undefined {
  return chains.get(chain)?.driver.assets.find((a) => a.id === asset)
}

/**
 * A statement entry as a CSV line. Text fields go through {@link csvField} (no formula runs in a spreadsheet);
 * the amounts are the gateway's own signed numbers. An asset no longer configured shows its CAIP-19 id and no
 * whole-unit amount (its decimals are unknown), never a wrong one.
 */
export function statementCsvLine(chains: ChainRegistry, entry: LedgerEntry): string {
  const asset = configuredAsset(chains, entry.chain, entry.asset)
  return [
    entry.createdAt.toISOString(),
    csvField(entry.chain),
    csvField(asset?.symbol ?? entry.asset),
    csvField(entry.account),
    entry.kind,
    csvField(entry.reference),
    asset ? formatAmount(entry.amount, asset.decimals) : '',
    entry.amount.toString(),
  ].join(',')
}

/** Rows read per query while a CSV statement streams: memory stays bounded whatever the range holds. */
const defaultCsvBatch = 1000

/**
 * A merchant's statement as CSV lines (header first, each line ending in CRLF), read in batches by keyset as the
 * consumer pulls: a long history streams without being held in memory. Check the filter first
 * ({@link checkStatementFilter}); this only reads.
 *
 * @example
 * for await (const line of statementCsv({ db, chains }, merchantId, { from })) out.write(line)
 */
export async function* statementCsv(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
  filter: StatementFilter,
  options: { batchSize?: number } = {},
): AsyncGenerator<string> {
  const batch = options.batchSize ?? defaultCsvBatch
  yield `${statementCsvColumns.join(',')}\r\n`
  let after: bigint | null = null
  for (;;) {
    const rows = await ctx.db
      .select()
      .from(ledgerPostings)
      .where(statementWhere(merchantId, filter, after))
      .orderBy(asc(ledgerPostings.id))
      .limit(batch)
    if (rows.length > 0) yield rows.map((r) => `${statementCsvLine(ctx.chains, toEntry(r))}\r\n`).join('')
    if (rows.length < batch) return
    after = rows.at(-1)?.id ?? null
  }
}

const instantPattern = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

function queryInstant(params: URLSearchParams, field: string): Date | null {
  const value = params.get(field)
  if (value === null || value === '') return null
  const date = instantPattern.test(value) ? new Date(value) : undefined
  if (!date || Number.isNaN(date.getTime()))
    throw invalidInput(field, `${field} must be an ISO-8601 instant, e.g. 2026-01-31T00:00:00Z`)
  return date
}

const exportParams = new Set(['from', 'to', 'chain', 'asset', 'kind'])

/**
 * The filter of a CSV export from its query string (`from`, `to`, `chain`, `asset`, `kind`), checked: an unknown
 * or repeated parameter, a malformed instant or any refusal of {@link checkStatementFilter} throws a
 * TollgateError naming the parameter.
 *
 * @example
 * const filter = statementQuery(chains, new URL(request.url).searchParams)
 */
export function statementQuery(chains: ChainRegistry, params: URLSearchParams): StatementFilter {
  for (const key of new Set(params.keys())) {
    if (!exportParams.has(key)) throw invalidInput(key, `unknown parameter ${JSON.stringify(key)}`)
    if (params.getAll(key).length > 1) throw invalidInput(key, `${key} is given more than once`)
  }
  const text = (field: string) => params.get(field) || null
  return checkStatementFilter(chains, {
    from: queryInstant(params, 'from'),
    to: queryInstant(params, 'to'),
    chain: text('chain'),
    asset: text('asset'),
    kind: text('kind') as EntryKind | null,
  })
}
