import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newScannerState } from '../../src/core/scanning/sync.ts'
import { createScanRunner } from '../../src/jobs/scan.ts'
import type { TestApp } from '../helpers/app.ts'
import { type FailoverScene, startFailoverScene } from '../helpers/failover.ts'
import { waitFor } from '../helpers/processes.ts'

let scene: FailoverScene
let app: TestApp

beforeAll(async () => {
  scene = await startFailoverScene()
  app = scene.app
})
afterAll(async () => {
  await scene?.stop()
})

describe('scan runner lease', () => {
  test('behavior: a live holder keeps its lease while idle (heartbeat); a standby stays out and watches nothing', async () => {
    const env = { ...app.ctx.env, SCANNER_LEASE_MS: 600 }
    const holder = createScanRunner({ ...app.ctx, env }, newScannerState())
    const standby = createScanRunner({ ...app.ctx, env }, newScannerState())
    const watching = { holder: 0, standby: 0 }
    const unwatchHolder = holder.whileHolding('devnet', () => {
      watching.holder++
      return () => watching.holder--
    })
    const unwatchStandby = standby.whileHolding('devnet', () => {
      watching.standby++
      return () => watching.standby--
    })
    try {
      await holder.trigger('devnet')
      await standby.trigger('devnet')
      // four leases long with nothing to scan: only the heartbeat keeps the holder's lease
      await Bun.sleep(2400)
      expect(await standby.trigger('devnet')).toMatchObject({ busy: true })
      expect(holder.holds('devnet')).toBe(true)
      expect(standby.holds('devnet')).toBe(false)
      expect(watching).toEqual({ holder: 1, standby: 0 })
      // a graceful stop hands over: the standby takes the lease at its next heartbeat and starts watching
      await holder.stop()
      expect(watching.holder).toBe(0)
      await waitFor('standby holds', () => standby.holds('devnet'), 5000)
      expect(watching.standby).toBe(1)
      expect(holder.holds('devnet')).toBe(false)
      // a stopped runner scans nothing and takes no lease back
      expect(await holder.trigger('devnet')).toMatchObject({ busy: true, blocks: 0 })
    } finally {
      unwatchHolder()
      unwatchStandby()
      await holder.stop()
      await standby.stop()
    }
    expect(watching).toEqual({ holder: 0, standby: 0 })
    expect(await scene.cursor()).toMatchObject({ leaseOwner: null, leaseUntil: null })
  }, 30_000)
})

describe('scanning workers as processes', () => {
  test('behavior: after SIGKILL of the holder, the standby takes over and detects a payment within seconds', async () => {
    const merchant = await app.merchant('Failover Kill')
    const leaseMs = 1500
    const takeovers: number[] = []
    const detections: number[] = []
    for (let round = 0; round < 3; round++) {
      const { holder, standby, owner } = await scene.pair(leaseMs)
      try {
        await holder.kill()
        const killedAt = Date.now()
        const payment = await scene.payNow(merchant.id)
        const taker = await scene.leaseTaken(owner)
        takeovers.push(Date.now() - killedAt)
        await payment.seen(15_000)
        detections.push(Date.now() - killedAt)
        await scene.heldBy(standby, taker)
      } finally {
        await standby.stop()
      }
    }
    console.log(`SIGKILL takeover ms: ${takeovers.join(', ')}; payment detected ms: ${detections.join(', ')}`)
    // the dead holder's lease runs out after at most SCANNER_LEASE_MS, and the standby looks every 400 ms;
    // the bound leaves room for a loaded machine while staying far below the former 30 s default
    for (const ms of takeovers) expect(ms).toBeLessThan(leaseMs + 3000)
  }, 120_000)

  test('behavior: after SIGTERM of the holder, the standby takes over without waiting for the lease', async () => {
    const merchant = await app.merchant('Failover Term')
    // a lease far longer than the handover may take: only the release lets the standby in this early
    const leaseMs = 60_000
    const takeovers: number[] = []
    for (let round = 0; round < 3; round++) {
      const { holder, standby, owner } = await scene.pair(leaseMs)
      try {
        const stoppedAt = Date.now()
        await holder.stop()
        expect(holder.output()).toContain('scan leases released')
        const payment = await scene.payNow(merchant.id)
        const taker = await scene.leaseTaken(owner)
        takeovers.push(Date.now() - stoppedAt)
        await scene.heldBy(standby, taker)
        await payment.seen(15_000)
      } finally {
        await standby.stop()
      }
    }
    console.log(`SIGTERM takeover ms (from the signal): ${takeovers.join(', ')}`)
    for (const ms of takeovers) expect(ms).toBeLessThan(leaseMs / 4)
  }, 120_000)
})
