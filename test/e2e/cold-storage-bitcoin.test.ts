import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Transaction } from 'bitcoinjs-lib'
import { and, eq, inArray } from 'drizzle-orm'
import { holdings, operatorFees } from '../../src/core/ledger/postings.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { moveExcessToCold } from '../../src/core/payouts/cold-storage.ts'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { coins, ledgerPostings, type OutboundRow, payments } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import type { TestApp } from '../helpers/app.ts'
import { type Bcoin, regtestKey, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import { outboundOf, passUntil as payoutPassesUntil } from '../helpers/payout-passes.ts'
import { spawnCli, waitFor } from '../helpers/processes.ts'
import { startRegtestApp } from '../helpers/regtest-app.ts'

// Cold storage on Bitcoin with the whole gateway on a bcoin regtest node: deposits are consolidated into the
// treasury, what the treasury holds above its float goes to a cold address whose key the gateway does not
// have, and the ledger and the node agree to the satoshi afterwards. A signer killed with SIGKILL after each
// persisted step of a cold move sends it exactly once.

const cold = regtestKey('cold storage vault')
const float = 30_000_000n

let node: Bcoin
let app: TestApp
let merchantId: string
let closeApp: (() => Promise<void>) | undefined
let configFile: string
const scanner = newScannerState()
const chain = () => app.ctx.chains.get('regtest')!

beforeAll(async () => {
  node = await startBcoin()
  // one configuration for this process and the signer processes it starts: a file they can all import
  ;({
    app,
    configFile,
    close: closeApp,
  } = await startRegtestApp(node, { address: cold.address, float: { BTC: '0.3' } }, 'tollgate-cold-'))
  merchantId = (await app.merchant('Cold shop')).id
}, 90_000)

afterAll(async () => {
  await closeApp?.()
  await node?.stop()
})

const pass = () => processPayouts(app.ctx, 'regtest')

const rowsOf = (purpose: OutboundRow['purpose']) => outboundOf(app, 'regtest', purpose)

/** What the treasury's tracked coins nothing is spending hold. */
async function treasuryAvailable(): Promise<bigint> {
  const rows = await app.ctx.db
    .select()
    .from(coins)
    .where(and(eq(coins.chain, 'regtest'), eq(coins.role, 'treasury'), eq(coins.status, 'available')))
  return rows.reduce((sum, c) => sum + c.amount, 0n)
}

/** Payout passes, mining a block after each, until `done` holds right after a pass. */
const passUntil = (what: string, done: () => Promise<boolean>) =>
  payoutPassesUntil(app, 'regtest', () => node.mine(1), what, done, 60_000)

/** A payment paid in full and completed at depth, then consolidated into the treasury (confirmed). */
async function deposit(sats: bigint) {
  const { payment } = await createPayment(app.ctx, merchantId, {
    chain: 'regtest',
    asset: 'BTC',
    amount: (Number(sats) / 1e8).toFixed(8),
  })
  await node.send(payment.address, sats)
  await node.mine(2)
  await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, chain())
  const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, payment.id))
  expect(row?.status).toBe('COMPLETED')
  const sweepsBefore = (await rowsOf('sweep')).length
  await passUntil('the deposit consolidated into the treasury', async () => {
    const sweeps = await rowsOf('sweep')
    return sweeps.length === sweepsBefore + 1 && sweeps.every((s) => s.status === 'confirmed')
  })
}

/** The output of a mined transaction paying the cold address. */
async function coldOutputs(hash: string) {
  const tx = Transaction.fromHex(await node.rpc<string>('getrawtransaction', [hash, false]))
  return tx.outs.filter((o) => Buffer.from(o.script).equals(Buffer.from(cold.script))).map((o) => o.value)
}

/** The ledger's postings of one outbound transaction, by reference suffix and account. */
async function postingsOf(id: string) {
  const rows = await app.ctx.db
    .select()
    .from(ledgerPostings)
    .where(
      and(eq(ledgerPostings.refType, 'outbound'), inArray(ledgerPostings.refId, [`${id}#move`, `${id}#fee`])),
    )
  return Object.fromEntries(rows.map((r) => [`${r.refId.slice(id.length)} ${r.account}`, r.amount]))
}

async function expectBooksExact() {
  const report = await reconcileChain(app.ctx, chain())
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(report.funding).toEqual([])
  const treasury = report.lines.find((l) => l.role === 'treasury')
  expect(treasury?.onChain).toBe(float)
  expect(treasury?.ledger).toBe(float)
}

describe('cold storage on Bitcoin', () => {
  test('default: the treasury above its float goes to the cold address and confirms; the ledger books the move and its fee; the books match the node', async () => {
    // nothing in the treasury, then less than the float: nothing moves
    await pass()
    await deposit(20_000_000n)
    expect(await treasuryAvailable()).toBeLessThan(float)
    await pass()
    expect(await rowsOf('cold')).toEqual([])

    await deposit(50_000_000n)
    const before = await treasuryAvailable()
    expect(before).toBeGreaterThan(float)
    // two passes at once (a second signer process, say): one cold move
    const built = await Promise.all([moveExcessToCold(app.ctx, chain()), moveExcessToCold(app.ctx, chain())])
    expect(built.sort()).toEqual([0, 1])
    await passUntil('the cold move confirmed', async () => (await rowsOf('cold'))[0]?.status === 'confirmed')

    const [move, ...others] = await rowsOf('cold')
    expect(others).toEqual([])
    const amount = move!.amount!
    const fee = move!.fee!
    expect(fee).toBe(move!.maxFee)
    // what left the treasury is its excess to the satoshi: the amount to cold, the fee to the miners
    expect(amount + fee).toBe(before - float)
    expect(await coldOutputs(move!.hash!)).toEqual([amount])
    expect(await treasuryAvailable()).toBe(float)
    expect(await postingsOf(move!.id)).toEqual({
      [`#move ${holdings.treasury}`]: amount,
      [`#move ${holdings.cold}`]: -amount,
      [`#fee ${holdings.treasury}`]: fee,
      [`#fee ${operatorFees}`]: -fee,
    })
    await expectBooksExact()

    // at the float, later passes move nothing
    await pass()
    await node.mine(1)
    await pass()
    expect((await rowsOf('cold')).length).toBe(1)
  }, 150_000)

  /** What each crash point leaves behind, before the restart. */
  const leftAfterCrash: Record<string, OutboundRow['status']> = {
    'outbound:built': 'built',
    'outbound:signed': 'signed',
    'outbound:broadcast': 'signed',
  }
  for (const [point, left] of Object.entries(leftAfterCrash))
    test(`behavior: a signer killed at ${point} of a cold move and restarted sends it exactly once`, async () => {
      await deposit(40_000_000n)
      const before = await treasuryAvailable()
      const movesBefore = (await rowsOf('cold')).length
      const env = {
        DATABASE_URL: app.databaseUrl,
        REDIS_PREFIX: app.ctx.env.REDIS_PREFIX,
        TOLLGATE_SEED: gatewayMnemonic,
        TOLLGATE_ENV: 'test',
        TOLLGATE_PLUGINS_CONFIG: configFile,
        LOG_LEVEL: 'info',
      }
      const doomed = spawnCli(['worker', '--role', 'signer'], { ...env, TOLLGATE_CRASH_AT: point })
      const ended = await waitFor(
        `the signer to kill itself at ${point}`,
        () => doomed.proc.exitCode !== null || doomed.proc.signalCode !== null,
        30_000,
      ).then(
        () => doomed.proc.signalCode,
        async (err) => {
          // a signer that never got there is stopped, not left running
          await doomed.kill()
          throw err
        },
      )
      expect(ended).toBe('SIGKILL')
      const crashed = (await rowsOf('cold')).slice(movesBefore)
      expect(crashed.map((r) => r.status)).toEqual([left])
      const mempool = await node.rpc<string[]>('getrawmempool')
      // after the broadcast the node has the bytes; before it, nothing of the move left the database
      expect(crashed[0]!.hash !== null && mempool.includes(crashed[0]!.hash)).toBe(
        point === 'outbound:broadcast',
      )

      const worker = spawnCli(['worker', '--role', 'signer'], env)
      try {
        await waitFor(
          `the cold move after a crash at ${point} to confirm`,
          async () => {
            if (worker.proc.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`)
            await node.mine(1)
            return (await rowsOf('cold')).slice(movesBefore).some((r) => r.status === 'confirmed')
          },
          60_000,
        )
      } finally {
        await worker.stop()
      }
      // one transaction, the one stored before the crash, and no second move built after the restart
      const after = (await rowsOf('cold')).slice(movesBefore)
      expect(after.map((r) => [r.id, r.status])).toEqual([[crashed[0]!.id, 'confirmed']])
      const move = after[0]!
      expect(await coldOutputs(move.hash!)).toEqual([move.amount!])
      expect(move.amount! + move.fee!).toBe(before - float)
      expect(await treasuryAvailable()).toBe(float)
      await expectBooksExact()
    }, 120_000)
})
