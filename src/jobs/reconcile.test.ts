import { afterAll, expect, test } from 'bun:test'
import { openUnitDb, unitKeys, unitPayoutScene } from '../../test/helpers/unit.ts'
import type { AppContext } from '../context.ts'
import { errorCode } from '../core/errors.ts'
import { processReconcile } from './reconcile.ts'

// The scheduled reconciliation reads balances with the chain's call deadline, as scans and payout passes do: a
// node that never answers fails the run (retried by the next one) instead of holding the job forever.

const handle = await openUnitDb()
afterAll(() => handle.close())

test('behavior: a balance read that never answers fails the run with RPC_DEADLINE after callTimeoutMs', async () => {
  const { toy, payouts } = await unitPayoutScene(handle, 'slowbooks', { credit: 10n ** 6n })
  toy.chain.settings.callTimeoutMs = 50
  const log = { info() {}, error() {}, debug() {}, warn() {} }
  const ctx = { db: handle.db, log, chains: new Map([['slowbooks', toy.chain]]), xpubFor: unitKeys().xpubFor }
  // answers normally first: the run completes
  expect((await processReconcile(ctx as unknown as AppContext, 'slowbooks')).settled).toBeDefined()
  payouts.driver.balance = () => new Promise<never>(() => {})
  const failure = await processReconcile(ctx as unknown as AppContext, 'slowbooks').then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(errorCode(failure)).toBe('RPC_DEADLINE')
})
