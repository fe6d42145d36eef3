import { afterAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { openUnitDb } from '../../../test/helpers/unit.ts'
import { outboundTxs, payoutPasses, withdrawals } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { readPayoutStatus, recordPayoutPass } from './pass-status.ts'

// What each payout pass leaves for every other process to read, and the backlog counted from the open rows.

const handle = await openUnitDb()
afterAll(() => handle.close())
const db = handle.db

const clean = { durationMs: 12, failedStages: [], failedSteps: [] }
const passOf = async (chain: string) => (await readPayoutStatus(db, [chain]))[0]!.lastPass

/** A withdrawal row of `status`, created `ageSeconds` ago. */
async function withdrawal(
  chain: string,
  status: 'QUEUED' | 'BATCHED' | 'BROADCAST' | 'CONFIRMED',
  ageSeconds = 0,
) {
  await db.insert(withdrawals).values({
    id: newId('wdr'),
    merchantId: 'mer_unit',
    chain,
    asset: `${chain}/slip44:1`,
    toAddress: 'toy42',
    amount: 1n,
    status,
    idempotencyKey: newId('idem'),
    requestHash: 'h',
    createdAt: sql`now() - make_interval(secs => ${ageSeconds})`,
  })
}

async function outbound(
  chain: string,
  status: 'built' | 'signed' | 'broadcast' | 'confirmed',
  ageSeconds = 0,
) {
  await db.insert(outboundTxs).values({
    id: newId('otx'),
    chain,
    purpose: 'withdrawal',
    fromAddress: 'toytreasury',
    fromPath: "m/44'/1'/1'/0/0",
    asset: `${chain}/slip44:1`,
    status,
    unsigned: {},
    maxFee: 1n,
    createdAt: sql`now() - make_interval(secs => ${ageSeconds})`,
  })
}

describe('recordPayoutPass', () => {
  test('default: a clean pass records when it finished and how long it took', async () => {
    await recordPayoutPass(db, 'clean', clean)
    expect(await passOf('clean')).toMatchObject({
      ageSeconds: 0,
      durationMs: 12,
      failedStages: [],
      failedSteps: 0,
      failingPasses: 0,
      failingSince: null,
      lastErrorCode: null,
    })
  })

  test('behavior: failing passes count up from the first failure; a clean one ends the streak and keeps the last error', async () => {
    await recordPayoutPass(db, 'flaky', clean)
    await recordPayoutPass(db, 'flaky', {
      durationMs: 1500,
      failedStages: [{ stage: 'batching', code: 'RPC_DEADLINE' }],
      failedSteps: [],
    })
    // the first failure's time stays the start of the streak
    await db
      .update(payoutPasses)
      .set({ failingSince: sql`now() - interval '10 minutes'` })
      .where(eq(payoutPasses.chain, 'flaky'))
    await recordPayoutPass(db, 'flaky', {
      durationMs: 30,
      failedStages: [],
      failedSteps: [{ code: 'RPC_ERROR' }],
    })
    expect(await passOf('flaky')).toMatchObject({
      failingPasses: 2,
      failedStages: [],
      failedSteps: 1,
      lastErrorCode: 'RPC_ERROR',
      lastErrorStage: 'step',
    })
    expect((await passOf('flaky'))?.failingForSeconds).toBeGreaterThanOrEqual(599)
    await recordPayoutPass(db, 'flaky', clean)
    expect(await passOf('flaky')).toMatchObject({
      failingPasses: 0,
      failingSince: null,
      failingForSeconds: null,
      lastErrorCode: 'RPC_ERROR',
    })
  })
})

describe('readPayoutStatus', () => {
  test('default: the backlog counts the open withdrawals and transactions of each chain, with the oldest ages', async () => {
    await withdrawal('busy', 'QUEUED', 40)
    await withdrawal('busy', 'QUEUED', 5)
    await withdrawal('busy', 'BATCHED', 20)
    await withdrawal('busy', 'BROADCAST', 90)
    await withdrawal('busy', 'CONFIRMED', 5000)
    await withdrawal('other', 'QUEUED', 7)
    await outbound('busy', 'signed', 30)
    await outbound('busy', 'broadcast', 80)
    await outbound('busy', 'confirmed', 9000)
    const [busy, other, idle] = await readPayoutStatus(db, ['busy', 'other', 'idle'])
    expect(busy?.queued.count).toBe(2)
    expect(busy?.queued.oldestAgeSeconds).toBeGreaterThanOrEqual(40)
    expect(busy?.queued.oldestAgeSeconds).toBeLessThan(60)
    expect(busy?.inFlight.count).toBe(2)
    expect(busy?.inFlight.oldestAgeSeconds).toBeGreaterThanOrEqual(90)
    expect(busy?.openTransactions.count).toBe(2)
    expect(busy?.openTransactions.oldestAgeSeconds).toBeGreaterThanOrEqual(80)
    expect(busy?.openTransactions.oldestAgeSeconds).toBeLessThan(1000)
    expect(other?.queued.count).toBe(1)
    expect(other?.inFlight).toEqual({ count: 0, oldestAgeSeconds: null })
    expect(idle).toEqual({
      chain: 'idle',
      lastPass: null,
      queued: { count: 0, oldestAgeSeconds: null },
      inFlight: { count: 0, oldestAgeSeconds: null },
      openTransactions: { count: 0, oldestAgeSeconds: null },
    })
  })
})
