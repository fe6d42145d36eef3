import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { openUnitDb, toyChain, toyPayouts, unitCredit, unitMerchant } from '../../../test/helpers/unit.ts'
import type { DbHandle, Tx } from '../../db/client.ts'
import { ledgerPostings, withdrawalEvents, withdrawals } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { type ErrorCode, TollgateError } from '../errors.ts'
import { getBalances } from '../ledger/balances.ts'
import { cancelWithdrawal, decideWithdrawal, listWithdrawalEvents, requestWithdrawal } from './withdrawals.ts'

let handle: DbHandle
const payouts = toyPayouts()
// 0.005 TOY and more needs an admin's approval
const toy = toyChain({ payouts: payouts.driver })
toy.chain.settings.payouts.approvalAbove = new Map([[toy.native.id, 500_000n]])
const bare = toyChain({ name: 'bare' })
const chains: ChainRegistry = new Map([
  [toy.chain.name, toy.chain],
  [bare.chain.name, bare.chain],
])
let ctx: { db: DbHandle['db']; chains: ChainRegistry }

// the first database of a test process migrates the template: seconds on a busy machine
beforeAll(async () => {
  handle = await openUnitDb()
  ctx = { db: handle.db, chains }
}, 30_000)
afterAll(() => handle.close())

/** A merchant holding `amount` base units of TOY (8 decimals). */
async function funded(name: string, amount = 1_000_000n): Promise<string> {
  const merchantId = await unitMerchant(handle, name)
  await unitCredit(handle, merchantId, toy.chain.name, toy.native.id, amount)
  return merchantId
}

async function balance(merchantId: string, asset = toy.native.id) {
  const b = (await getBalances({ db: handle.db }, merchantId)).find((x) => x.asset === asset)
  return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
}

/** Everything a merchant's withdrawals left in the database: rows, events, ledger postings. */
async function footprint(merchantId: string) {
  const count = async (table: typeof withdrawals | typeof withdrawalEvents | typeof ledgerPostings) => {
    const [row] = await handle.db
      .select({ n: sql<number>`count(*)::int` })
      .from(table)
      .where(eq(table.merchantId, merchantId))
    return row?.n ?? 0
  }
  return {
    withdrawals: await count(withdrawals),
    events: await count(withdrawalEvents),
    postings: await count(ledgerPostings),
  }
}

let keys = 0
const request = (merchantId: string, input: Partial<Parameters<typeof requestWithdrawal>[2]> = {}) =>
  requestWithdrawal(ctx, merchantId, {
    chain: 'toy',
    asset: 'TOY',
    to: 'toy42',
    amount: '0.003',
    idempotencyKey: `key-${++keys}`,
    ...input,
  })

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  )

describe('requestWithdrawal', () => {
  test('default: a request reserves exactly its amount and is QUEUED with its first event', async () => {
    const merchantId = await funded('Request Shop')
    const { withdrawal, replayed } = await request(merchantId, { amount: '0.00300001', to: 'TOY42' })
    expect(replayed).toBe(false)
    expect(withdrawal).toMatchObject({
      chain: 'toy',
      asset: toy.native.id,
      toAddress: 'toy42',
      amount: 300_001n,
      status: 'QUEUED',
    })
    expect(await balance(merchantId)).toEqual({ available: 699_999n, reserved: 300_001n })
    const events = await listWithdrawalEvents({ db: handle.db }, withdrawal.id)
    expect(events.map((e) => [e.seq, e.type, e.toStatus])).toEqual([[1, 'withdrawal.requested', 'QUEUED']])
    const reserve = await handle.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.refId, `${withdrawal.id}#reserve`))
    expect(reserve.map((p) => p.amount).sort()).toEqual([-300_001n, 300_001n])
  })

  test('behavior: the whole available balance can be withdrawn, one base unit more cannot', async () => {
    const merchantId = await funded('Exact Shop', 400_000n)
    const err = await failure(request(merchantId, { amount: '0.00400001' }))
    expect(err).toMatchObject({ code: 'INSUFFICIENT_BALANCE', field: 'amount' })
    expect(await footprint(merchantId)).toEqual({ withdrawals: 0, events: 0, postings: 2 })
    await request(merchantId, { amount: '0.004' })
    expect(await balance(merchantId)).toEqual({ available: 0n, reserved: 400_000n })
  })

  test('behavior: two requests cannot together spend more than the available balance', async () => {
    const merchantId = await funded('Racing Shop', 1_000_000n)
    const results = await Promise.allSettled([
      request(merchantId, { amount: '0.006' }),
      request(merchantId, { amount: '0.006' }),
    ])
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    const rejected = results.filter((r) => r.status === 'rejected')
    expect(fulfilled.length).toBe(1)
    expect(rejected.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['INSUFFICIENT_BALANCE'])
    expect(await balance(merchantId)).toEqual({ available: 400_000n, reserved: 600_000n })
    // the refused one left nothing behind
    expect(await footprint(merchantId)).toEqual({ withdrawals: 1, events: 1, postings: 4 })
    // and what is reserved is no longer available to the next one
    expect(await failure(request(merchantId, { amount: '0.004001' }))).toMatchObject({
      code: 'INSUFFICIENT_BALANCE',
    })
  })

  test('behavior: a request checks and reserves while holding the lock of that merchant’s balance', async () => {
    // PGlite runs one transaction at a time, so the race itself cannot happen here: what this proves is that
    // the transaction that reserves holds the (merchant, chain, asset) lock that serializes it on Postgres
    const merchantId = await funded('Locked Shop', 1_000_000n)
    const held: boolean[] = []
    const spying = {
      ...ctx,
      db: new Proxy(handle.db, {
        get(target, prop, receiver) {
          if (prop !== 'transaction') return Reflect.get(target, prop, receiver)
          return (body: (tx: Tx) => Promise<unknown>) =>
            target.transaction(async (tx) => {
              const result = await body(tx)
              const key = `${merchantId}|toy|${toy.native.id}`
              const rows = (await tx.execute(
                sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()
                    and ((classid::bigint << 32) | objid::bigint) = hashtextextended(${key}, 0)`,
              )) as unknown as { rows: Array<{ n: number }> }
              held.push(rows.rows[0]?.n === 1)
              return result
            })
        },
      }),
    }
    await requestWithdrawal(spying, merchantId, {
      chain: 'toy',
      asset: 'TOY',
      to: 'toy42',
      amount: '0.003',
      idempotencyKey: 'locked-1',
    })
    expect(held).toEqual([true])
  })

  test('behavior: the same key with the same parameters is the same withdrawal, reserved once', async () => {
    const merchantId = await funded('Idempotent Shop', 1_000_000n)
    const input = { idempotencyKey: 'payout-1', amount: '0.003', to: 'toy42' }
    const first = await request(merchantId, input)
    // the same request, spelled differently (trailing zero, address case, asset id instead of symbol)
    const again = await request(merchantId, { ...input, amount: '0.0030', to: 'TOY42', asset: toy.native.id })
    const racing = await Promise.all([request(merchantId, input), request(merchantId, input)])
    for (const r of [again, ...racing]) {
      expect(r.replayed).toBe(true)
      expect(r.withdrawal.id).toBe(first.withdrawal.id)
    }
    expect(await balance(merchantId)).toEqual({ available: 700_000n, reserved: 300_000n })
    expect(await footprint(merchantId)).toEqual({ withdrawals: 1, events: 1, postings: 4 })
  })

  test('behavior: a replay is answered even when the balance no longer covers it', async () => {
    const merchantId = await funded('Replay Shop', 300_000n)
    const first = await request(merchantId, { idempotencyKey: 'all-of-it' })
    const again = await request(merchantId, { idempotencyKey: 'all-of-it' })
    expect(again).toEqual({ withdrawal: first.withdrawal, replayed: true })
  })

  test('error: the same key with other parameters is IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const merchantId = await funded('Reuse Shop', 1_000_000n)
    await request(merchantId, { idempotencyKey: 'payout-2' })
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId)) }
    for (const other of [{ amount: '0.002' }, { to: 'toy43' }, { asset: 'TOK', amount: '0.003' }]) {
      const err = await failure(request(merchantId, { idempotencyKey: 'payout-2', ...other }))
      expect(err).toBeInstanceOf(TollgateError)
      expect(err).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'idempotencyKey' })
    }
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId)) }).toEqual(before)
  })

  test('behavior: idempotency keys and balances are per merchant', async () => {
    const rich = await funded('Rich Shop', 1_000_000n)
    const poor = await unitMerchant(handle, 'Poor Shop')
    const mine = await request(rich, { idempotencyKey: 'shared-key' })
    // another merchant's key is not this one's, and another merchant's funds are not this one's
    expect(await failure(request(poor, { idempotencyKey: 'shared-key' }))).toMatchObject({
      code: 'INSUFFICIENT_BALANCE',
    })
    expect(await footprint(poor)).toEqual({ withdrawals: 0, events: 0, postings: 0 })
    expect(await balance(rich)).toEqual({ available: 700_000n, reserved: 300_000n })
    expect(mine.replayed).toBe(false)
  })

  test('error: hostile input gets a typed error and leaves no rows', async () => {
    const merchantId = await funded('Hostile Shop', 10n ** 18n)
    const before = await footprint(merchantId)
    const cases: Array<[Partial<Parameters<typeof requestWithdrawal>[2]>, ErrorCode, string]> = [
      [{ to: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }, 'INVALID_ADDRESS', 'to'],
      [{ to: '' }, 'INVALID_ADDRESS', 'to'],
      [{ to: 'toy 42' }, 'INVALID_ADDRESS', 'to'],
      [{ to: `toy${'a'.repeat(300)}` }, 'INVALID_ADDRESS', 'to'],
      [{ to: 42 as never }, 'INVALID_ADDRESS', 'to'],
      [{ amount: '0' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '0.00000000' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '-1' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '-0.001' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '0.000000001' }, 'INVALID_AMOUNT', 'amount'],
      [{ asset: 'TOK', amount: '0.0000001' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '1e3' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '0x10' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: ' 1' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: 'NaN' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '00.1' }, 'INVALID_AMOUNT', 'amount'],
      [{ amount: '1'.repeat(101) }, 'INVALID_AMOUNT', 'amount'],
      [{ asset: 'ETH' }, 'UNKNOWN_ASSET', 'asset'],
      [{ asset: 'toy:toy/slip44:60' }, 'UNKNOWN_ASSET', 'asset'],
      [{ chain: 'ethereum' }, 'UNKNOWN_CHAIN', 'chain'],
      [{ chain: 'bare' }, 'PAYOUTS_UNSUPPORTED', 'chain'],
      [{ idempotencyKey: '' }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ idempotencyKey: 'k\u0000' }, 'INVALID_INPUT', 'idempotencyKey'],
      [{ idempotencyKey: 'k'.repeat(256) }, 'INVALID_INPUT', 'idempotencyKey'],
    ]
    for (const [input, code, field] of cases) {
      const err = await failure(request(merchantId, input))
      expect({ input, err }).toMatchObject({ input, err: expect.any(TollgateError) })
      expect({ input, code: (err as TollgateError).code, field: (err as TollgateError).field }).toEqual({
        input,
        code,
        field,
      })
    }
    expect(await footprint(merchantId)).toEqual(before)
    expect(await balance(merchantId)).toEqual({ available: 10n ** 18n, reserved: 0n })
  })

  test('error: an amount below the driver’s smallest output is INVALID_AMOUNT', async () => {
    const dusty = toyPayouts()
    dusty.driver.minOutput = () => 546n
    const chain = toyChain({ name: 'dusty', payouts: dusty.driver }).chain
    const merchantId = await unitMerchant(handle, 'Dusty Shop')
    await unitCredit(handle, merchantId, 'dusty', chain.driver.nativeAsset.id, 1_000n)
    const dustCtx = { db: handle.db, chains: new Map([['dusty', chain]]) }
    const ask = (amount: string, key: string) =>
      requestWithdrawal(dustCtx, merchantId, {
        chain: 'dusty',
        asset: 'TOY',
        to: 'toy1',
        amount,
        idempotencyKey: key,
      })
    expect(await failure(ask('0.00000545', 'd1'))).toMatchObject({ code: 'INVALID_AMOUNT', field: 'amount' })
    expect((await ask('0.00000546', 'd2')).withdrawal.amount).toBe(546n)
  })
})

describe('cancel and approval', () => {
  test('behavior: cancel releases the reserve exactly once', async () => {
    const merchantId = await funded('Cancel Shop', 1_000_000n)
    const { withdrawal } = await request(merchantId)
    const canceled = await cancelWithdrawal({ db: handle.db }, merchantId, withdrawal.id)
    expect(canceled.status).toBe('CANCELED')
    expect(await balance(merchantId)).toEqual({ available: 1_000_000n, reserved: 0n })
    const again = await failure(cancelWithdrawal({ db: handle.db }, merchantId, withdrawal.id))
    expect(again).toMatchObject({ code: 'INVALID_STATE' })
    expect(await balance(merchantId)).toEqual({ available: 1_000_000n, reserved: 0n })
    const events = await listWithdrawalEvents({ db: handle.db }, withdrawal.id)
    expect(events.map((e) => e.type)).toEqual(['withdrawal.requested', 'withdrawal.canceled'])
  })

  test('behavior: racing cancels release once', async () => {
    const merchantId = await funded('Racing Cancel Shop', 1_000_000n)
    const { withdrawal } = await request(merchantId)
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => cancelWithdrawal({ db: handle.db }, merchantId, withdrawal.id)),
    )
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1)
    expect(await balance(merchantId)).toEqual({ available: 1_000_000n, reserved: 0n })
    expect(await footprint(merchantId)).toEqual({ withdrawals: 1, events: 2, postings: 6 })
  })

  test('error: a withdrawal on its way to the chain cannot be canceled', async () => {
    const merchantId = await funded('Late Cancel Shop', 1_000_000n)
    const { withdrawal } = await request(merchantId)
    for (const status of ['BATCHED', 'BROADCAST', 'CONFIRMED', 'FAILED'] as const) {
      await handle.db.update(withdrawals).set({ status }).where(eq(withdrawals.id, withdrawal.id))
      const err = await failure(cancelWithdrawal({ db: handle.db }, merchantId, withdrawal.id))
      expect(err).toMatchObject({ code: 'INVALID_STATE' })
    }
    expect(await balance(merchantId)).toEqual({ available: 700_000n, reserved: 300_000n })
  })

  test('error: another merchant’s withdrawal is NOT_FOUND and stays as it was', async () => {
    const owner = await funded('Owner Shop', 1_000_000n)
    const stranger = await unitMerchant(handle, 'Stranger Shop')
    const { withdrawal } = await request(owner)
    for (const attempt of [
      cancelWithdrawal({ db: handle.db }, stranger, withdrawal.id),
      decideWithdrawal({ db: handle.db }, stranger, withdrawal.id, { approve: false, keyId: 'key_x' }),
    ])
      expect(await failure(attempt)).toMatchObject({ code: 'NOT_FOUND' })
    expect(await balance(owner)).toEqual({ available: 700_000n, reserved: 300_000n })
    const [row] = await handle.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id))
    expect(row?.status).toBe('QUEUED')
  })

  test('behavior: above the threshold a request awaits approval with its amount reserved; approval queues it', async () => {
    const merchantId = await funded('Approval Shop', 2_000_000n)
    const { withdrawal } = await request(merchantId, { amount: '0.00500001' })
    expect(withdrawal.status).toBe('AWAITING_APPROVAL')
    // exactly at the threshold needs none
    expect((await request(merchantId, { amount: '0.005' })).withdrawal.status).toBe('QUEUED')
    expect(await balance(merchantId)).toEqual({ available: 999_999n, reserved: 1_000_001n })
    const approved = await decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, {
      approve: true,
      keyId: 'key_admin',
    })
    expect(approved).toMatchObject({ status: 'QUEUED', approvedByKey: 'key_admin' })
    expect(await balance(merchantId)).toEqual({ available: 999_999n, reserved: 1_000_001n })
    const again = await failure(
      decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, { approve: false, keyId: 'key_admin' }),
    )
    expect(again).toMatchObject({ code: 'INVALID_STATE' })
    expect(await balance(merchantId)).toEqual({ available: 999_999n, reserved: 1_000_001n })
  })

  test('behavior: a rejection releases the reserve once', async () => {
    const merchantId = await funded('Rejected Shop', 1_000_000n)
    const { withdrawal } = await request(merchantId, { amount: '0.006' })
    const decide = () =>
      decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, { approve: false, keyId: 'key_admin' })
    const rejected = await decide()
    expect(rejected).toMatchObject({ status: 'CANCELED', approvedByKey: null })
    expect(await failure(decide())).toMatchObject({ code: 'INVALID_STATE' })
    expect(await failure(cancelWithdrawal({ db: handle.db }, merchantId, withdrawal.id))).toMatchObject({
      code: 'INVALID_STATE',
    })
    expect(await balance(merchantId)).toEqual({ available: 1_000_000n, reserved: 0n })
    expect(await footprint(merchantId)).toEqual({ withdrawals: 1, events: 2, postings: 6 })
  })
})
