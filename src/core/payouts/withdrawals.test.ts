import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { type ChainDriver, type DestinationCheck, DriverError } from '@tollgate/sdk'
import { eq, sql } from 'drizzle-orm'
import {
  openUnitDb,
  toyChain,
  toyPayouts,
  unitCredit,
  unitKeys,
  unitMerchant,
  unitPaymentsContext,
} from '../../../test/helpers/unit.ts'
import type { DbHandle, Tx } from '../../db/client.ts'
import {
  addressPool,
  auditLog,
  ledgerPostings,
  outboundTxs,
  withdrawalEvents,
  withdrawals,
} from '../../db/schema/index.ts'
import { createBitcoinDriver } from '../../plugins/bitcoin/index.ts'
import { bitcoinOptionsSchema } from '../../plugins/bitcoin/options.ts'
import { createEvmDriver } from '../../plugins/evm/index.ts'
import { evmOptionsSchema } from '../../plugins/evm/options.ts'
import type { ChainRegistry, LoadedChain } from '../../plugins/registry.ts'
import { createTronDriver, tronAddressKey } from '../../plugins/tron/index.ts'
import { tronOptionsSchema } from '../../plugins/tron/options.ts'
import { listAuditLog } from '../access/audit.ts'
import { type ErrorCode, errorCode, errorKind, TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { getBalances } from '../ledger/balances.ts'
import { createPayment } from '../payments/create.ts'
import { freshChangeAddress } from './coins.ts'
import { roleWallet } from './wallet-roles.ts'
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
const keys = unitKeys()
let ctx: { db: DbHandle['db']; chains: ChainRegistry; xpubFor: (path: string) => string }

// the first database of a test process migrates the template: seconds on a busy machine
beforeAll(async () => {
  handle = await openUnitDb()
  ctx = { db: handle.db, chains, xpubFor: keys.xpubFor }
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

let keyNo = 0
const request = (
  merchantId: string,
  input: Partial<Parameters<typeof requestWithdrawal>[2]> = {},
  requestedBy?: { keyId: string },
) =>
  requestWithdrawal(
    ctx,
    merchantId,
    {
      chain: 'toy',
      asset: 'TOY',
      to: 'toy42',
      amount: '0.003',
      idempotencyKey: `key-${++keyNo}`,
      ...input,
    },
    requestedBy,
  )

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
    const dustCtx = { db: handle.db, xpubFor: keys.xpubFor, chains: new Map([['dusty', chain]]) }
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

/**
 * A toy chain whose addresses depend on the account key, as real ones do (the plain toy chain derives `toy<i>`
 * for every account): its treasury, gas tank, change and deposit addresses all differ.
 */
function keyedToy(name: string, coinType: number) {
  const payouts = toyPayouts()
  const toy = toyChain({ name, payouts: payouts.driver })
  const driver = toy.chain.driver
  driver.accountPath = `m/44'/${coinType}'/0'`
  const tag = (xpub: string) => createHash('sha256').update(xpub).digest('hex').slice(0, 12)
  driver.deriveAddress = ({ xpub, index }) => ({
    address: `toy${tag(xpub)}r${index}`,
    path: `${driver.accountPath}/0/${index}`,
  })
  driver.deriveChangeAddress = ({ xpub, index }) => ({
    address: `toy${tag(xpub)}c${index}`,
    path: `${driver.accountPath}/1/${index}`,
  })
  return { toy, payouts }
}

describe('destinations', () => {
  const own = keyedToy('own', 7)
  const elsewhere = keyedToy('elsewhere', 8)
  own.toy.chain.settings.cold = { address: 'toycoldvault', float: new Map(), minMove: new Map() }
  const checks: Array<{ from: string; to: string; amount: bigint }> = []
  own.payouts.driver.checkDestination = async (a): Promise<DestinationCheck> => {
    checks.push({ from: a.from, to: a.to, amount: a.amount })
    if (a.to === 'toydead') return { ok: false, code: 'BURN_ADDRESS', reason: 'toydead burns what it gets' }
    if (a.to === 'toyrefuses')
      return { ok: false, code: 'DESTINATION_REJECTED', reason: 'a transfer to toyrefuses reverts' }
    if (a.to === 'toystrange')
      return { ok: false, code: 'SOMETHING_ELSE', reason: 'a code the core does not know' } as never
    if (a.to === 'toynodedown') throw new DriverError('RPC_ERROR', 'node unreachable', { retryable: true })
    if (a.to === 'toynodehangs') return new Promise<never>(() => {})
    return { ok: true }
  }
  const ownChains: ChainRegistry = new Map([
    ['own', own.toy.chain],
    ['elsewhere', elsewhere.toy.chain],
  ])
  const ownCtx = () => ({ db: handle.db, chains: ownChains, xpubFor: keys.xpubFor })
  let merchantId: string
  let n = 0
  const ask = (to: string, amount = '0.001') =>
    requestWithdrawal(ownCtx(), merchantId, {
      chain: 'own',
      asset: 'TOY',
      to,
      amount,
      idempotencyKey: `own-${++n}`,
    })

  beforeAll(async () => {
    merchantId = await unitMerchant(handle, 'Destination Shop')
    await unitCredit(handle, merchantId, 'own', own.toy.native.id, 10n ** 9n)
  })

  /** Every address of the gateway's own on both chains, named. */
  async function ownAddresses(): Promise<Array<[string, string]>> {
    const payCtx = unitPaymentsContext(handle, [own.toy.chain, elsewhere.toy.chain], {
      xpubFor: keys.xpubFor,
      addressPoolSize: 3,
    })
    const otherMerchant = await unitMerchant(handle, 'Neighbour Shop')
    const pay = (chain: string, by: string) =>
      createPayment(payCtx, by, { chain, asset: 'TOY', amount: '1' }).then((r) => r.payment.address)
    const theirs = await pay('own', otherMerchant)
    const mine = await pay('own', merchantId)
    const elsewhereDeposit = await pay('elsewhere', otherMerchant)
    const [pooled] = await handle.db
      .select({ address: addressPool.address })
      .from(addressPool)
      .where(sql`${addressPool.address} not in (${theirs}, ${mine}, ${elsewhereDeposit})`)
      .limit(1)
    // a change address handed out with the transaction that pays it
    const change = await handle.db.transaction(async (tx) => {
      const address = await freshChangeAddress(keys, tx, own.toy.chain)
      await tx.insert(outboundTxs).values({
        id: newId('otx'),
        chain: 'own',
        purpose: 'withdrawal',
        fromAddress: roleWallet(keys, own.toy.chain, 'treasury').address,
        fromPath: "m/44'/7'/1'/0/0",
        asset: own.toy.native.id,
        status: 'built',
        unsigned: {},
        request: { kind: 'transfer', outputs: [{ to: 'toy42', amount: '1' }], change: address },
        maxFee: 21n,
      })
      return address.address
    })
    return [
      ['the treasury', roleWallet(keys, own.toy.chain, 'treasury').address],
      ['the gas tank', roleWallet(keys, own.toy.chain, 'gas').address],
      ['the cold address', 'toycoldvault'],
      ['a change address', change],
      ["another merchant's deposit address", theirs],
      ["the merchant's own deposit address", mine],
      ['a deposit address still in the pool', pooled!.address],
      ["another chain's treasury", roleWallet(keys, elsewhere.toy.chain, 'treasury').address],
      ["another chain's gas tank", roleWallet(keys, elsewhere.toy.chain, 'gas').address],
      ['a deposit address on another chain', elsewhereDeposit],
    ]
  }

  test('error: every address of the gateway’s own, in every spelling, is OWN_ADDRESS and reserves nothing', async () => {
    const addresses = await ownAddresses()
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }
    const asked = checks.length
    for (const [what, address] of addresses)
      for (const spelling of [
        address,
        address.toUpperCase(),
        `${address[0]}${address.slice(1).toUpperCase()}`,
      ]) {
        const err = await failure(ask(spelling))
        expect({ what, spelling, err }).toMatchObject({ what, spelling, err: expect.any(TollgateError) })
        expect({
          what,
          spelling,
          code: (err as TollgateError).code,
          field: (err as TollgateError).field,
        }).toEqual({ what, spelling, code: 'OWN_ADDRESS', field: 'to' })
      }
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }).toEqual(
      before,
    )
    // refused before the driver is asked anything
    expect(checks.length).toBe(asked)
  })

  test('default: an ordinary address is accepted after the driver checked it as the treasury would send it', async () => {
    const { withdrawal } = await ask('toyfriend', '0.25')
    expect(withdrawal).toMatchObject({ toAddress: 'toyfriend', status: 'QUEUED', amount: 25_000_000n })
    expect(checks.at(-1)).toEqual({
      from: roleWallet(keys, own.toy.chain, 'treasury').address,
      to: 'toyfriend',
      amount: 25_000_000n,
    })
  })

  test('error: what the driver refuses is BURN_ADDRESS or DESTINATION_REJECTED and reserves nothing', async () => {
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }
    const cases: Array<[string, ErrorCode]> = [
      ['toydead', 'BURN_ADDRESS'],
      ['TOYDEAD', 'BURN_ADDRESS'],
      ['toyrefuses', 'DESTINATION_REJECTED'],
      // a third-party driver's own code is shown as a refusal, never passed through
      ['toystrange', 'DESTINATION_REJECTED'],
    ]
    for (const [to, code] of cases) {
      const err = await failure(ask(to))
      expect({ to, err }).toMatchObject({ to, err: expect.any(TollgateError) })
      expect({ to, code: (err as TollgateError).code, field: (err as TollgateError).field }).toEqual({
        to,
        code,
        field: 'to',
      })
    }
    expect(((await failure(ask('toyrefuses'))) as Error).message).toContain('reverts')
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }).toEqual(
      before,
    )
  })

  test('error: a node that cannot be asked fails the request as retryable and reserves nothing', async () => {
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }
    const err = await failure(ask('toynodedown'))
    expect(err).toBeInstanceOf(DriverError)
    expect(err).toMatchObject({ code: 'RPC_ERROR', retryable: true })
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }).toEqual(
      before,
    )
  })

  test('error: a node that never answers the check fails the request after the chain’s call deadline, reserving nothing', async () => {
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }
    // the same chain, configured with a short call deadline
    const impatient = { ...own.toy.chain, settings: { ...own.toy.chain.settings, callTimeoutMs: 50 } }
    const chains: ChainRegistry = new Map([
      ['own', impatient],
      ['elsewhere', elsewhere.toy.chain],
    ])
    const err = await failure(
      requestWithdrawal({ ...ownCtx(), chains }, merchantId, {
        chain: 'own',
        asset: 'TOY',
        to: 'toynodehangs',
        amount: '0.001',
        idempotencyKey: `own-${++n}`,
      }),
    )
    expect(errorCode(err)).toBe('RPC_DEADLINE')
    expect(errorKind(err)).toBe('retryable')
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId, own.toy.native.id)) }).toEqual(
      before,
    )
  })
})

describe('approval by a second key, and the audit log', () => {
  /** The merchant's audit entries about withdrawals, oldest first (creating a merchant records its key too). */
  const auditOf = async (merchantId: string) =>
    (await listAuditLog({ db: handle.db }, merchantId, { first: 100 })).rows
      .filter((e) => e.targetType === 'withdrawal')
      .reverse()

  test('default: the requesting key is stored with the withdrawal', async () => {
    const merchantId = await funded('Requester Shop', 1_000_000n)
    const { withdrawal } = await request(merchantId, {}, { keyId: 'key_requester' })
    expect(withdrawal.requestedByKey).toBe('key_requester')
  })

  test('error: the key that requested a withdrawal cannot approve it; nothing changes', async () => {
    const merchantId = await funded('Self Approval Shop', 2_000_000n)
    const { withdrawal } = await request(merchantId, { amount: '0.006' }, { keyId: 'key_both' })
    expect(withdrawal.status).toBe('AWAITING_APPROVAL')
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId)) }
    const err = await failure(
      decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, { approve: true, keyId: 'key_both' }),
    )
    expect(err).toBeInstanceOf(TollgateError)
    expect(err).toMatchObject({ code: 'SELF_APPROVAL', field: 'id' })
    const [row] = await handle.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id))
    expect(row).toMatchObject({ status: 'AWAITING_APPROVAL', approvedByKey: null })
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId)) }).toEqual(before)
    expect(await auditOf(merchantId)).toEqual([])
    // another admin key can
    const approved = await decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, {
      approve: true,
      keyId: 'key_second',
    })
    expect(approved).toMatchObject({ status: 'QUEUED', approvedByKey: 'key_second' })
  })

  test('behavior: the requesting key may reject its own request (as it may cancel it)', async () => {
    const merchantId = await funded('Self Reject Shop', 2_000_000n)
    const { withdrawal } = await request(merchantId, { amount: '0.006' }, { keyId: 'key_both' })
    const rejected = await decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, {
      approve: false,
      keyId: 'key_both',
    })
    expect(rejected.status).toBe('CANCELED')
    expect(await balance(merchantId)).toEqual({ available: 2_000_000n, reserved: 0n })
  })

  test('default: approvals and rejections are in the audit log with key, request and reason', async () => {
    const merchantId = await funded('Audited Shop', 3_000_000n)
    const a = await request(merchantId, { amount: '0.006' }, { keyId: 'key_req' })
    const b = await request(merchantId, { amount: '0.007' }, { keyId: 'key_req' })
    await decideWithdrawal({ db: handle.db }, merchantId, a.withdrawal.id, {
      approve: true,
      keyId: 'key_admin',
      requestId: 'req-1',
    })
    await decideWithdrawal({ db: handle.db }, merchantId, b.withdrawal.id, {
      approve: false,
      keyId: 'key_admin',
      requestId: 'req-2',
      reason: 'unknown recipient\nasked the owner',
    })
    expect(
      (await auditOf(merchantId)).map((e) => ({
        merchantId: e.merchantId,
        actor: e.actor,
        action: e.action,
        targetType: e.targetType,
        targetId: e.targetId,
        requestId: e.requestId,
        data: e.data,
      })),
    ).toEqual([
      {
        merchantId,
        actor: 'key_admin',
        action: 'withdrawal.approved',
        targetType: 'withdrawal',
        targetId: a.withdrawal.id,
        requestId: 'req-1',
        // one approval of the one required (the default quorum)
        data: { approvals: 1, required: 1 },
      },
      {
        merchantId,
        actor: 'key_admin',
        action: 'withdrawal.rejected',
        targetType: 'withdrawal',
        targetId: b.withdrawal.id,
        requestId: 'req-2',
        data: { approvals: 0, required: 1, reason: 'unknown recipient\nasked the owner' },
      },
    ])
  })

  test('error: a decision that is refused leaves no audit entry', async () => {
    const merchantId = await funded('Refused Decision Shop', 2_000_000n)
    const queued = await request(merchantId, { amount: '0.001' })
    const stranger = await funded('Stranger Decision Shop', 1n)
    for (const [by, id] of [
      [merchantId, queued.withdrawal.id],
      [merchantId, 'wd_00000000000000000000000000000000'],
      [stranger, queued.withdrawal.id],
    ] as const)
      for (const approve of [true, false])
        expect(
          await failure(decideWithdrawal({ db: handle.db }, by, id, { approve, keyId: 'key_admin' })),
        ).toBeInstanceOf(TollgateError)
    expect(await auditOf(merchantId)).toEqual([])
    expect(await auditOf(stranger)).toEqual([])
  })

  test('error: a hostile reason is INVALID_INPUT and changes nothing', async () => {
    const merchantId = await funded('Hostile Reason Shop', 2_000_000n)
    const { withdrawal } = await request(merchantId, { amount: '0.006' }, { keyId: 'key_req' })
    const before = { ...(await footprint(merchantId)), ...(await balance(merchantId)) }
    const reasons: unknown[] = [
      'x'.repeat(501),
      'nul\u0000byte',
      'bell\u0007',
      'escape \u001b[31mred',
      'carriage\rreturn',
      'delete\u007f',
      'c1 \u0085 control',
      'bidi \u202e override',
      'isolate \u2066x\u2069',
      'line\u2028separator',
      42,
      { reason: 'nested' },
    ]
    for (const approve of [true, false])
      for (const reason of reasons) {
        const err = await failure(
          decideWithdrawal({ db: handle.db }, merchantId, withdrawal.id, {
            approve,
            keyId: 'key_admin',
            reason: reason as string,
          }),
        )
        expect({ reason, err }).toMatchObject({ reason, err: expect.any(TollgateError) })
        expect({ reason, code: (err as TollgateError).code, field: (err as TollgateError).field }).toEqual({
          reason,
          code: 'INVALID_INPUT',
          field: 'reason',
        })
      }
    const [row] = await handle.db.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id))
    expect(row?.status).toBe('AWAITING_APPROVAL')
    expect({ ...(await footprint(merchantId)), ...(await balance(merchantId)) }).toEqual(before)
    const [audit] = await handle.db
      .select({ n: sql<number>`count(*)::int` })
      .from(auditLog)
      .where(eq(auditLog.targetId, withdrawal.id))
    expect(audit?.n).toBe(0)
  })
})

describe('destinations in the built-in drivers’ address formats', () => {
  const silentDriverLog = { debug() {}, info() {}, warn() {}, error() {} }
  // no node listens at these URLs: an own address and a burn address are refused before any node is asked
  const drivers: Record<string, ChainDriver> = {
    evm: createEvmDriver(
      evmOptionsSchema.parse({
        chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
        rpcUrls: ['http://127.0.0.1:1'],
      }),
      { chain: 'evm', log: silentDriverLog },
    ),
    tron: createTronDriver(tronOptionsSchema.parse({ fullHosts: ['http://127.0.0.1:1'] }), {
      chain: 'tron',
      log: silentDriverLog,
    }),
    btc: createBitcoinDriver(
      bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: ['http://127.0.0.1:1'] }),
      { chain: 'btc', log: silentDriverLog },
    ),
  }
  const loaded = (name: string): LoadedChain => ({
    ...toyChain({ name }).chain,
    module: name,
    driver: drivers[name] as ChainDriver,
  })
  const real: ChainRegistry = new Map(['evm', 'tron', 'btc'].map((name) => [name, loaded(name)]))
  const realCtx = () => ({ db: handle.db, chains: real, xpubFor: keys.xpubFor })
  let merchantId: string
  let n = 0
  const ask = (chain: string, to: string, amount: string) =>
    requestWithdrawal(realCtx(), merchantId, {
      chain,
      asset: drivers[chain]!.nativeAsset.symbol,
      to,
      amount,
      idempotencyKey: `real-${++n}`,
    })

  beforeAll(async () => {
    merchantId = await unitMerchant(handle, 'Real Formats Shop')
    for (const [name, driver] of Object.entries(drivers))
      await unitCredit(handle, merchantId, name, driver.nativeAsset.id, 10n ** 20n)
  })

  async function expectRefused(chain: string, spellings: string[], code: ErrorCode) {
    const before = await footprint(merchantId)
    for (const to of spellings) {
      const err = await failure(ask(chain, to, '0.01'))
      expect({ chain, to, err }).toMatchObject({ chain, to, err: expect.any(TollgateError) })
      expect({ chain, to, code: (err as TollgateError).code, field: (err as TollgateError).field }).toEqual({
        chain,
        to,
        code,
        field: 'to',
      })
    }
    expect(await footprint(merchantId)).toEqual(before)
  }

  test('error: EVM: the treasury and gas tank are OWN_ADDRESS checksummed, lowercase and uppercase', async () => {
    for (const role of ['treasury', 'gas'] as const) {
      const address = roleWallet(keys, real.get('evm')!, role).address
      expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/)
      await expectRefused(
        'evm',
        [address, address.toLowerCase(), `0x${address.slice(2).toUpperCase()}`],
        'OWN_ADDRESS',
      )
    }
  })

  test('error: EVM: the zero address and 0x…dEaD are BURN_ADDRESS', async () => {
    await expectRefused(
      'evm',
      [
        '0x0000000000000000000000000000000000000000',
        '0x000000000000000000000000000000000000dEaD',
        '0x000000000000000000000000000000000000dead',
        '0x000000000000000000000000000000000000DEAD',
      ],
      'BURN_ADDRESS',
    )
  })

  test('error: Tron: the treasury and gas tank are OWN_ADDRESS in base58 and in hex (with or without 0x, any case)', async () => {
    for (const role of ['treasury', 'gas'] as const) {
      const address = roleWallet(keys, real.get('tron')!, role).address
      const hex = tronAddressKey(address)
      await expectRefused('tron', [address, hex, hex.toUpperCase(), `0x${hex}`], 'OWN_ADDRESS')
    }
  })

  test('error: Tron: the black hole is BURN_ADDRESS in base58 and in hex', async () => {
    const hex = '410000000000000000000000000000000000000000'
    await expectRefused('tron', ['T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb', hex, `0x${hex}`], 'BURN_ADDRESS')
  })

  test('error: Bitcoin: the treasury, gas and a change address are OWN_ADDRESS in lower- and uppercase bech32', async () => {
    const btc = real.get('btc')!
    const change = await handle.db.transaction(async (tx) => {
      const address = await freshChangeAddress(keys, tx, btc)
      await tx.insert(outboundTxs).values({
        id: newId('otx'),
        chain: 'btc',
        purpose: 'withdrawal',
        fromAddress: roleWallet(keys, btc, 'treasury').address,
        fromPath: roleWallet(keys, btc, 'treasury').path,
        asset: btc.driver.nativeAsset.id,
        status: 'broadcast',
        unsigned: {},
        request: { kind: 'transfer', outputs: [{ to: 'bcrt1qexample', amount: '1' }], change: address },
        maxFee: 200n,
      })
      return address.address
    })
    for (const address of [
      roleWallet(keys, btc, 'treasury').address,
      roleWallet(keys, btc, 'gas').address,
      change,
    ]) {
      expect(address).toMatch(/^bcrt1/)
      await expectRefused('btc', [address, address.toUpperCase()], 'OWN_ADDRESS')
    }
  })
})
