import { and, eq, gt, inArray, lt, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { blockRefs, chainCursors, payments, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import type { BlockRef, Transfer } from '../../plugins/sdk/index.ts'
import { newId } from '../ids.ts'
import { type PaymentChange, paymentsAwaitingConfirmations, refreshPayments } from '../payments/refresh.ts'
import { refreshWatchSet, type WatchSet } from './watch-set.ts'

export type SyncLogger = {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What a scanner process keeps between runs: watch sets and adaptive range sizes, per chain. */
export type ScannerState = {
  /** Identifies this scanner in the chain's lease. */
  owner: string
  watch: Map<string, WatchSet>
  range: Map<string, number>
}

export type SyncContext = {
  db: Db
  log: SyncLogger
  scanner: ScannerState
  /** How long a scanner's lease lasts without renewal; another scanner may take over after that. */
  leaseMs?: number
  now?: () => Date
}

export type SyncResult = {
  chain: string
  /** Height of the last block scanned and stored. */
  height: bigint
  tip: bigint
  blocks: number
  transfers: number
  changes: PaymentChange[]
  reorgDepth?: number
  halted?: string
  /** Another scanner holds the chain. */
  busy?: boolean
}

/** Thrown when a reorg is deeper than the chain's finality depth: the scanner stops rather than guess. */
export class ReorgTooDeepError extends Error {
  constructor(
    readonly chain: string,
    readonly depth: number,
  ) {
    super(`chain "${chain}": reorg deeper than the finality depth (${depth}+ blocks); scanner halted`)
    this.name = 'ReorgTooDeepError'
  }
}

export function newScannerState(): ScannerState {
  return { owner: newId('scn'), watch: new Map(), range: new Map() }
}

type Cursor = { height: bigint; hash: string; haltedReason: string | null }

function leaseEnd(ctx: Pick<SyncContext, 'leaseMs'>, now: Date): Date {
  return new Date(now.getTime() + (ctx.leaseMs ?? 30_000))
}

/** Takes (or renews) the chain's lease. Creates the cursor on first run. Undefined when another scanner holds it. */
async function acquireLease(ctx: SyncContext, chain: LoadedChain, now: Date): Promise<Cursor | undefined> {
  const until = leaseEnd(ctx, now)
  const [row] = await ctx.db
    .update(chainCursors)
    .set({ leaseOwner: ctx.scanner.owner, leaseUntil: until })
    .where(
      and(
        eq(chainCursors.chain, chain.name),
        or(
          eq(chainCursors.leaseOwner, ctx.scanner.owner),
          lt(chainCursors.leaseUntil, now),
          sql`${chainCursors.leaseUntil} is null`,
        ),
      ),
    )
    .returning()
  if (row) return { height: row.height, hash: row.hash, haltedReason: row.haltedReason }
  const [exists] = await ctx.db
    .select({ chain: chainCursors.chain })
    .from(chainCursors)
    .where(eq(chainCursors.chain, chain.name))
  if (exists) return undefined
  const start = await initialCursor(chain)
  await ctx.db
    .insert(chainCursors)
    .values({
      chain: chain.name,
      height: start.height,
      hash: start.hash,
      leaseOwner: ctx.scanner.owner,
      leaseUntil: until,
    })
    .onConflictDoNothing()
  return acquireLease(ctx, chain, now)
}

/** The cursor sits on the block before the first one to scan; `-1` means "from genesis". */
async function initialCursor(chain: LoadedChain): Promise<{ height: bigint; hash: string }> {
  let start = chain.settings.startHeight !== undefined ? BigInt(chain.settings.startHeight) : undefined
  if (start === undefined) {
    const tip = await chain.driver.getTip()
    start = tip.height - BigInt(chain.driver.finalityDepth)
    if (start < 0n) start = 0n
  }
  if (start === 0n) return { height: -1n, hash: '' }
  const ref = await chain.driver.getBlockRef(start - 1n)
  return { height: ref.height, hash: ref.hash }
}

/** Finds the highest stored block the node still agrees with, at most `finalityDepth` below the cursor. */
async function findCommonAncestor(
  ctx: SyncContext,
  chain: LoadedChain,
  cursor: Cursor,
): Promise<BlockRef | { height: bigint; hash: string }> {
  const floor = cursor.height - BigInt(chain.driver.finalityDepth)
  const stored = await ctx.db
    .select()
    .from(blockRefs)
    .where(and(eq(blockRefs.chain, chain.name), gt(blockRefs.height, floor < -1n ? -1n : floor)))
  const byHeight = new Map(stored.map((b) => [b.height, b.hash]))
  for (let h = cursor.height - 1n; h > floor && h >= -1n; h--) {
    if (h === -1n) return { height: -1n, hash: '' }
    const ours = byHeight.get(h)
    if (ours === undefined) break
    const theirs = await chain.driver.getBlockRef(h)
    if (theirs.hash === ours) return theirs
  }
  throw new ReorgTooDeepError(chain.name, Number(cursor.height - floor))
}

/** Moves the chain back to `ancestor`: transfers above it are orphaned and their payments recomputed. */
async function rollBack(
  ctx: Pick<SyncContext, 'db' | 'leaseMs'>,
  chain: LoadedChain,
  ancestor: { height: bigint; hash: string },
  now: Date,
  /** The scanner doing it (its lease fences the write), or undefined for an operator's resume. */
  owner: string | undefined,
) {
  return ctx.db.transaction(async (tx) => {
    const orphaned = await tx
      .update(transfers)
      .set({ status: 'orphaned' })
      .where(and(eq(transfers.chain, chain.name), gt(transfers.blockHeight, ancestor.height)))
      .returning({ paymentId: transfers.paymentId })
    await tx
      .delete(blockRefs)
      .where(and(eq(blockRefs.chain, chain.name), gt(blockRefs.height, ancestor.height)))
    const moved = await tx
      .update(chainCursors)
      .set(
        owner
          ? { height: ancestor.height, hash: ancestor.hash, updatedAt: now, leaseUntil: leaseEnd(ctx, now) }
          : {
              height: ancestor.height,
              hash: ancestor.hash,
              updatedAt: now,
              haltedReason: null,
              leaseUntil: null,
            },
      )
      .where(
        owner
          ? and(eq(chainCursors.chain, chain.name), eq(chainCursors.leaseOwner, owner))
          : eq(chainCursors.chain, chain.name),
      )
      .returning({ chain: chainCursors.chain })
    if (moved.length === 0)
      throw new Error(`chain "${chain.name}": cursor not moved (lease lost, or no cursor yet)`)
    const ids = orphaned.flatMap((o) => (o.paymentId ? [o.paymentId] : []))
    return refreshPayments(tx, { paymentIds: ids, tips: new Map([[chain.name, ancestor.height]]), now })
  })
}

/**
 * An operator's way out of a halt (or a deliberate rescan): everything from `fromHeight` on is treated as not
 * yet seen: its transfers are orphaned and their payments recomputed, the cursor moves to the node's block
 * before it, and the scanner resumes there. Transfers still on the node's chain are found again and revived,
 * never doubled.
 *
 * @example
 * await resumeChain({ db }, chains.get('ethereum')!, 19_000_000n)
 */
export async function resumeChain(
  ctx: { db: Db; now?: () => Date },
  chain: LoadedChain,
  fromHeight: bigint,
): Promise<PaymentChange[]> {
  if (fromHeight < 0n) throw new Error('fromHeight must be 0 or more')
  const ancestor =
    fromHeight === 0n ? { height: -1n, hash: '' } : await chain.driver.getBlockRef(fromHeight - 1n)
  return rollBack(ctx, chain, ancestor, ctx.now?.() ?? new Date(), undefined)
}

/** Blocks must chain onto the cursor and onto each other; otherwise the node reorganized under us. */
function linked(cursor: Cursor, blocks: readonly BlockRef[]): boolean {
  let prev = cursor
  for (const b of blocks) {
    if (b.height !== prev.height + 1n) return false
    if (prev.height >= 0n && b.parentHash !== prev.hash) return false
    prev = { ...prev, height: b.height, hash: b.hash }
  }
  return true
}

/** Stores one scanned range: transfers, block refs and the cursor, plus the payment updates they cause. */
async function commitRange(
  ctx: SyncContext,
  chain: LoadedChain,
  watch: WatchSet,
  found: Transfer[],
  blocks: BlockRef[],
  now: Date,
): Promise<PaymentChange[]> {
  const last = blocks.at(-1)!
  return ctx.db.transaction(async (tx) => {
    const candidates = found.flatMap((t) => {
      const paymentId = watch.byKey.get(t.to)
      return paymentId ? [{ t, paymentId }] : []
    })
    const deadlines = new Map<string, Date>()
    let matched = candidates
    if (candidates.length > 0) {
      const rows = await tx
        .select({ id: payments.id, expiresAt: payments.expiresAt, asset: payments.asset })
        .from(payments)
        .where(inArray(payments.id, [...new Set(candidates.map((m) => m.paymentId))]))
      for (const r of rows) deadlines.set(r.id, r.expiresAt)
      // only the payment's own asset pays it: the gas tank's top-up of a token payment's address (or any other
      // coin sent there) is not a payment
      const assetOf = new Map(rows.map((r) => [r.id, r.asset]))
      matched = candidates.filter(({ t, paymentId }) => assetOf.get(paymentId) === t.asset)
    }
    if (matched.length > 0) {
      for (let i = 0; i < matched.length; i += 500) {
        await tx
          .insert(transfers)
          .values(
            matched.slice(i, i + 500).map(({ t, paymentId }) => ({
              id: newId('trf'),
              chain: chain.name,
              txHash: t.txHash,
              index: t.index,
              asset: t.asset,
              toAddress: t.to,
              fromAddress: t.from ?? null,
              amount: t.amount,
              blockHeight: t.block.height,
              blockHash: t.block.hash,
              paymentId,
              status: 'seen' as const,
              late: t.block.time * 1000 > (deadlines.get(paymentId)?.getTime() ?? Number.POSITIVE_INFINITY),
            })),
          )
          // the same transfer re-included after a reorg is revived, never stored twice
          .onConflictDoUpdate({
            target: [transfers.chain, transfers.txHash, transfers.index],
            set: {
              status: sql`case when ${transfers.status} = 'orphaned' then 'seen' else ${transfers.status} end`,
              blockHeight: sql`excluded.block_height`,
              blockHash: sql`excluded.block_hash`,
            },
          })
      }
    }
    await tx
      .insert(blockRefs)
      .values(
        blocks.map((b) => ({
          chain: chain.name,
          height: b.height,
          hash: b.hash,
          parentHash: b.parentHash,
          time: b.time,
        })),
      )
      .onConflictDoUpdate({
        target: [blockRefs.chain, blockRefs.height],
        set: { hash: sql`excluded.hash`, parentHash: sql`excluded.parent_hash`, time: sql`excluded.time` },
      })
    await tx
      .delete(blockRefs)
      .where(
        and(
          eq(blockRefs.chain, chain.name),
          lt(blockRefs.height, last.height - BigInt(chain.driver.finalityDepth) - 1n),
        ),
      )
    const fenced = await tx
      .update(chainCursors)
      .set({ height: last.height, hash: last.hash, updatedAt: now, leaseUntil: leaseEnd(ctx, now) })
      .where(and(eq(chainCursors.chain, chain.name), eq(chainCursors.leaseOwner, ctx.scanner.owner)))
      .returning({ chain: chainCursors.chain })
    if (fenced.length === 0) throw new Error(`chain "${chain.name}": lease lost; another scanner took over`)
    const ids = [...matched.map((m) => m.paymentId), ...(await paymentsAwaitingConfirmations(tx, chain.name))]
    return refreshPayments(tx, { paymentIds: ids, tips: new Map([[chain.name, last.height]]), now })
  })
}

/**
 * One scanner run for a chain: take the lease, handle a reorg, scan forward in adaptive ranges up to the tip
 * (or the deadline), and store each range atomically with the cursor. Jobs call this; it is safe to run
 * twice or to kill at any line, because the cursor only moves with the data of its range.
 *
 * @example
 * const result = await syncChain(ctx, chains.get('ethereum')!, { deadline: Date.now() + 10_000 })
 */
export async function syncChain(
  ctx: SyncContext,
  chain: LoadedChain,
  options: { deadline?: number } = {},
): Promise<SyncResult> {
  const now = () => ctx.now?.() ?? new Date()
  const deadline = options.deadline ?? Date.now() + 10_000
  let cursor = await acquireLease(ctx, chain, now())
  const result: SyncResult = {
    chain: chain.name,
    height: cursor?.height ?? -1n,
    tip: -1n,
    blocks: 0,
    transfers: 0,
    changes: [],
  }
  if (!cursor) return { ...result, busy: true }
  if (cursor.haltedReason) return { ...result, halted: cursor.haltedReason }

  const tip = await chain.driver.getTip()
  result.tip = tip.height
  if (cursor.height >= 0n && cursor.height <= tip.height) {
    const remote = await chain.driver.getBlockRef(cursor.height)
    if (remote.hash !== cursor.hash) {
      let ancestor: { height: bigint; hash: string }
      try {
        ancestor = await findCommonAncestor(ctx, chain, cursor)
      } catch (err) {
        if (err instanceof ReorgTooDeepError) {
          await ctx.db
            .update(chainCursors)
            .set({ haltedReason: err.message })
            .where(eq(chainCursors.chain, chain.name))
          ctx.log.error({ chain: chain.name, reorg_depth: err.depth }, err.message)
          return { ...result, halted: err.message, reorgDepth: err.depth }
        }
        throw err
      }
      const depth = Number(cursor.height - ancestor.height)
      ctx.log.warn(
        { chain: chain.name, reorg_depth: depth, ancestor: ancestor.height.toString() },
        'reorg: rolling back',
      )
      result.changes.push(...(await rollBack(ctx, chain, ancestor, now(), ctx.scanner.owner)))
      result.reorgDepth = depth
      cursor = { ...cursor, height: ancestor.height, hash: ancestor.hash }
    }
  }

  let watch = ctx.scanner.watch.get(chain.name) ?? chain.name
  watch = await refreshWatchSet(ctx, chain.driver, watch, {
    monitoringWindowMs: chain.settings.monitoringWindowMs,
  })
  ctx.scanner.watch.set(chain.name, watch)
  const watchKeys = new Set(watch.byKey.keys())

  let range = ctx.scanner.range.get(chain.name) ?? Math.min(10, chain.settings.maxRange)
  while (cursor.height < tip.height && Date.now() < deadline) {
    const from = cursor.height + 1n
    const to = from + BigInt(range) - 1n < tip.height ? from + BigInt(range) - 1n : tip.height
    let scanned: Awaited<ReturnType<typeof chain.driver.scan>>
    try {
      scanned = await chain.driver.scan({ from, to, watch: watchKeys })
    } catch (err) {
      // a smaller range next time; the job's retry/backoff handles the error itself
      ctx.scanner.range.set(chain.name, Math.max(1, Math.floor(range / 2)))
      throw err
    }
    const blocks = [...scanned.blocks].sort((a, b) => (a.height < b.height ? -1 : 1))
    if (blocks.length !== Number(to - from + 1n) || !linked(cursor, blocks)) {
      ctx.log.warn(
        { chain: chain.name, from: from.toString() },
        'blocks do not link onto the cursor; rechecking next run',
      )
      break
    }
    result.changes.push(...(await commitRange(ctx, chain, watch, scanned.transfers, blocks, now())))
    result.blocks += blocks.length
    result.transfers += scanned.transfers.filter((t) => watch.byKey.has(t.to)).length
    const last = blocks.at(-1)!
    cursor = { ...cursor, height: last.height, hash: last.hash }
    range = Math.min(chain.settings.maxRange, range * 2)
    ctx.scanner.range.set(chain.name, range)
  }
  result.height = cursor.height
  return result
}

/** Payments past their deadline that nothing moved yet: expire them (driven by the database, so a restart catches up). */
export async function expireDuePayments(
  ctx: { db: Db; now?: () => Date },
  limit = 500,
): Promise<PaymentChange[]> {
  const now = ctx.now?.() ?? new Date()
  const due = await ctx.db
    .select({ id: payments.id })
    .from(payments)
    .where(and(inArray(payments.status, ['PENDING', 'PARTIALLY_PAID']), lt(payments.expiresAt, now)))
    .limit(limit)
  if (due.length === 0) return []
  return ctx.db.transaction((tx) => refreshPayments(tx, { paymentIds: due.map((d) => d.id), now }))
}
