import { afterAll, describe, expect, test } from 'bun:test'
import type { DigestSigner, SignedTx } from '@tollgate/sdk'
import { DriverError } from '@tollgate/sdk'
import { asc, eq, like, sql } from 'drizzle-orm'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../../test/helpers/unit.ts'
import { ledgerPostings, type OutboundRow, outboundTxs, withdrawals } from '../../db/schema/index.ts'
import { getBalances } from '../ledger/balances.ts'
import { holdings, operatorFees } from '../ledger/postings.ts'
import { batchWithdrawals } from './batches.ts'
import { advanceOutbound } from './outbound.ts'
import type { WithdrawalRow } from './withdrawal-transitions.ts'
import { listWithdrawalEvents, requestWithdrawal } from './withdrawals.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()

const credit = 1_000_000n
const amount = 300_000n

/**
 * A toy chain of its own (outbound rows, nonces and withdrawals are per chain name) whose treasury holds plenty,
 * a merchant holding `credit`, and a signer that counts its signatures.
 */
async function setup(name: string) {
  const { payouts, toy, treasury, merchantId } = await unitPayoutScene(handle, name, {
    credit,
    confirmations: 2,
  })
  const signatures: string[] = []
  const signer: DigestSigner = {
    publicKey: keys.signer.publicKey,
    signDigest: (path, digest) => {
      signatures.push(path)
      return keys.signer.signDigest(path, digest)
    },
  }
  const broadcasts: SignedTx[] = []
  const broadcast = payouts.driver.broadcast
  payouts.driver.broadcast = (tx) => {
    broadcasts.push(tx)
    return broadcast(tx)
  }
  const ctx = { db: handle.db, signer, xpubFor: keys.xpubFor }
  return {
    payouts,
    toy,
    treasury,
    merchantId,
    ctx,
    signatures,
    broadcasts,
    /** One pass of the step machine (with the signer). */
    advance: () => advanceOutbound(ctx, toy.chain),
    /** Requests a withdrawal of `amount` and batches it into a built transaction. */
    queue: async (key = 'w1'): Promise<WithdrawalRow> => {
      const { withdrawal } = await requestWithdrawal(
        { db: handle.db, xpubFor: keys.xpubFor, chains: new Map([[name, toy.chain]]) },
        merchantId,
        {
          chain: name,
          asset: 'TOY',
          to: 'toy42',
          amount: '0.003',
          idempotencyKey: key,
        },
      )
      expect(await batchWithdrawals(ctx, toy.chain, Date.now() + 60_000)).toBe(1)
      return withdrawal
    },
  }
}
type Setup = Awaited<ReturnType<typeof setup>>

async function rows(s: Setup): Promise<OutboundRow[]> {
  return handle.db
    .select()
    .from(outboundTxs)
    .where(eq(outboundTxs.chain, s.toy.chain.name))
    .orderBy(asc(outboundTxs.createdAt), asc(outboundTxs.id))
}

async function withdrawal(id: string): Promise<WithdrawalRow> {
  const [row] = await handle.db.select().from(withdrawals).where(eq(withdrawals.id, id))
  return row as WithdrawalRow
}

async function eventTypes(id: string): Promise<string[]> {
  return (await listWithdrawalEvents({ db: handle.db }, id)).map((e) => e.type)
}

/** The ledger postings of a withdrawal (`wd_…#reserve`, `#settle`, `#fee`, `#release`) as `suffix → amounts`. */
async function postingsOf(id: string): Promise<Record<string, bigint[]>> {
  const found = await handle.db
    .select()
    .from(ledgerPostings)
    .where(like(ledgerPostings.refId, `${id}#%`))
    .orderBy(asc(ledgerPostings.id))
  const out: Record<string, bigint[]> = {}
  for (const p of found) {
    const suffix = p.refId.slice(id.length + 1)
    out[suffix] = [...(out[suffix] ?? []), p.amount]
  }
  return out
}

async function balance(s: Setup) {
  const b = (await getBalances({ db: handle.db }, s.merchantId)).find((x) => x.chain === s.toy.chain.name)
  return { available: b?.available ?? 0n, reserved: b?.reserved ?? 0n }
}

/** The whole ledger of a chain sums to zero per asset. */
async function expectBalancedLedger(chain: string) {
  const sums = await handle.db
    .select({ asset: ledgerPostings.asset, total: sql<string>`sum(${ledgerPostings.amount})` })
    .from(ledgerPostings)
    .where(eq(ledgerPostings.chain, chain))
    .groupBy(ledgerPostings.asset)
  for (const s of sums)
    expect({ asset: s.asset, total: BigInt(s.total) }).toEqual({ asset: s.asset, total: 0n })
}

describe('outbound step machine', () => {
  test('default: the built row is persisted before it is signed, and the signed bytes before they are sent', async () => {
    const s = await setup('steps')
    const w = await s.queue()
    const atSign: OutboundRow[][] = []
    const signedPayloads: unknown[] = []
    const atBroadcast: OutboundRow[][] = []
    const sign = s.payouts.driver.sign
    s.payouts.driver.sign = async (tx, from, signer) => {
      atSign.push(await rows(s))
      signedPayloads.push(tx.payload)
      return sign(tx, from, signer)
    }
    const broadcast = s.payouts.driver.broadcast
    s.payouts.driver.broadcast = async (tx) => {
      atBroadcast.push(await rows(s))
      return broadcast(tx)
    }
    expect((await withdrawal(w.id)).status).toBe('BATCHED')
    const progress = await s.advance()
    expect(progress).toMatchObject({ signed: 1, broadcast: 1, errors: [] })
    // when the signer ran, the transaction was stored as built, with its nonce, and nothing signed yet
    expect(atSign.length).toBe(1)
    expect(atSign[0]).toMatchObject([{ status: 'built', nonce: 0n, raw: null, hash: null, amount }])
    // and what was signed is what was stored
    expect(signedPayloads).toEqual([atSign[0]?.[0]?.unsigned])
    // when the node got the bytes, they were stored: the same raw bytes and hash
    const sent = s.payouts.sent[0] as { raw: string; hash: string }
    expect(atBroadcast[0]).toMatchObject([{ status: 'signed', raw: sent.raw, hash: sent.hash }])
    const [row] = await rows(s)
    expect(row).toMatchObject({ status: 'broadcast', raw: sent.raw, hash: sent.hash, broadcastHeight: 0n })
    expect((await withdrawal(w.id)).status).toBe('BROADCAST')
    expect(await eventTypes(w.id)).toEqual([
      'withdrawal.requested',
      'withdrawal.batched',
      'withdrawal.broadcast',
    ])
    expect(s.signatures).toEqual([s.treasury.path])
  })

  test('behavior: a pass without the signer signs nothing and leaves the row built', async () => {
    const s = await setup('watch-only')
    await s.queue()
    expect(await advanceOutbound({ db: handle.db, xpubFor: keys.xpubFor }, s.toy.chain)).toMatchObject({
      signed: 0,
      broadcast: 0,
    })
    expect((await rows(s)).map((r) => r.status)).toEqual(['built'])
    expect(s.payouts.sent).toEqual([])
  })

  test('behavior: after a failed broadcast the next pass sends the same bytes again, signed once', async () => {
    const s = await setup('resend')
    const w = await s.queue()
    s.payouts.failures.broadcast = new DriverError('UNAVAILABLE', 'node unreachable', { retryable: true })
    const first = await s.advance()
    expect(first.errors.length).toBe(1)
    const [signed] = await rows(s)
    expect(signed).toMatchObject({ status: 'signed', attempts: 1, lastError: 'node unreachable' })
    expect(signed?.hash).toBeString()
    expect((await withdrawal(w.id)).status).toBe('BATCHED')
    // still down: the same bytes again
    s.payouts.failures.broadcast = new Error('socket hang up')
    await s.advance()
    delete s.payouts.failures.broadcast
    expect(await s.advance()).toMatchObject({ signed: 0, broadcast: 1, errors: [] })
    expect(s.broadcasts.length).toBe(3)
    for (const attempt of s.broadcasts)
      expect(attempt).toEqual({ raw: signed?.raw, hash: signed?.hash } as SignedTx)
    expect(s.payouts.sent.map((t) => t.hash)).toEqual([signed?.hash as string])
    expect(s.signatures.length).toBe(1)
    const after = await rows(s)
    expect(after.length).toBe(1)
    expect(after[0]).toMatchObject({ status: 'broadcast', hash: signed?.hash, raw: signed?.raw })
    expect((await withdrawal(w.id)).status).toBe('BROADCAST')
  })

  test('behavior: mined and past its confirmations it settles once, however often the pass runs', async () => {
    const s = await setup('settle')
    const w = await s.queue()
    await s.advance()
    const [sent] = await rows(s)
    const block = s.toy.mine()
    s.payouts.mine(sent?.hash as string, block.height, 777n)
    s.payouts.nonces.set(s.treasury.address, 1n)
    // one confirmation of two: it waits
    await s.advance()
    expect((await rows(s))[0]?.status).toBe('broadcast')
    expect((await withdrawal(w.id)).status).toBe('BROADCAST')
    expect(await postingsOf(w.id)).toEqual({ reserve: [-amount, amount] })
    s.toy.mineEmpty(1)
    // passes racing each other to settle it, then more passes
    await Promise.all([s.advance(), s.advance(), s.advance()])
    await s.advance()
    await s.advance()
    expect(await rows(s)).toMatchObject([{ status: 'confirmed', fee: 777n, blockHeight: block.height }])
    expect(await withdrawal(w.id)).toMatchObject({ status: 'CONFIRMED', networkFee: 777n })
    expect(await eventTypes(w.id)).toEqual([
      'withdrawal.requested',
      'withdrawal.batched',
      'withdrawal.broadcast',
      'withdrawal.confirmed',
    ])
    // reserve → payout from the treasury, the fee → the operator's expense, each once
    expect(await postingsOf(w.id)).toEqual({
      reserve: [-amount, amount],
      settle: [-amount, amount],
      fee: [777n, -777n],
    })
    const fee = await handle.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.refId, `${w.id}#fee`))
    expect(fee.map((p) => [p.account, p.asset, p.amount])).toEqual([
      [holdings.treasury, s.toy.native.id, 777n],
      [operatorFees, s.toy.native.id, -777n],
    ])
    expect(await balance(s)).toEqual({ available: credit - amount, reserved: 0n })
    await expectBalancedLedger(s.toy.chain.name)
    expect(s.signatures.length).toBe(1)
  })

  test('behavior: a stuck transaction is replaced with the same nonce and a higher fee, and only the replacement settles', async () => {
    const s = await setup('stuck')
    const w = await s.queue()
    await s.advance()
    const [original] = await rows(s)
    // stuckAfterBlocks is 10: nine blocks without a receipt is not stuck yet
    s.toy.mineEmpty(9)
    await s.advance()
    expect((await rows(s)).length).toBe(1)
    s.toy.mineEmpty(1)
    expect(await s.advance()).toMatchObject({ replaced: 1 })
    const [old, replacement] = await rows(s)
    expect(old).toMatchObject({ id: original?.id, status: 'replaced' })
    expect(replacement).toMatchObject({ status: 'built', nonce: original?.nonce, replaces: original?.id })
    expect(BigInt(replacement?.unsigned.fee as string)).toBeGreaterThan(
      BigInt(original?.unsigned.fee as string),
    )
    expect(replacement?.maxFee).toBeGreaterThan(original?.maxFee as bigint)
    expect((await withdrawal(w.id)).outboundTxId).toBe(replacement?.id as string)
    await s.advance()
    const live = (await rows(s))[1] as OutboundRow
    expect(live.status).toBe('broadcast')
    expect(s.payouts.sent.map((t) => JSON.parse(t.raw.split('|')[0] as string).nonce)).toEqual(['0', '0'])
    // the replacement is mined
    const block = s.toy.mine()
    s.payouts.mine(live.hash as string, block.height, 2_625n)
    s.payouts.nonces.set(s.treasury.address, 1n)
    s.toy.mineEmpty(1)
    await Promise.all([s.advance(), s.advance()])
    await s.advance()
    expect((await rows(s)).map((r) => r.status)).toEqual(['replaced', 'confirmed'])
    expect(await withdrawal(w.id)).toMatchObject({
      status: 'CONFIRMED',
      networkFee: 2_625n,
      outboundTxId: live.id,
    })
    expect(await postingsOf(w.id)).toEqual({
      reserve: [-amount, amount],
      settle: [-amount, amount],
      fee: [2_625n, -2_625n],
    })
    expect((await eventTypes(w.id)).filter((t) => t === 'withdrawal.confirmed').length).toBe(1)
    expect(await balance(s)).toEqual({ available: credit - amount, reserved: 0n })
    expect(s.signatures.length).toBe(2)
  })

  test('behavior: when the replaced transaction is mined after all, it is the one that settles', async () => {
    const s = await setup('stuck-old-wins')
    const w = await s.queue()
    await s.advance()
    s.toy.mineEmpty(10)
    await s.advance()
    await s.advance()
    const [original, replacement] = await rows(s)
    expect([original?.status, replacement?.status]).toEqual(['replaced', 'broadcast'])
    const block = s.toy.mine()
    s.payouts.mine(original?.hash as string, block.height, 2_100n)
    s.payouts.nonces.set(s.treasury.address, 1n)
    s.toy.mineEmpty(3)
    for (let i = 0; i < 3; i++) await s.advance()
    expect((await rows(s)).map((r) => r.status)).toEqual(['confirmed', 'replaced'])
    const settled = await withdrawal(w.id)
    expect(settled).toMatchObject({ status: 'CONFIRMED', networkFee: 2_100n, outboundTxId: original?.id })
    const confirmed = (await listWithdrawalEvents({ db: handle.db }, w.id)).filter(
      (e) => e.type === 'withdrawal.confirmed',
    )
    expect(confirmed.map((e) => e.data?.hash)).toEqual([original?.hash])
    expect(await postingsOf(w.id)).toEqual({
      reserve: [-amount, amount],
      settle: [-amount, amount],
      fee: [2_100n, -2_100n],
    })
    expect(await balance(s)).toEqual({ available: credit - amount, reserved: 0n })
    await expectBalancedLedger(s.toy.chain.name)
  })

  test('behavior: NONCE_USED by someone else fails the withdrawal and releases its reserve once', async () => {
    const s = await setup('nonce-used')
    const w = await s.queue()
    s.payouts.failures.broadcast = new DriverError('NONCE_USED', 'nonce too low', { retryable: false })
    // a transaction the gateway did not send took nonce 0
    s.payouts.nonces.set(s.treasury.address, 1n)
    await s.advance()
    // passes racing each other to conclude it, then more passes
    await Promise.all([s.advance(), s.advance(), s.advance()])
    await s.advance()
    const [row] = await rows(s)
    expect(row?.status).toBe('failed')
    expect(row?.lastError).toContain('nonce 0')
    expect(await withdrawal(w.id)).toMatchObject({ status: 'FAILED' })
    expect((await eventTypes(w.id)).filter((t) => t === 'withdrawal.failed').length).toBe(1)
    expect(await postingsOf(w.id)).toEqual({ reserve: [-amount, amount], release: [-amount, amount] })
    expect(await balance(s)).toEqual({ available: credit, reserved: 0n })
    expect(s.payouts.sent).toEqual([])
    await expectBalancedLedger(s.toy.chain.name)
  })

  test('behavior: NONCE_USED by the gateway’s own bytes (an earlier send that did arrive) settles, not fails', async () => {
    const s = await setup('nonce-own')
    const w = await s.queue()
    s.payouts.failures.broadcast = new DriverError('TIMEOUT', 'no answer', { retryable: true })
    await s.advance()
    const [signed] = await rows(s)
    // the send that timed out did reach the chain
    const block = s.toy.mine()
    s.payouts.mine(signed?.hash as string, block.height, 21n)
    s.payouts.nonces.set(s.treasury.address, 1n)
    s.toy.mineEmpty(1)
    s.payouts.failures.broadcast = new DriverError('NONCE_USED', 'nonce too low', { retryable: false })
    for (let i = 0; i < 3; i++) await s.advance()
    expect((await rows(s)).map((r) => [r.status, r.hash])).toEqual([['confirmed', signed?.hash ?? null]])
    expect(await withdrawal(w.id)).toMatchObject({ status: 'CONFIRMED', networkFee: 21n })
    expect(await balance(s)).toEqual({ available: credit - amount, reserved: 0n })
    expect(s.signatures.length).toBe(1)
  })

  test('behavior: bytes the node refuses for good fail the withdrawal and release it once', async () => {
    const s = await setup('refused')
    const w = await s.queue()
    s.payouts.failures.broadcast = new DriverError('UNAVAILABLE', 'node unreachable', { retryable: true })
    await s.advance()
    s.payouts.failures.broadcast = new DriverError('REJECTED', 'invalid signature', { retryable: false })
    await Promise.all([s.advance(), s.advance(), s.advance()])
    await s.advance()
    expect(await rows(s)).toMatchObject([{ status: 'failed' }])
    expect(await withdrawal(w.id)).toMatchObject({ status: 'FAILED' })
    expect(await eventTypes(w.id)).toEqual([
      'withdrawal.requested',
      'withdrawal.batched',
      'withdrawal.failed',
    ])
    expect(await postingsOf(w.id)).toEqual({ reserve: [-amount, amount], release: [-amount, amount] })
    expect(await balance(s)).toEqual({ available: credit, reserved: 0n })
    expect(s.signatures.length).toBe(1)
  })

  test('behavior: a transaction that fails on chain releases the withdrawal once and books its burned fee', async () => {
    const s = await setup('reverted')
    const w = await s.queue()
    await s.advance()
    const [sent] = await rows(s)
    const block = s.toy.mine()
    s.payouts.mine(sent?.hash as string, block.height, 555n, false)
    s.payouts.nonces.set(s.treasury.address, 1n)
    s.toy.mineEmpty(1)
    await Promise.all([s.advance(), s.advance(), s.advance()])
    await s.advance()
    expect(await rows(s)).toMatchObject([{ status: 'failed', fee: 555n }])
    expect(await withdrawal(w.id)).toMatchObject({ status: 'FAILED', networkFee: 555n })
    expect((await eventTypes(w.id)).filter((t) => t === 'withdrawal.failed').length).toBe(1)
    expect(await postingsOf(w.id)).toEqual({ reserve: [-amount, amount], release: [-amount, amount] })
    const fee = await handle.db
      .select()
      .from(ledgerPostings)
      .where(eq(ledgerPostings.refId, `${sent?.id}#fee`))
    expect(fee.map((p) => [p.account, p.amount])).toEqual([
      [holdings.treasury, 555n],
      [operatorFees, -555n],
    ])
    expect(await balance(s)).toEqual({ available: credit, reserved: 0n })
    await expectBalancedLedger(s.toy.chain.name)
  })
})
