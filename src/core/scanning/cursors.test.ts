import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { cursorOf, silentLog, unitStage } from '../../../test/helpers/unit.ts'
import { blockRefs, payments, transfers } from '../../db/schema/index.ts'
import { GatewayError } from '../errors.ts'
import { acquireLease, advanceCursor, chainProgress, haltChain, releaseLeases } from './cursors.ts'
import { newScannerState, type SyncContext, syncChain } from './sync.ts'

const { db, scene: setup } = await unitStage('lease')
const log = silentLog

const t0 = new Date('2026-03-01T00:00:00Z')
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000)

describe('acquireLease', () => {
  test('default: the first scanner creates the cursor before genesis and holds the lease', async () => {
    const { toy } = setup()
    const cursor = await acquireLease({ db, owner: 'scn_a', leaseMs: 30_000 }, toy.chain, t0)
    expect(cursor).toEqual({ height: -1n, hash: '', haltedReason: null })
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: 'scn_a', leaseUntil: at(30) })
  })

  test('behavior: a cursor starts at the configured height, on the node block before it', async () => {
    const { toy } = setup({ settings: { startHeight: 4 } })
    toy.mineEmpty(6)
    const cursor = await acquireLease({ db, owner: 'scn_a' }, toy.chain, t0)
    expect(cursor).toEqual({ height: 3n, hash: toy.blocks[3]!.hash, haltedReason: null })
  })

  test('behavior: another owner is refused while the lease runs, and takes over once it ran out', async () => {
    const { toy } = setup()
    await acquireLease({ db, owner: 'scn_a', leaseMs: 30_000 }, toy.chain, t0)
    expect(await acquireLease({ db, owner: 'scn_b' }, toy.chain, at(29))).toBeUndefined()
    expect(await acquireLease({ db, owner: 'scn_a', leaseMs: 30_000 }, toy.chain, at(29))).toBeDefined()
    expect(await acquireLease({ db, owner: 'scn_b' }, toy.chain, at(58))).toBeUndefined() // renewed to 59 s
    expect(await acquireLease({ db, owner: 'scn_b', leaseMs: 30_000 }, toy.chain, at(60))).toBeDefined()
    expect(await acquireLease({ db, owner: 'scn_a' }, toy.chain, at(61))).toBeUndefined()
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: 'scn_b', leaseUntil: at(90) })
  })
})

describe('advanceCursor', () => {
  test('default: the holder moves the cursor and renews its lease', async () => {
    const { toy } = setup()
    toy.mineEmpty(2)
    const holder = { db, owner: 'scn_a', leaseMs: 30_000 }
    await acquireLease(holder, toy.chain, t0)
    await db.transaction((tx) => advanceCursor(tx, holder, toy.chain, toy.blocks[2]!, at(10)))
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({
      height: 2n,
      hash: toy.blocks[2]!.hash,
      leaseUntil: at(40),
      updatedAt: at(10),
    })
  })

  test('error: a scanner whose lease was taken over gets LEASE_LOST and the cursor stays', async () => {
    const { toy } = setup()
    toy.mineEmpty(2)
    const a = { db, owner: 'scn_a', leaseMs: 30_000 }
    await acquireLease(a, toy.chain, t0)
    await acquireLease({ db, owner: 'scn_b' }, toy.chain, at(31))
    const err = await db
      .transaction((tx) => advanceCursor(tx, a, toy.chain, toy.blocks[2]!, at(32)))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect(err).toMatchObject({ code: 'LEASE_LOST', kind: 'retryable' })
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: -1n, hash: '', leaseOwner: 'scn_b' })
  })
})

describe('releaseLeases', () => {
  test('default: a released lease is taken at once by another scanner, long before it would have run out', async () => {
    const { toy } = setup()
    const { toy: other } = setup()
    await acquireLease({ db, owner: 'scn_rel_a', leaseMs: 30_000 }, toy.chain, t0)
    await acquireLease({ db, owner: 'scn_rel_a', leaseMs: 30_000 }, other.chain, t0)
    expect((await releaseLeases(db, 'scn_rel_a')).sort()).toEqual([toy.chain.name, other.chain.name].sort())
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: null, leaseUntil: null })
    // with a clock behind the old holder's, too: no wait for the 30 s lease
    expect(await acquireLease({ db, owner: 'scn_rel_b', leaseMs: 30_000 }, toy.chain, at(-5))).toBeDefined()
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: 'scn_rel_b', leaseUntil: at(25) })
  })

  test('behavior: only the rows of the owner are released; a lease another scanner took stays with it', async () => {
    const { toy } = setup()
    const { toy: kept } = setup()
    await acquireLease({ db, owner: 'scn_rel_c', leaseMs: 1000 }, toy.chain, t0)
    await acquireLease({ db, owner: 'scn_rel_d', leaseMs: 30_000 }, toy.chain, at(2)) // took over after 1 s
    await acquireLease({ db, owner: 'scn_rel_e', leaseMs: 30_000 }, kept.chain, t0)
    expect(await releaseLeases(db, 'scn_rel_c')).toEqual([])
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: 'scn_rel_d', leaseUntil: at(32) })
    expect(await cursorOf(db, kept.chain.name)).toMatchObject({ leaseOwner: 'scn_rel_e', leaseUntil: at(30) })
  })

  test('error: a paused holder that released its lease cannot move the cursor or take it back after a takeover', async () => {
    const { toy } = setup()
    toy.mineEmpty(3)
    const old = { db, owner: 'scn_rel_f', leaseMs: 30_000 }
    await acquireLease(old, toy.chain, t0)
    await releaseLeases(db, old.owner)
    await acquireLease({ db, owner: 'scn_rel_g', leaseMs: 30_000 }, toy.chain, at(1))
    const err = await db
      .transaction((tx) => advanceCursor(tx, old, toy.chain, toy.blocks[3]!, at(2)))
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'LEASE_LOST', kind: 'retryable' })
    expect(await acquireLease(old, toy.chain, at(3))).toBeUndefined()
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: -1n, leaseOwner: 'scn_rel_g' })
  })

  test('error: hostile owners release nothing: empty, a pattern, SQL, another case, padding, a NUL', async () => {
    const { toy } = setup()
    await acquireLease({ db, owner: 'scn_rel_h', leaseMs: 30_000 }, toy.chain, t0)
    for (const owner of [
      '',
      '%',
      'scn_rel_%',
      "scn_rel_h' or '1'='1",
      'SCN_REL_H',
      'scn_rel_h ',
      'scn_rel_h\u0000',
    ]) {
      expect(await releaseLeases(db, owner).catch(() => [])).toEqual([])
    }
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ leaseOwner: 'scn_rel_h', leaseUntil: at(30) })
  })
})

describe('syncChain and the lease', () => {
  test('behavior: a second scanner with another owner is busy and scans nothing', async () => {
    const { toy } = setup()
    toy.mineEmpty(3)
    const first: SyncContext = { db, log, scanner: newScannerState() }
    const second: SyncContext = { db, log, scanner: newScannerState() }
    await syncChain(first, toy.chain)
    const scans = toy.scans.length
    toy.mineEmpty(2)
    const result = await syncChain(second, toy.chain)
    expect(result).toMatchObject({ busy: true, blocks: 0, changes: [] })
    expect(toy.scans.length).toBe(scans)
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({ height: 3n, leaseOwner: first.scanner.owner })
    // the holder carries on
    expect(await syncChain(first, toy.chain)).toMatchObject({ height: 5n, blocks: 2 })
  })

  test('error: a scanner whose lease is taken over mid-run throws LEASE_LOST and stores nothing of its range', async () => {
    const { toy, create } = setup({ confirmations: 1 })
    const p = await create(100n)
    toy.mineEmpty(2)
    toy.mine([{ txHash: '0x11', index: -1, asset: toy.native.id, to: p.address, amount: 100n }])
    const slow: SyncContext = { db, log, scanner: newScannerState(), leaseMs: 30_000 }
    const other = newScannerState()
    // while the slow scanner waits on its node, its lease runs out and another scanner takes the chain
    const stalled = {
      ...toy.chain,
      driver: {
        ...toy.chain.driver,
        scan: async (request: Parameters<typeof toy.chain.driver.scan>[0]) => {
          await acquireLease({ db, owner: other.owner }, toy.chain, new Date(Date.now() + 60_000))
          return toy.chain.driver.scan(request)
        },
      },
    }
    const err = await syncChain(slow, stalled).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GatewayError)
    expect(err).toMatchObject({ code: 'LEASE_LOST', kind: 'retryable' })
    expect(await cursorOf(db, toy.chain.name)).toMatchObject({
      height: -1n,
      hash: '',
      leaseOwner: other.owner,
    })
    expect(await db.select().from(transfers).where(eq(transfers.chain, toy.chain.name))).toEqual([])
    expect(await db.select().from(blockRefs).where(eq(blockRefs.chain, toy.chain.name))).toEqual([])
    const [row] = await db.select().from(payments).where(eq(payments.id, p.id))
    expect(row).toMatchObject({ status: 'PENDING', amountReceived: 0n, eventSeq: 1 })
  })

  test('behavior: a halted chain is not scanned, and chainProgress says why', async () => {
    const { toy } = setup()
    toy.mineEmpty(2)
    const ctx: SyncContext = { db, log, scanner: newScannerState() }
    await syncChain(ctx, toy.chain)
    await haltChain(db, toy.chain.name, 'operator says stop')
    toy.mineEmpty(2)
    const scans = toy.scans.length
    expect(await syncChain(ctx, toy.chain)).toMatchObject({ halted: 'operator says stop', blocks: 0 })
    expect(toy.scans.length).toBe(scans)
    const progress = (await chainProgress(db)).find((c) => c.chain === toy.chain.name)
    expect(progress).toMatchObject({ height: 2n, haltedReason: 'operator says stop' })
  })
})
