import { describe, expect, test } from 'bun:test'
import { DriverError } from '@tollgate/sdk'
import { eq, sql } from 'drizzle-orm'
import { cursorOf, unitStage } from '../../../test/helpers/unit.ts'
import { chainCursors } from '../../db/schema/index.ts'
import { readScanStatus, recordTip } from './status.ts'

// What a scan run leaves for every other process to read: the node's tip and when it last moved, the last
// success, and the last failure as a code (never its message: node URLs carry API keys).

const { db, scene: setup } = await unitStage('status')

const statusOf = async (chain: string) => (await readScanStatus(db)).find((s) => s.chain === chain)!

/** Moves the recorded times an hour back, as if the run had been an hour ago. */
const anHourAgo = (chain: string) =>
  db
    .update(chainCursors)
    .set({
      lastScanAt: sql`now() - interval '1 hour'`,
      tipChangedAt: sql`now() - interval '1 hour'`,
    })
    .where(eq(chainCursors.chain, chain))

describe('scan status', () => {
  test("default: a run records the node's tip, that it succeeded, and when the tip moved", async () => {
    const { toy, sync } = setup()
    toy.mineEmpty(3)
    await sync()
    const s = await statusOf(toy.chain.name)
    expect(s).toMatchObject({
      scannedHeight: 3n,
      tip: 3n,
      lastScanAgeSeconds: 0,
      tipAgeSeconds: 0,
      lastErrorCode: null,
      failedRuns: 0,
      failingForSeconds: null,
    })
  })

  test('behavior: the tip counts as moved only when it went up', async () => {
    const { toy, sync, syncCtx } = setup()
    toy.mineEmpty(3)
    await sync()
    await anHourAgo(toy.chain.name)
    await sync() // same tip: a stale node looks like this
    let s = await statusOf(toy.chain.name)
    expect(s.lastScanAgeSeconds).toBe(0)
    expect(s.tipAgeSeconds).toBeGreaterThanOrEqual(3599)
    // a node answering a lower tip (a lagging one behind a load balancer) has not moved either
    await recordTip(db, syncCtx.scanner.owner, toy.chain.name, 1n)
    s = await statusOf(toy.chain.name)
    expect(s.tip).toBe(1n)
    expect(s.tipAgeSeconds).toBeGreaterThanOrEqual(3599)
    toy.mineEmpty(1)
    await sync()
    s = await statusOf(toy.chain.name)
    expect(s).toMatchObject({ tip: 4n, scannedHeight: 4n, tipAgeSeconds: 0 })
  })

  test('behavior: a failed run records its code, kind and step, never its message; a success ends the streak', async () => {
    const { toy, sync } = setup()
    toy.mineEmpty(2)
    await sync()
    toy.mineEmpty(2)
    const scan = toy.chain.driver.scan
    toy.chain.driver.scan = () =>
      Promise.reject(
        new DriverError(
          'RPC_ERROR',
          'eth_getLogs: HTTP request failed. URL: https://node.example/v3/SECRETKEY',
          {
            retryable: true,
          },
        ),
      )
    await expect(sync()).rejects.toThrow('SECRETKEY')
    await expect(sync()).rejects.toThrow('SECRETKEY')
    const failing = await statusOf(toy.chain.name)
    expect(failing).toMatchObject({
      lastErrorCode: 'RPC_ERROR',
      lastErrorKind: 'retryable',
      lastErrorStage: 'scan',
      failedRuns: 2,
      failingForSeconds: 0,
      // the tip was seen before the scan failed
      tip: 4n,
      scannedHeight: 2n,
    })
    expect(JSON.stringify(await cursorOf(db, toy.chain.name), (_k, v) => String(v))).not.toContain(
      'SECRETKEY',
    )

    toy.chain.driver.scan = scan
    await sync()
    expect(await statusOf(toy.chain.name)).toMatchObject({
      failedRuns: 0,
      failingForSeconds: null,
      scannedHeight: 4n,
      // the last error stays, with its time, for whoever looks later
      lastErrorCode: 'RPC_ERROR',
    })
  })

  test('behavior: an error of no known type is recorded as UNKNOWN, at the step it happened', async () => {
    const { toy, sync } = setup()
    toy.mineEmpty(1)
    await sync()
    toy.chain.driver.getTip = () => Promise.reject(new Error('connect ECONNREFUSED https://node.example/key'))
    await expect(sync()).rejects.toThrow('ECONNREFUSED')
    expect(await statusOf(toy.chain.name)).toMatchObject({
      lastErrorCode: 'UNKNOWN',
      lastErrorKind: 'retryable',
      lastErrorStage: 'tip',
      failedRuns: 1,
    })
  })

  test('behavior: only the lease holder records; another scanner leaves the record alone', async () => {
    const { toy, sync } = setup()
    toy.mineEmpty(2)
    await sync()
    await recordTip(db, 'scn_someone_else', toy.chain.name, 99n)
    expect((await statusOf(toy.chain.name)).tip).toBe(2n)
  })
})
