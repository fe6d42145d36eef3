import { describe, expect, test } from 'bun:test'
import {
  chain,
  type DriverLogger,
  type KytAnswer,
  type PayoutSettings,
  type TollgateConfig,
} from '@tollgate/sdk'
import { and, asc, eq, sql } from 'drizzle-orm'
import { refundScene, refundSceneDb } from '../../../test/helpers/refund-scene.ts'
import {
  rejection,
  toyChain,
  toyPayouts,
  unitCredit,
  unitKeys,
  unitMerchant,
} from '../../../test/helpers/unit.ts'
import {
  auditLog,
  consoleUsers,
  kytChecks,
  ledgerPostings,
  withdrawalApprovals,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import {
  type ChainRegistry,
  type LoadedKytProvider,
  loadChains,
  PluginConfigError,
} from '../../plugins/registry.ts'
import { createApiKey } from '../access/api-keys.ts'
import { createConsoleUser } from '../access/console-users.ts'
import { listKytChecks } from '../compliance/queries.ts'
import { getBalances } from '../ledger/balances.ts'
import { approvalsRequired, expireStaleApprovals, listWithdrawalApprovals } from './approvals.ts'
import { canceledWhileHeldNote, screenWithdrawalCheck } from './withdrawal-screening.ts'
import { cancelWithdrawal, decideWithdrawal, requestWithdrawal } from './withdrawals.ts'

const handle = await refundSceneDb(6)
const { db } = handle
// above 0.005 TOY a withdrawal needs three distinct admin keys; the gateway's own settings as loadChains fills them
const toy = toyChain({ name: 'quorum', payouts: toyPayouts().driver })
toy.chain.settings.payouts.approvalAbove = new Map([[toy.native.id, 500_000n]])
toy.chain.settings.payouts.approvalsRequired = new Map([[toy.native.id, 3]])
toy.chain.settings.payouts.approvalExpiresAfterMs = 3_600_000
const chains = new Map([[toy.chain.name, toy.chain]]) as Map<string, typeof toy.chain>
const keys = unitKeys()
const ctx = { db, chains: chains as ChainRegistry, xpubFor: keys.xpubFor }

type Shop = { merchantId: string; requester: string; admins: string[]; names: string[] }

/** A merchant holding `amount` base units of TOY, with a requesting key and four admin keys of its own. */
async function shop(name: string, amount = 10_000_000n): Promise<Shop> {
  const merchantId = await unitMerchant(handle, name)
  await unitCredit(handle, merchantId, toy.chain.name, toy.native.id, amount)
  const key = async (keyName: string) => (await createApiKey({ db }, { merchantId, name: keyName })).id
  const names = ['alice', 'bob', 'carol', 'dave']
  return { merchantId, requester: await key('payouts bot'), admins: await Promise.all(names.map(key)), names }
}

let requestNo = 0
const request = async (s: Shop, amount = '0.006') =>
  (
    await requestWithdrawal(
      ctx,
      s.merchantId,
      { chain: toy.chain.name, asset: 'TOY', to: 'toy42', amount, idempotencyKey: `q-${++requestNo}` },
      { keyId: s.requester },
    )
  ).withdrawal

const decide = (s: Shop, id: string, keyId: string, approve = true, reason?: string) =>
  decideWithdrawal(ctx, s.merchantId, id, { approve, keyId, requestId: `req-${keyId}`, reason })

const balance = async (merchantId: string) => {
  const b = (await getBalances({ db }, merchantId)).find((x) => x.chain === toy.chain.name)
  return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
}
const statusOf = async (id: string) => (await db.select().from(withdrawals).where(eq(withdrawals.id, id)))[0]!
const eventsOf = (id: string) =>
  db
    .select()
    .from(withdrawalEvents)
    .where(eq(withdrawalEvents.withdrawalId, id))
    .orderBy(asc(withdrawalEvents.seq))
const auditOf = (id: string) =>
  db.select().from(auditLog).where(eq(auditLog.targetId, id)).orderBy(asc(auditLog.createdAt))

/** Everything a withdrawal's decisions can write: its row, events, approvals, audit entries, the balance. */
async function footprint(s: Shop, id: string) {
  const count = async (table: typeof ledgerPostings) =>
    (
      await db.select({ n: sql<number>`count(*)::int` }).from(table).where(eq(table.merchantId, s.merchantId))
    )[0]?.n
  return {
    row: await statusOf(id),
    events: await eventsOf(id),
    approvals: await listWithdrawalApprovals({ db }, id),
    audit: await auditOf(id),
    postings: await count(ledgerPostings),
    balance: await balance(s.merchantId),
  }
}

describe('settings', () => {
  const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
  const evmOptions = {
    chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls: ['http://127.0.0.1:1'],
  }
  const config = (payouts: PayoutSettings): TollgateConfig => ({
    chains: { devnet: chain(() => import('../../plugins/evm/index.ts'), evmOptions, { payouts }) },
  })
  const problem = async (payouts: PayoutSettings) => {
    const err = await loadChains(config(payouts), silent).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(PluginConfigError)
    return (err as PluginConfigError).problems
  }

  test('default: one approval, requests expire after 7 days; the quorum is read per asset', async () => {
    const plain = (await loadChains(config({ approvalAbove: { ETH: '1' } }), silent)).get('devnet')!
    expect(plain.settings.payouts.approvalsRequired).toEqual(new Map())
    expect(plain.settings.payouts.approvalExpiresAfterMs).toBe(7 * 24 * 3600 * 1000)
    const set = (
      await loadChains(
        config({ approvalAbove: { ETH: '1' }, approvalsRequired: { ETH: 10 }, approvalExpiresAfterMs: 0 }),
        silent,
      )
    ).get('devnet')!
    const eth = set.driver.nativeAsset.id
    expect(set.settings.payouts.approvalsRequired).toEqual(new Map([[eth, 10]]))
    expect(set.settings.payouts.approvalExpiresAfterMs).toBe(0)
    const registry: ChainRegistry = new Map([['devnet', set]])
    const w = (amount: bigint) => ({ chain: 'devnet', asset: eth, amount })
    expect(approvalsRequired(registry, w(10n ** 18n + 1n))).toBe(10)
    // at the threshold (and for a withdrawal held by screening below it) one approval decides
    expect(approvalsRequired(registry, w(10n ** 18n))).toBe(1)
    expect(approvalsRequired(undefined, w(10n ** 19n))).toBe(1)
  })

  test('error: a quorum outside 1..10, of an unknown asset or without a threshold is refused at boot', async () => {
    const where = 'chain "devnet" (module "../../plugins/evm/index.ts"): '
    for (const count of [0, 11, 1.5, -1, '2' as unknown as number])
      expect(await problem({ approvalAbove: { ETH: '1' }, approvalsRequired: { ETH: count } })).toEqual([
        `${where}payouts.approvalsRequired.ETH must be an integer from 1 to 10 (got ${JSON.stringify(count)})`,
      ])
    expect(await problem({ approvalAbove: { ETH: '1' }, approvalsRequired: { DOGE: 2 } })).toEqual([
      `${where}payouts.approvalsRequired: unknown asset "DOGE"`,
    ])
    expect(await problem({ approvalsRequired: { ETH: 2 } })).toEqual([
      `${where}payouts.approvalsRequired.ETH: no payouts.approvalAbove.ETH threshold, so no withdrawal of it awaits approval`,
    ])
    expect(await problem({ approvalExpiresAfterMs: -5 })).toEqual([
      `${where}payouts.approvalExpiresAfterMs must be a non-negative integer`,
    ])
  })
})

describe('decideWithdrawal with a quorum', () => {
  test('error: the requesting key cannot approve; nothing is written', async () => {
    const s = await shop('Self Quorum Shop')
    const w = await request(s)
    const before = await footprint(s, w.id)
    expect(await rejection(decide(s, w.id, s.requester))).toMatchObject({
      code: 'SELF_APPROVAL',
      field: 'id',
    })
    expect(await footprint(s, w.id)).toEqual(before)
    expect(before.approvals).toEqual([])
  })

  test('behavior: three distinct keys release it, only at the third; the same key twice is refused', async () => {
    const s = await shop('Quorum Shop')
    const w = await request(s)
    expect(w.status).toBe('AWAITING_APPROVAL')
    const [alice, bob, carol] = s.admins as [string, string, string]
    const first = await decide(s, w.id, alice, true, 'invoice 42')
    expect(first).toMatchObject({ status: 'AWAITING_APPROVAL', approvedByKey: null })
    // the same key again, approving or rejecting: refused, nothing written
    const before = await footprint(s, w.id)
    for (const approve of [true, false])
      expect(await rejection(decide(s, w.id, alice, approve))).toMatchObject({
        code: 'ALREADY_DECIDED',
        field: 'id',
      })
    expect(await footprint(s, w.id)).toEqual(before)
    expect((await decide(s, w.id, bob)).status).toBe('AWAITING_APPROVAL')
    expect(await balance(s.merchantId)).toEqual({ available: 9_400_000n, reserved: 600_000n })
    const released = await decide(s, w.id, carol)
    expect(released).toMatchObject({ status: 'QUEUED', approvedByKey: carol })
    expect(await balance(s.merchantId)).toEqual({ available: 9_400_000n, reserved: 600_000n })
    expect(
      (await eventsOf(w.id)).map((e) => ({ type: e.type, from: e.fromStatus, to: e.toStatus, data: e.data })),
    ).toEqual([
      { type: 'withdrawal.requested', from: null, to: 'AWAITING_APPROVAL', data: null },
      {
        type: 'withdrawal.approval_added',
        from: 'AWAITING_APPROVAL',
        to: 'AWAITING_APPROVAL',
        data: { approvals: 1, required: 3, keyId: alice },
      },
      {
        type: 'withdrawal.approval_added',
        from: 'AWAITING_APPROVAL',
        to: 'AWAITING_APPROVAL',
        data: { approvals: 2, required: 3, keyId: bob },
      },
      { type: 'withdrawal.queued', from: 'AWAITING_APPROVAL', to: 'QUEUED', data: null },
    ])
    expect(
      (await listWithdrawalApprovals({ db }, w.id)).map((a) => ({
        keyId: a.keyId,
        keyName: a.keyName,
        approve: a.approve,
        reason: a.reason,
      })),
    ).toEqual([
      { keyId: alice, keyName: 'alice', approve: true, reason: 'invoice 42' },
      { keyId: bob, keyName: 'bob', approve: true, reason: null },
      { keyId: carol, keyName: 'carol', approve: true, reason: null },
    ])
    expect(
      (await auditOf(w.id)).map((e) => ({
        actor: e.actor,
        action: e.action,
        req: e.requestId,
        data: e.data,
      })),
    ).toEqual([
      {
        actor: alice,
        action: 'withdrawal.approved',
        req: `req-${alice}`,
        data: { approvals: 1, required: 3, reason: 'invoice 42' },
      },
      { actor: bob, action: 'withdrawal.approved', req: `req-${bob}`, data: { approvals: 2, required: 3 } },
      {
        actor: carol,
        action: 'withdrawal.approved',
        req: `req-${carol}`,
        data: { approvals: 3, required: 3 },
      },
    ])
    // decided: a fourth key finds it no longer awaiting approval
    expect(await rejection(decide(s, w.id, s.admins[3]!))).toMatchObject({ code: 'INVALID_STATE' })
  })

  test('behavior: a rejection after approvals cancels it and releases the reserve', async () => {
    const s = await shop('Rejecting Quorum Shop')
    const w = await request(s, '0.007')
    await decide(s, w.id, s.admins[0]!)
    await decide(s, w.id, s.admins[1]!)
    expect(await balance(s.merchantId)).toEqual({ available: 9_300_000n, reserved: 700_000n })
    const rejected = await decide(s, w.id, s.admins[2]!, false, 'unknown recipient')
    expect(rejected).toMatchObject({ status: 'CANCELED', approvedByKey: null })
    expect(await balance(s.merchantId)).toEqual({ available: 10_000_000n, reserved: 0n })
    expect((await listWithdrawalApprovals({ db }, w.id)).map((a) => a.approve)).toEqual([true, true, false])
    expect((await auditOf(w.id)).at(-1)).toMatchObject({
      action: 'withdrawal.rejected',
      data: { approvals: 2, required: 3, reason: 'unknown recipient' },
    })
    // nothing more to decide, and the reserve is released once
    expect(await rejection(decide(s, w.id, s.admins[3]!, false))).toMatchObject({ code: 'INVALID_STATE' })
    expect(await balance(s.merchantId)).toEqual({ available: 10_000_000n, reserved: 0n })
  })

  test('behavior: approvals at the same moment are neither lost nor counted twice', async () => {
    const s = await shop('Concurrent Quorum Shop', 100_000_000n)
    for (let round = 0; round < 4; round++) {
      const w = await request(s)
      // two at once: both recorded, still short of three
      const pair = await Promise.all([decide(s, w.id, s.admins[0]!), decide(s, w.id, s.admins[1]!)])
      expect(pair.map((r) => r.status)).toEqual(['AWAITING_APPROVAL', 'AWAITING_APPROVAL'])
      // the third and a fourth at once: exactly one releases it, the other finds it decided
      const last = await Promise.allSettled([decide(s, w.id, s.admins[2]!), decide(s, w.id, s.admins[3]!)])
      expect(last.filter((r) => r.status === 'fulfilled').map((r) => r.value.status)).toEqual(['QUEUED'])
      expect(last.filter((r) => r.status === 'rejected').map((r) => r.reason.code)).toEqual(['INVALID_STATE'])
      expect((await statusOf(w.id)).status).toBe('QUEUED')
      expect(
        (await eventsOf(w.id)).map((e) => [e.type, (e.data as { approvals?: number } | null)?.approvals]),
      ).toEqual([
        ['withdrawal.requested', undefined],
        ['withdrawal.approval_added', 1],
        ['withdrawal.approval_added', 2],
        ['withdrawal.queued', undefined],
      ])
      expect(await listWithdrawalApprovals({ db }, w.id)).toHaveLength(3)
    }
  })

  test('error: an unknown id, another merchant’s withdrawal and a 10 KB reason are refused; nothing is written', async () => {
    const s = await shop('Hostile Quorum Shop')
    const stranger = await shop('Stranger Quorum Shop')
    const w = await request(s)
    await decide(s, w.id, s.admins[0]!)
    const before = await footprint(s, w.id)
    for (const approve of [true, false]) {
      expect(
        await rejection(decide(s, 'wd_00000000000000000000000000000000', s.admins[1]!, approve)),
      ).toMatchObject({ code: 'NOT_FOUND' })
      expect(await rejection(decide(stranger, w.id, stranger.admins[0]!, approve))).toMatchObject({
        code: 'NOT_FOUND',
      })
      expect(await rejection(decide(s, w.id, s.admins[1]!, approve, 'x'.repeat(10_240)))).toMatchObject({
        code: 'INVALID_INPUT',
        field: 'reason',
      })
    }
    expect(await footprint(s, w.id)).toEqual(before)
    const [strangers] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(withdrawalApprovals)
      .where(and(eq(withdrawalApprovals.keyId, stranger.admins[0]!)))
    expect(strangers?.n).toBe(0)
  })
})

describe('expireStaleApprovals', () => {
  test('behavior: a request awaiting approval past approvalExpiresAfterMs is canceled and released', async () => {
    const s = await shop('Expiring Quorum Shop')
    const stale = await request(s, '0.006')
    const fresh = await request(s, '0.007')
    const queued = await request(s, '0.001')
    await decide(s, stale.id, s.admins[0]!)
    const old = new Date(Date.now() - 3_600_001)
    for (const id of [stale.id, queued.id])
      await db.update(withdrawals).set({ createdAt: old }).where(eq(withdrawals.id, id))
    expect(await balance(s.merchantId)).toEqual({ available: 8_600_000n, reserved: 1_400_000n })
    // other chains' and this file's other withdrawals may be due too: repeat until none is
    let canceled = 0
    for (let n = await expireStaleApprovals(ctx); n > 0; n = await expireStaleApprovals(ctx)) canceled += n
    expect(canceled).toBeGreaterThanOrEqual(1)
    expect(await statusOf(stale.id)).toMatchObject({ status: 'CANCELED', failureReason: 'approval expired' })
    expect((await eventsOf(stale.id)).at(-1)).toMatchObject({
      type: 'withdrawal.canceled',
      fromStatus: 'AWAITING_APPROVAL',
      toStatus: 'CANCELED',
      data: { reason: 'approval expired' },
    })
    expect((await statusOf(fresh.id)).status).toBe('AWAITING_APPROVAL')
    expect((await statusOf(queued.id)).status).toBe('QUEUED')
    expect(await balance(s.merchantId)).toEqual({ available: 9_200_000n, reserved: 800_000n })
    expect(await rejection(decide(s, stale.id, s.admins[1]!))).toMatchObject({ code: 'INVALID_STATE' })
    expect(await expireStaleApprovals(ctx)).toBe(0)
    expect(await balance(s.merchantId)).toEqual({ available: 9_200_000n, reserved: 800_000n })
  })

  test('default: with approvalExpiresAfterMs 0 a request waits for its approvers however old', async () => {
    const s = await shop('Patient Quorum Shop')
    const w = await request(s)
    await db
      .update(withdrawals)
      .set({ createdAt: new Date(Date.now() - 365 * 24 * 3600_000) })
      .where(eq(withdrawals.id, w.id))
    toy.chain.settings.payouts.approvalExpiresAfterMs = 0
    try {
      expect(await expireStaleApprovals(ctx)).toBe(0)
    } finally {
      toy.chain.settings.payouts.approvalExpiresAfterMs = 3_600_000
    }
    expect((await statusOf(w.id)).status).toBe('AWAITING_APPROVAL')
  })
})

describe('refunds above the threshold', () => {
  test('behavior: a refund’s payout needs the quorum too, and its rejection returns the balance', async () => {
    const merchantId = await unitMerchant(handle, 'Refund Quorum Shop')
    const key = async (name: string) => (await createApiKey({ db }, { merchantId, name })).id
    const refunder = await key('refunder')
    const r = refundScene(handle, { merchantId, name: 'quorumrefunds', actor: { keyId: refunder } })
    const native = r.toy.native.id
    r.toy.chain.settings.payouts.approvalAbove = new Map([[native, 50n]])
    r.toy.chain.settings.payouts.approvalsRequired = new Map([[native, 2]])
    const rctx = { db, chains: r.ctx.chains }
    const s: Shop = {
      merchantId,
      requester: refunder,
      admins: [await key('eve'), await key('frank')],
      names: [],
    }
    const balanceOf = async () => {
      const b = (await getBalances({ db }, merchantId)).find((x) => x.chain === r.chain)
      return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
    }
    const paid = async () => {
      const p = await r.create(100n)
      await r.deposit(p, 100n)
      return p
    }
    const p1 = await paid()
    const p2 = await paid()
    expect(await balanceOf()).toEqual({ available: 200n, reserved: 0n })
    const approve = (id: string, keyId: string, yes = true) =>
      decideWithdrawal(rctx, merchantId, id, { approve: yes, keyId })

    const { refund } = await r.refund(p1, { to: 'toybuyer', amount: r.units(60n) })
    const wid = refund.withdrawalId!
    expect((await statusOf(wid)).status).toBe('AWAITING_APPROVAL')
    expect(await rejection(approve(wid, refunder))).toMatchObject({ code: 'SELF_APPROVAL' })
    expect((await approve(wid, s.admins[0]!)).status).toBe('AWAITING_APPROVAL')
    expect(await rejection(approve(wid, s.admins[0]!))).toMatchObject({ code: 'ALREADY_DECIDED' })
    expect((await approve(wid, s.admins[1]!)).status).toBe('QUEUED')

    const second = (await r.refund(p2, { to: 'toybuyer', amount: r.units(70n) })).refund
    expect(await balanceOf()).toEqual({ available: 70n, reserved: 130n })
    await approve(second.withdrawalId!, s.admins[0]!)
    expect((await approve(second.withdrawalId!, s.admins[1]!, false)).status).toBe('CANCELED')
    expect(await balanceOf()).toEqual({ available: 140n, reserved: 60n })
  })
})

describe('withdrawals held by screening', () => {
  // every destination is graded `review`: the policy holds the withdrawal for approval with a HELD check
  const reviewing: LoadedKytProvider = {
    name: 'reviewer-list',
    module: 'test',
    provider: {
      async screen(): Promise<KytAnswer> {
        return {
          verdict: 'review',
          categories: ['high risk exchange'],
          reasons: [],
          source: { provider: 'reviewer-list', version: 'v1' },
        }
      },
    },
  }
  const screened = { ...ctx, compliance: { providers: [reviewing], policy: undefined, timeoutMs: 2000 } }
  const heldRequest = async (s: Shop, amount: string) =>
    (
      await requestWithdrawal(
        screened,
        s.merchantId,
        { chain: toy.chain.name, asset: 'TOY', to: 'toy43', amount, idempotencyKey: `held-${++requestNo}` },
        { keyId: s.requester },
      )
    ).withdrawal
  const checkOf = async (id: string) =>
    (
      await db
        .select()
        .from(kytChecks)
        .where(and(eq(kytChecks.subjectType, 'withdrawal'), eq(kytChecks.subjectId, id)))
    )[0]!
  const heldQueue = async (merchantId: string) =>
    (await listKytChecks({ db }, merchantId, { state: 'held' })).rows.map((c) => c.subjectId)

  test('behavior: the approval reaching the quorum releases its held check, with who, when and the reason', async () => {
    const s = await shop('Held Quorum Shop')
    const w = await heldRequest(s, '0.006')
    expect(w.status).toBe('AWAITING_APPROVAL')
    expect(await checkOf(w.id)).toMatchObject({ state: 'held', reason: 'KYT_REVIEW', decidedBy: null })
    expect(await heldQueue(s.merchantId)).toEqual([w.id])
    const [alice, bob, carol] = s.admins as [string, string, string]
    await decide(s, w.id, alice, true, 'known supplier')
    await decide(s, w.id, bob)
    // short of the quorum the screening still waits
    expect(await heldQueue(s.merchantId)).toEqual([w.id])
    const before = Date.now()
    expect((await decide(s, w.id, carol, true, 'invoice checked')).status).toBe('QUEUED')
    const check = await checkOf(w.id)
    expect(check).toMatchObject({ state: 'released', decidedBy: carol, note: 'invoice checked' })
    expect(check.decidedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000)
    expect(await heldQueue(s.merchantId)).toEqual([])
  })

  test('behavior: a rejection rejects its held check; without a reason the note stays empty', async () => {
    const s = await shop('Held Rejecting Shop')
    const w = await heldRequest(s, '0.001')
    expect(await heldQueue(s.merchantId)).toEqual([w.id])
    expect((await decide(s, w.id, s.admins[0]!, false, 'unknown recipient')).status).toBe('CANCELED')
    expect(await checkOf(w.id)).toMatchObject({
      state: 'rejected',
      decidedBy: s.admins[0],
      note: 'unknown recipient',
    })
    const other = await heldRequest(s, '0.001')
    expect((await decide(s, other.id, s.admins[1]!, false)).status).toBe('CANCELED')
    expect(await checkOf(other.id)).toMatchObject({ state: 'rejected', decidedBy: s.admins[1], note: null })
    expect(await heldQueue(s.merchantId)).toEqual([])
  })

  test('behavior: a withdrawal canceled while its screening was unanswered: the late hold is rejected at once, never queued for review', async () => {
    let answering = false
    const flaky: LoadedKytProvider = {
      name: 'flaky-reviewer',
      module: 'test',
      provider: {
        async screen(): Promise<KytAnswer> {
          if (!answering) throw new Error('provider unreachable')
          return {
            verdict: 'review',
            categories: ['high risk exchange'],
            reasons: [],
            source: { provider: 'flaky-reviewer', version: 'v1' },
          }
        },
      },
    }
    const later = { ...ctx, compliance: { providers: [flaky], policy: undefined, timeoutMs: 2000 } }
    const s = await shop('Late Hold Shop')
    const { withdrawal: w } = await requestWithdrawal(
      later,
      s.merchantId,
      {
        chain: toy.chain.name,
        asset: 'TOY',
        to: 'toy43',
        amount: '0.001',
        idempotencyKey: `late-${++requestNo}`,
      },
      { keyId: s.requester },
    )
    expect(w.status).toBe('SCREENING')
    expect((await checkOf(w.id)).state).toBe('pending')
    await cancelWithdrawal({ db }, s.merchantId, w.id, { keyId: s.requester })
    answering = true
    const outcome = await screenWithdrawalCheck(later, toy.chain, await checkOf(w.id))
    expect(outcome.kind).toBe('decided')
    expect(await checkOf(w.id)).toMatchObject({
      state: 'rejected',
      decidedBy: 'system:cancel',
      note: canceledWhileHeldNote,
    })
    expect(await heldQueue(s.merchantId)).toEqual([])
  })

  test('behavior: a held withdrawal canceled or left to expire rejects its check, which leaves the review queue', async () => {
    const s = await shop('Held Ending Shop')
    const canceled = await heldRequest(s, '0.001')
    const stale = await heldRequest(s, '0.002')
    expect((await heldQueue(s.merchantId)).sort()).toEqual([canceled.id, stale.id].sort())
    expect((await cancelWithdrawal(ctx, s.merchantId, canceled.id, { keyId: s.requester })).status).toBe(
      'CANCELED',
    )
    expect(await checkOf(canceled.id)).toMatchObject({
      state: 'rejected',
      decidedBy: s.requester,
      note: 'withdrawal canceled while held',
    })
    await db
      .update(withdrawals)
      .set({ createdAt: new Date(Date.now() - 3_600_001) })
      .where(eq(withdrawals.id, stale.id))
    while ((await expireStaleApprovals(ctx)) > 0) {}
    expect(await statusOf(stale.id)).toMatchObject({ status: 'CANCELED', failureReason: 'approval expired' })
    expect(await checkOf(stale.id)).toMatchObject({
      state: 'rejected',
      decidedBy: 'system:approval-expiry',
      note: 'approval expired',
    })
    expect(await heldQueue(s.merchantId)).toEqual([])
  })
})

describe('console users deciding', () => {
  const password = 'correct horse battery staple 42'
  const user = async (displayName: string, merchantId: string) =>
    (
      await createConsoleUser(
        { db },
        {
          email: `${crypto.randomUUID()}@example.com`,
          displayName,
          password,
          membership: { merchantId, role: 'approver' },
        },
      )
    ).id

  test('behavior: a console user’s decision keeps their display name as it was, not user:<id>', async () => {
    const s = await shop('Console Quorum Shop')
    const ada = await user('Ada Approver', s.merchantId)
    const rex = await user('Rex Rejecter', s.merchantId)
    const approved = await request(s)
    await decide(s, approved.id, `user:${ada}`, true, 'invoice 7')
    const rejected = await request(s)
    await decide(s, rejected.id, `user:${rex}`, false)
    // renamed later: the decision keeps the name it was made under
    await db.update(consoleUsers).set({ displayName: 'Ada Renamed' }).where(eq(consoleUsers.id, ada))
    expect(
      (await listWithdrawalApprovals({ db }, approved.id)).map((a) => [a.keyId, a.keyName, a.approve]),
    ).toEqual([[`user:${ada}`, 'Ada Approver', true]])
    expect(
      (await listWithdrawalApprovals({ db }, rejected.id)).map((a) => [a.keyId, a.keyName, a.approve]),
    ).toEqual([[`user:${rex}`, 'Rex Rejecter', false]])
  })

  test('error: a user of another merchant is not named by this one’s approvals (their id is kept)', async () => {
    const s = await shop('Console Stranger Shop')
    const elsewhere = await shop('Console Elsewhere Shop')
    const eve = await user('Eve Elsewhere', elsewhere.merchantId)
    const w = await request(s)
    await decide(s, w.id, `user:${eve}`)
    expect((await listWithdrawalApprovals({ db }, w.id)).map((a) => a.keyName)).toEqual([`user:${eve}`])
  })
})
