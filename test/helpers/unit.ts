import { afterAll, expect } from 'bun:test'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type {
  AssetInfo,
  BlockRef,
  ChainDriver,
  PayoutDriver,
  SignedTx,
  Transfer,
  TxStatus,
  UnsignedTx,
} from '@tollgate/sdk'
import { and, asc, eq, like } from 'drizzle-orm'
import { createMerchant } from '../../src/core/access/merchants.ts'
import { TollgateError } from '../../src/core/errors.ts'
import { newId } from '../../src/core/ids.ts'
import { merchantAvailable, syncPaymentCredit } from '../../src/core/ledger/postings.ts'
import { formatAmount } from '../../src/core/money.ts'
import {
  type CreatePaymentInput,
  createPayment,
  type PaymentsContext,
} from '../../src/core/payments/create.ts'
import type { PaymentRow } from '../../src/core/payments/queries.ts'
import { createSigner, type Signer, xpubSource } from '../../src/core/payouts/signer.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import {
  newScannerState,
  type SyncContext,
  type SyncLogger,
  syncChain,
} from '../../src/core/scanning/sync.ts'
import type { WebhookContext, WebhookSettings } from '../../src/core/webhooks/events.ts'
import { type Db, type DbHandle, pgliteHandle } from '../../src/db/client.ts'
import { migrate, migrationsFolder } from '../../src/db/migrate.ts'
import * as schema from '../../src/db/schema/index.ts'
import type { ChainRegistry, LoadedChain } from '../../src/plugins/registry.ts'

/**
 * Unit tests of the core rooms run on an embedded, in-memory PGlite migrated to the committed migrations:
 * the same SQL as production, no server, milliseconds per test.
 *
 * @example
 * const db = await openUnitDb()
 * afterAll(() => db.close())
 */
export async function openUnitDb(): Promise<DbHandle> {
  template ??= migratedSnapshot()
  return pgliteHandle(await PGlite.create({ loadDataDir: await template }))
}

let template: Promise<Blob> | undefined

/**
 * The migrated data directory as a snapshot, kept on disk per migration set so test files (and runs) share it:
 * migrating takes seconds, loading a snapshot a fraction of one.
 */
async function migratedSnapshot(): Promise<Blob> {
  const hash = createHash('sha256')
  for (const file of readdirSync(migrationsFolder).sort())
    if (file.endsWith('.sql')) hash.update(file).update(readFileSync(join(migrationsFolder, file)))
  const path = join(tmpdir(), `tollgate-unit-db-${hash.digest('hex').slice(0, 16)}.tar`)
  if (existsSync(path)) return new Blob([readFileSync(path)])
  const client = await PGlite.create('memory://')
  await migrate(pgliteHandle(client))
  const dump = await client.dumpDataDir('none')
  await client.close()
  // written beside and renamed: a concurrent reader sees the whole file or none
  const partial = `${path}.${process.pid}.partial`
  writeFileSync(partial, new Uint8Array(await dump.arrayBuffer()))
  renameSync(partial, path)
  return dump
}

export const unitMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'

/** The signer and xpub source unit tests use (a well-known test seed). */
export function unitKeys(): { signer: Signer; xpubFor: (path: string) => string } {
  const signer = createSigner(unitMnemonic)
  return { signer, xpubFor: xpubSource({ signer }) }
}

/**
 * A merchant with its id, for tests that need one.
 *
 * @example
 * const merchantId = await unitMerchant(db)
 */
export async function unitMerchant(handle: DbHandle, name = 'Unit Shop'): Promise<string> {
  const { merchant } = await createMerchant({ db: handle.db }, { name })
  return merchant.id
}

/**
 * Gives a merchant `amount` base units of an asset to spend, booked as a completed payment is (the ledger's
 * payment credit, under a payment id of its own); returns that payment id.
 *
 * @example
 * await unitCredit(db, merchantId, toy.chain.name, toy.native.id, 1_000_000n)
 */
export async function unitCredit(
  handle: DbHandle,
  merchantId: string,
  chain: string,
  asset: string,
  amount: bigint,
): Promise<string> {
  const paymentId = newId('pay')
  await handle.db.transaction((tx) =>
    syncPaymentCredit(tx, {
      paymentId,
      merchantId,
      chain,
      asset,
      target: amount,
    }),
  )
  return paymentId
}

const hash = (text: string) => `0x${createHash('sha256').update(text).digest('hex')}`

/** What a toy block holds: transfers into addresses (the `to` is the address key). */
export type ToyTransfer = Omit<Transfer, 'block'>

/**
 * An in-memory chain a test drives by hand: mine blocks with transfers, reorganize the top, and see what the
 * core does. Its driver follows the SDK contract (blocks link by parent hash; scan reports transfers into
 * watched keys only).
 */
export type ToyChain = {
  chain: LoadedChain
  native: AssetInfo
  token: AssetInfo
  blocks: BlockRef[]
  /** Mines one block holding `transfers`; returns its ref. */
  mine(transfers?: readonly ToyTransfer[]): BlockRef
  /** Mines `n` empty blocks. */
  mineEmpty(n: number): void
  /** Replaces the top `depth` blocks with `replacement.length` (≥ 1) new ones holding the given transfers. */
  reorg(depth: number, replacement: ReadonlyArray<readonly ToyTransfer[]>): void
  /** Every scan request the driver was asked, `[from, to]`. */
  scans: Array<[bigint, bigint]>
}

/**
 * Builds a toy chain named `name` (heights start at 0 with a genesis block) with a native coin `TOY` (8
 * decimals) and a token `TOK` (6 decimals).
 *
 * @example
 * const toy = toyChain({ confirmations: 2, finalityDepth: 5 })
 * toy.mine([{ txHash: '0x01', index: 0, asset: toy.native.id, to: address, amount: 5n }])
 */
export function toyChain(
  options: {
    name?: string
    confirmations?: number
    finalityDepth?: number
    payouts?: PayoutDriver
    settings?: Partial<LoadedChain['settings']>
  } = {},
): ToyChain {
  const name = options.name ?? 'toy'
  const chainId = `toy:${name}`
  const native: AssetInfo = {
    id: `${chainId}/slip44:1`,
    symbol: 'TOY',
    name: 'Toy',
    decimals: 8,
    native: true,
  }
  const token: AssetInfo = {
    id: `${chainId}/token:tok`,
    symbol: 'TOK',
    name: 'Token',
    decimals: 6,
    native: false,
    contract: 'tok',
  }
  const blocks: BlockRef[] = [
    { height: 0n, hash: hash(`${name}:genesis`), parentHash: '', time: 1_700_000_000 },
  ]
  const contents = new Map<string, ToyTransfer[]>()
  let salt = 0
  const scans: Array<[bigint, bigint]> = []
  const mine = (transfers: readonly ToyTransfer[] = []): BlockRef => {
    const parent = blocks.at(-1)!
    const ref: BlockRef = {
      height: parent.height + 1n,
      hash: hash(`${name}:${parent.hash}:${salt++}`),
      parentHash: parent.hash,
      time: parent.time + 12,
    }
    blocks.push(ref)
    contents.set(ref.hash, [...transfers])
    return ref
  }
  const at = (height: bigint): BlockRef => {
    const b = blocks[Number(height)]
    if (!b) throw new Error(`toy chain: no block at ${height}`)
    return b
  }
  const driver: ChainDriver = {
    chainId,
    nativeAsset: native,
    assets: [native, token],
    confirmations: options.confirmations ?? 1,
    finalityDepth: options.finalityDepth ?? 10,
    maxOutputs: 1,
    accountPath: "m/44'/1'/0'",
    deriveAddress: ({ index }) => ({ address: `toy${index}`, path: `m/44'/1'/0'/0/${index}` }),
    validateAddress: (s) =>
      /^toy[0-9a-z]+$/i.test(s)
        ? { ok: true, normalized: s.toLowerCase() }
        : { ok: false, reason: 'not toy' },
    paymentUri: ({ address, amount }) => `toy:${address}?amount=${amount}`,
    addressKey: (address) => address.toLowerCase(),
    getTip: async () => blocks.at(-1)!,
    getBlockRef: async (height) => at(height),
    scan: async ({ from, to, watch }) => {
      scans.push([from, to])
      const range = blocks.slice(Number(from), Number(to) + 1)
      const transfers = range.flatMap((block) =>
        (contents.get(block.hash) ?? []).filter((t) => watch.has(t.to)).map((t) => ({ ...t, block })),
      )
      return { transfers, blocks: range }
    },
    ...(options.payouts ? { payouts: options.payouts } : {}),
  }
  const chain: LoadedChain = {
    name,
    module: 'toy',
    driver,
    settings: {
      scanIntervalMs: 1000,
      maxRange: 100,
      monitoringWindowMs: 24 * 3600 * 1000,
      startHeight: 0,
      payouts: {
        mode: 'batch',
        maxBatch: 50,
        windowMs: 0,
        intervalMs: 1000,
        stuckAfterBlocks: 10,
        feeBumpPercent: 125,
        approvalAbove: new Map(),
      },
      sweeps: { enabled: false, maxFeeShareBps: 1000, minAmount: new Map() },
      cold: null,
      ...options.settings,
    },
  }
  return {
    chain,
    native,
    token,
    blocks,
    scans,
    mine,
    mineEmpty: (n) => {
      for (let i = 0; i < n; i++) mine()
    },
    reorg: (depth, replacement) => {
      blocks.splice(blocks.length - depth, depth)
      for (const transfers of replacement) mine(transfers)
    },
  }
}

/** A sent transaction as the toy payout driver keeps it. */
export type ToySent = { raw: string; hash: string; payload: Record<string, unknown> }

/**
 * An account-chain payout driver over a toy ledger of balances and nonces, for the outbound step machine's
 * tests: it builds JSON payloads, signs by hashing them with the signer's signature, and reports statuses the
 * test sets. Failures can be injected per step.
 *
 * @example
 * const payouts = toyPayouts()
 * const toy = toyChain({ payouts: payouts.driver })
 */
export function toyPayouts() {
  const balances = new Map<string, bigint>()
  const nonces = new Map<string, bigint>()
  const sent: ToySent[] = []
  const statuses = new Map<string, TxStatus>()
  const failures: { broadcast?: unknown; build?: unknown } = {}
  const driver: PayoutDriver = {
    build: async (request) => {
      if (failures.build) throw failures.build
      const fee = 21n * BigInt(request.feeBumpPercent ?? 100)
      const payload = {
        from: request.from.address,
        nonce: request.nonce?.toString() ?? null,
        asset: request.asset.id,
        outputs: request.outputs.map((o) => ({ to: o.to, amount: o.amount.toString() })),
        fee: fee.toString(),
      }
      return { payload, maxFee: fee, amounts: request.outputs.map((o) => o.amount) } satisfies UnsignedTx
    },
    sign: async (tx, from, signer) => {
      const body = JSON.stringify(tx.payload)
      const digest = createHash('sha256').update(body).digest()
      const { signature } = signer.signDigest(from.path, digest)
      const raw = `${body}|${Buffer.from(signature).toString('hex')}`
      return { raw, hash: hash(raw) } satisfies SignedTx
    },
    broadcast: async (tx) => {
      if (failures.broadcast) throw failures.broadcast
      if (!sent.some((s) => s.hash === tx.hash))
        sent.push({ ...tx, payload: JSON.parse(tx.raw.slice(0, tx.raw.lastIndexOf('|'))) })
    },
    status: async (txHash) =>
      statuses.get(txHash) ??
      (sent.some((s) => s.hash === txHash) ? { state: 'pending' } : { state: 'unknown' }),
    confirmedNonce: async (address) => nonces.get(address) ?? 0n,
    balance: async (address, asset) => balances.get(`${address}/${asset.id}`) ?? 0n,
  }
  return {
    driver,
    balances,
    nonces,
    sent,
    statuses,
    failures,
    /** Marks a sent transaction mined at `height` with `fee`. */
    mine(txHash: string, blockHeight: bigint, fee = 21n, success = true) {
      statuses.set(txHash, { state: 'mined', success, blockHeight, fee })
    },
  }
}

/** A logger that says nothing, for the scanner and the jobs under test. */
export const silentLog: SyncLogger = { info() {}, warn() {}, error() {} }

/** The unit keys, derived once (deriving the seed is the slow part) for every context built here. */
let sharedKeys: ReturnType<typeof unitKeys> | undefined
const keysOnce = () => (sharedKeys ??= unitKeys())

/** Where a test's payments context differs from the usual one (defaults in brackets). */
export type UnitPaymentsOptions = {
  /** Free addresses kept derived per chain [5]. */
  addressPoolSize?: number
  /** Accepted shortfall in basis points [0]. */
  toleranceBps?: number
  /** Seconds a payment is open for when its request names none [3600]; at most a day. */
  defaultExpiresIn?: number
  /** The xpub of an account path [the unit keys']. */
  xpubFor?: (path: string) => string
}

/**
 * A payments context on `handle` over `chains` (each under its name), deriving addresses with the unit keys in
 * this process (no pool refill is handed elsewhere).
 *
 * @example
 * const ctx = unitPaymentsContext(db, [toy.chain], { addressPoolSize: 3 })
 */
export function unitPaymentsContext(
  handle: DbHandle,
  chains: readonly LoadedChain[],
  options: UnitPaymentsOptions = {},
): PaymentsContext {
  return {
    db: handle.db,
    query: handle.query,
    xpubFor: options.xpubFor ?? keysOnce().xpubFor,
    addressPoolSize: options.addressPoolSize ?? 5,
    requestPoolRefill: () => {},
    chains: new Map(chains.map((chain) => [chain.name, chain])),
    payments: {
      defaultExpiresIn: options.defaultExpiresIn ?? 3600,
      maxExpiresIn: 86_400,
      toleranceBps: options.toleranceBps ?? 0,
    },
  }
}

/** How a scene's toy chain and payments context are set up; see {@link unitScene}. */
export type UnitSceneOptions = Omit<NonNullable<Parameters<typeof toyChain>[0]>, 'name'> &
  UnitPaymentsOptions & {
    /** Start of the chain's name, which a counter makes unique [`scene`]. */
    name?: string
    /** KYT screening on: the scanner opens a pending screening for each new deposit. */
    screen?: boolean
  }

let scenes = 0

/**
 * A fresh toy chain (a name of its own, so its own cursor, wallet and addresses), a payments context and a
 * scanner on it, and the steps a test of the scanning and payments rooms takes: create a payment of the
 * merchant's, pay into its address in a mined block, sync the chain.
 *
 * @example
 * const { toy, create, pay, sync } = unitScene(db, { merchantId, name: 'sync', confirmations: 2 })
 * const p = await create(100n)
 * toy.mine([pay(p, '0x01', 100n)])
 * await sync()
 */
export function unitScene(handle: DbHandle, options: UnitSceneOptions & { merchantId: string }) {
  const {
    merchantId,
    name = 'scene',
    addressPoolSize,
    toleranceBps,
    defaultExpiresIn,
    xpubFor,
    screen,
    ...chain
  } = options
  const toy = toyChain({ ...chain, name: `${name}${++scenes}` })
  const payCtx = unitPaymentsContext(handle, [toy.chain], {
    addressPoolSize,
    toleranceBps,
    defaultExpiresIn,
    xpubFor,
  })
  const syncCtx: SyncContext = { db: handle.db, log: silentLog, scanner: newScannerState(), screen }
  return {
    toy,
    payCtx,
    syncCtx,
    /** Creates a payment of `amount` base units of `asset` (the native coin); `input` adds to the request. */
    create: async (amount: bigint, asset: AssetInfo = toy.native, input: Partial<CreatePaymentInput> = {}) =>
      (
        await createPayment(payCtx, merchantId, {
          chain: toy.chain.name,
          asset: asset.id,
          amount: formatAmount(amount, asset.decimals),
          ...input,
        })
      ).payment,
    /** A transfer of `amount` base units of `asset` (the native coin) into the payment's address, to mine. */
    pay: (
      payment: PaymentRow,
      txHash: string,
      amount: bigint,
      asset: AssetInfo = toy.native,
    ): ToyTransfer => ({
      txHash,
      index: -1,
      asset: asset.id,
      to: payment.address,
      amount,
    }),
    /** One scanner pass over the chain; at `now` when given, else on the clock. */
    sync: (now?: Date) => syncChain(now ? { ...syncCtx, now: () => now } : syncCtx, toy.chain),
  }
}

export type UnitScene = ReturnType<typeof unitScene>

/**
 * What a unit test file of the scanning and payments rooms starts from: a database of its own (closed after
 * the file's tests), a merchant in it, and `scene` building that merchant's {@link unitScene}s, their chains
 * named `<name><n>`.
 *
 * @example
 * const { db, scene } = await unitStage('sync')
 * const { toy, create, pay, sync } = scene({ confirmations: 2 })
 */
export async function unitStage(name = 'scene') {
  const handle = await openUnitDb()
  afterAll(() => handle.close())
  const merchantId = await unitMerchant(handle)
  return {
    handle,
    db: handle.db,
    merchantId,
    scene: (options: UnitSceneOptions = {}) => unitScene(handle, { name, ...options, merchantId }),
  }
}

/** A payment as stored. */
export const paymentRow = async (db: Db, id: string) =>
  (await db.select().from(schema.payments).where(eq(schema.payments.id, id)))[0]!

/** A payment's stored transfers, by block height, then transaction and index. */
export const transfersOf = (db: Db, paymentId: string) =>
  db
    .select()
    .from(schema.transfers)
    .where(eq(schema.transfers.paymentId, paymentId))
    .orderBy(asc(schema.transfers.blockHeight), asc(schema.transfers.txHash), asc(schema.transfers.index))

/** The types of a payment's events, in order. */
export const eventTypes = async (db: Db, paymentId: string) =>
  (
    await db
      .select({ type: schema.paymentEvents.type })
      .from(schema.paymentEvents)
      .where(eq(schema.paymentEvents.paymentId, paymentId))
      .orderBy(asc(schema.paymentEvents.seq))
  ).map((e) => e.type)

/** The ledger postings booked for a payment (its references `<payment>#…`). */
export const postingsOf = (db: Db, paymentId: string) =>
  db
    .select()
    .from(schema.ledgerPostings)
    .where(
      and(eq(schema.ledgerPostings.refType, 'payment'), like(schema.ledgerPostings.refId, `${paymentId}#%`)),
    )

/** What the ledger credits the merchant for a payment (its `merchant:available` postings, summed). */
export const creditOf = async (db: Db, paymentId: string) =>
  (await postingsOf(db, paymentId))
    .filter((p) => p.account === merchantAvailable)
    .reduce((sum, p) => sum + p.amount, 0n)

/** A chain's scan cursor as stored. */
export const cursorOf = async (db: Db, chain: string) =>
  (await db.select().from(schema.chainCursors).where(eq(schema.chainCursors.chain, chain)))[0]!

/**
 * The TollgateError `promise` rejects with; the test fails if it resolves or rejects with anything else.
 *
 * @example
 * expect((await rejection(ownEndpoint(db, merchantId, 'whe_nope'))).code).toBe('NOT_FOUND')
 */
export async function rejection(promise: Promise<unknown>): Promise<TollgateError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError)
    return err as TollgateError
  }
  throw new Error('expected a rejection')
}

/**
 * A webhooks context on `handle` over `chains` [a toy chain `toy`], refusing internal addresses, retrying twice
 * after 10 s and waiting 1 s for a receiver unless `webhooks` says otherwise.
 *
 * @example
 * const ctx = unitWebhookContext(db, { allowInternal: true })
 */
export function unitWebhookContext(
  handle: DbHandle,
  webhooks: Partial<WebhookSettings> = {},
  chains: ChainRegistry = new Map([['toy', toyChain().chain]]),
): WebhookContext {
  return {
    db: handle.db,
    chains,
    webhooks: { allowInternal: false, retrySchedule: [10, 10], timeoutMs: 1000, ...webhooks },
  }
}

/**
 * A toy chain named `name` (its own outbound rows, nonces and withdrawals) with the toy payout driver, whose
 * treasury holds `treasuryHolds` TOY base units [10¹²] on chain, and a merchant `<name> shop` holding `credit`.
 *
 * @example
 * const { payouts, toy, treasury, merchantId } = await unitPayoutScene(db, 'batch', { credit: 10n ** 9n })
 */
export async function unitPayoutScene(
  handle: DbHandle,
  name: string,
  options: { credit: bigint; treasuryHolds?: bigint; confirmations?: number },
) {
  const payouts = toyPayouts()
  const toy = toyChain({ name, payouts: payouts.driver, confirmations: options.confirmations })
  const treasury = roleWallet(keysOnce(), toy.chain, 'treasury')
  payouts.balances.set(`${treasury.address}/${toy.native.id}`, options.treasuryHolds ?? 10n ** 12n)
  const merchantId = await unitMerchant(handle, `${name} shop`)
  await unitCredit(handle, merchantId, name, toy.native.id, options.credit)
  return { payouts, toy, treasury, merchantId }
}

/**
 * Stores a rate as the rates job would, `ageSeconds` old (negative: from the future, for a clock moved ahead).
 *
 * @example
 * await storeRate(db, 'BTC/USD', '97123.45')
 */
export async function storeRate(db: Db, pair: string, rate: string, ageSeconds = 0) {
  const [base, quote] = pair.split('/') as [string, string]
  const at = new Date(Date.now() - ageSeconds * 1000)
  const row = {
    base,
    quote,
    rate,
    method: 'fallback',
    sources: [{ provider: 'desk', rate, at: at.toISOString() }],
    at,
  }
  await db
    .insert(schema.rates)
    .values(row)
    .onConflictDoUpdate({ target: [schema.rates.base, schema.rates.quote], set: row })
}
