import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { createMerchant } from '../../src/core/access/merchants.ts'
import { newId } from '../../src/core/ids.ts'
import { syncPaymentCredit } from '../../src/core/ledger/postings.ts'
import { createSigner, type Signer, xpubSource } from '../../src/core/payouts/signer.ts'
import { type DbHandle, pgliteHandle } from '../../src/db/client.ts'
import { migrate, migrationsFolder } from '../../src/db/migrate.ts'
import type { LoadedChain } from '../../src/plugins/registry.ts'
import type {
  AssetInfo,
  BlockRef,
  ChainDriver,
  PayoutDriver,
  SignedTx,
  Transfer,
  TxStatus,
  UnsignedTx,
} from '../../src/plugins/sdk/index.ts'

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
