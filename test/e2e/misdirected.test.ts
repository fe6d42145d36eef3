import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { type Hex, parseEther } from 'viem'
import { createApiKey } from '../../src/core/access/api-keys.ts'
import { accountTotals, getBalances } from '../../src/core/ledger/balances.ts'
import { misdirectedHeld } from '../../src/core/ledger/postings.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { auditLog, paymentEvents, sweeps, transfers } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet, tokenAbi } from '../helpers/chain.ts'
import { cli } from '../helpers/cli.ts'

// Two EVM devnets of one gateway derive the same addresses: what a buyer sends on the wrong one reaches an
// address the gateway holds the key for. It is recorded on the payment (never counted toward it), booked once
// confirmed, and recovered by a sweep to the treasury of the chain it arrived on.

let home: Devnet
let side: Devnet
let app: TestApp
let merchant: { id: string; key: string }
const scanners = new Map<string, ScannerState>()
const token = '0x5FbDB2315678afecb367f032d93F642f64180aa3'

beforeAll(async () => {
  ;[home, side] = await Promise.all([startDevnet(), startDevnet({ chainId: 31338 })])
  process.env.TEST_RPC_URL = home.url
  process.env.TEST_SIDE_RPC_URL = side.url
  const config = (await import('../fixtures/two-evm.config.ts')).default
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  merchant = await app.merchant('Wrong network shop')
}, 60_000)
afterAll(async () => {
  await app.close()
  await Promise.all([home.stop(), side.stop()])
})

const sideNet = () => side
const sync = (name: 'home' | 'side') => {
  const scanner = scanners.get(name) ?? newScannerState()
  scanners.set(name, scanner)
  return syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get(name)!)
}
const transfersOf = (paymentId: string) =>
  app.ctx.db.select().from(transfers).where(eq(transfers.misdirectedPaymentId, paymentId))
const heldOn = async (chainName: string) =>
  (await accountTotals(app.ctx.db, { accounts: [misdirectedHeld] }))
    .filter((r) => r.chain === chainName)
    .map((r) => [r.asset, r.total])
const recover = (input: Record<string, unknown>, key = merchant.key) =>
  app.gql(
    `mutation ($input: RecoverMisdirectedDepositInput!) {
      recoverMisdirectedDeposit(input: $input) {
        __typename
        ... on MisdirectedRecovery { id chain asset status }
        ... on UserError { code field message }
      }
    }`,
    { input },
    key,
  )

describe('wrong-network deposits', () => {
  test('behavior: ETH sent on the side chain to a home payment address is recorded there, never counted', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'ETH',
      amount: '1',
    })
    expect(app.ctx.chains.get('side')?.siblings).toEqual(['home'])
    await sync('home')
    await sync('side')
    const paid = await side.payNative(payment.address, parseEther('1'))
    const result = await sync('side')
    expect(result.changes.map((c) => [c.paymentId, c.type])).toEqual([[payment.id, 'payment.misdirected']])

    const [stored] = await transfersOf(payment.id)
    expect(stored).toMatchObject({
      chain: 'side',
      paymentId: null,
      txHash: paid.transactionHash,
      amount: parseEther('1'),
      status: 'seen',
    })
    const view = await app.gql(
      `query ($id: ID!) { payment(id: $id) { status amountReceived
          transfers { chain asset misdirected txHash amount status } } }`,
      { id: payment.id },
      merchant.key,
    )
    expect(view.data.payment.status).toBe('PENDING')
    expect(view.data.payment.amountReceived).toBe('0')
    expect(view.data.payment.transfers).toEqual([
      {
        chain: 'side',
        asset: 'eip155:31338/slip44:60',
        misdirected: true,
        txHash: paid.transactionHash,
        amount: parseEther('1').toString(),
        status: 'seen',
      },
    ])
    const events = await app.ctx.db
      .select()
      .from(paymentEvents)
      .where(eq(paymentEvents.paymentId, payment.id))
    const notice = events.find((e) => e.type === 'payment.misdirected')
    expect(notice?.data).toMatchObject({ chain: 'side', asset: 'ETH', amount: parseEther('1').toString() })

    // a rescan of the same blocks neither doubles it nor announces it again
    await side.mine(2)
    const again = await sync('side')
    expect(again.changes).toEqual([])
    const rows = await transfersOf(payment.id)
    expect(rows).toHaveLength(1)
    expect(rows[0]?.status).toBe('confirmed')
    expect(await heldOn('side')).toEqual([['eip155:31338/slip44:60', parseEther('1')]])
    // no merchant balance moved: the money is owed under gateway:misdirected
    expect(await getBalances(app.ctx, merchant.id)).toEqual([])
  })

  test('behavior: the payment paid on its own chain completes as usual beside a misdirected token deposit', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'USDT',
      amount: '5',
    })
    await side.payToken(payment.address, 5_000_000n)
    await home.payToken(payment.address, 5_000_000n)
    await home.mine(2)
    await side.mine(2)
    await sync('side')
    await sync('home')
    const view = await app.gql(
      `query ($id: ID!) { payment(id: $id) { status transfers { chain misdirected amount } } }`,
      { id: payment.id },
      merchant.key,
    )
    expect(view.data.payment.status).toBe('COMPLETED')
    expect(view.data.payment.transfers.map((t: any) => [t.chain, t.misdirected, t.amount]).sort()).toEqual([
      ['home', false, '5000000'],
      ['side', true, '5000000'],
    ])
    const balances = await getBalances(app.ctx, merchant.id)
    expect(balances.map((b) => [b.chain, b.available])).toEqual([['home', 5_000_000n]])
  })

  test('behavior: a misdirected deposit a reorg removes is taken back out of the ledger', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'ETH',
      amount: '1',
    })
    const before = await heldOn('side')
    await side.payNative(payment.address, parseEther('0.25'))
    await side.mine(2)
    await sync('side')
    const booked = await heldOn('side')
    expect(booked).not.toEqual(before)
    await side.reorg(4)
    await side.mine(1)
    await sync('side')
    const [row] = await transfersOf(payment.id)
    expect(row?.status).toBe('orphaned')
    expect(await heldOn('side')).toEqual(before)
  })

  test('behavior: with creditMisdirected the merchant is credited on the chain it arrived on; the payment stays apart', async () => {
    const side = app.ctx.chains.get('side')!
    side.settings.creditMisdirected = true
    try {
      const { payment } = await createPayment(app.ctx, merchant.id, {
        chain: 'home',
        asset: 'ETH',
        amount: '3',
      })
      const heldBefore = await heldOn('side')
      await sideNet().payNative(payment.address, parseEther('0.5'))
      await sideNet().mine(2)
      await sync('side')
      const balances = await getBalances(app.ctx, merchant.id)
      expect(
        balances.find((b) => b.chain === 'side' && b.asset === 'eip155:31338/slip44:60')?.available,
      ).toBe(parseEther('0.5'))
      expect(await heldOn('side')).toEqual(heldBefore)
      const view = await app.gql(
        `query ($id: ID!) { payment(id: $id) { status amountReceived } }`,
        { id: payment.id },
        merchant.key,
      )
      expect(view.data.payment).toEqual({ status: 'PENDING', amountReceived: '0' })
    } finally {
      side.settings.creditMisdirected = false
    }
  })

  test('hostile: recovery refuses what is not there, not its own or not allowed, and writes nothing', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'ETH',
      amount: '1',
    })
    const other = await app.merchant('Someone else')
    const { key: viewer } = await createApiKey(app.ctx, {
      merchantId: merchant.id,
      name: 'viewer',
      scopes: ['payments:read'],
    })
    const sweepsBefore = (await app.ctx.db.select().from(sweeps)).length
    const auditsBefore = (await app.ctx.db.select().from(auditLog)).length
    const codeOf = async (input: Record<string, unknown>, key?: string) => {
      const r = await recover(input, key)
      return r.data?.recoverMisdirectedDeposit?.code ?? r.errors?.[0]?.extensions?.code
    }
    const base = { paymentId: payment.id, chain: 'side', asset: 'ETH' }
    expect(await codeOf(base)).toBe('INVALID_STATE') // nothing arrived on side for it
    expect(await codeOf({ ...base, chain: 'home' })).toBe('INVALID_INPUT')
    expect(await codeOf({ ...base, chain: 'polygon' })).toBe('UNKNOWN_CHAIN')
    expect(await codeOf({ ...base, asset: 'DOGE' })).toBe('UNKNOWN_ASSET')
    expect(await codeOf({ ...base, paymentId: 'pay_nope' })).toBe('NOT_FOUND')
    expect(await codeOf(base, other.key)).toBe('NOT_FOUND')
    expect(await codeOf(base, viewer)).toBe('FORBIDDEN')
    expect((await app.ctx.db.select().from(sweeps)).length).toBe(sweepsBefore)
    expect((await app.ctx.db.select().from(auditLog)).length).toBe(auditsBefore)
  })

  test('behavior: recovery sweeps the address on the chain it arrived on to that treasury; reconciliation exact', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'ETH',
      amount: '2',
    })
    await side.payNative(payment.address, parseEther('2'))
    await side.mine(2)
    await sync('side')
    const treasury = roleWallet(app.ctx, app.ctx.chains.get('side')!, 'treasury')
    const treasuryBefore = await side.client.getBalance({ address: treasury.address as Hex })

    const answer = await recover({ paymentId: payment.id, chain: 'side', asset: 'ETH' })
    expect(answer.data.recoverMisdirectedDeposit).toMatchObject({
      __typename: 'MisdirectedRecovery',
      chain: 'side',
    })
    const again = await recover({ paymentId: payment.id, chain: 'side', asset: 'ETH' })
    expect(again.data.recoverMisdirectedDeposit.id).toBe(answer.data.recoverMisdirectedDeposit.id)
    const [audit] = await app.ctx.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'payment.misdirected_recovered'), eq(auditLog.targetId, payment.id)))
    expect(audit?.data).toMatchObject({ chain: 'side', asset: 'ETH' })

    let sweep: typeof sweeps.$inferSelect | undefined
    for (let i = 0; i < 30 && sweep?.status !== 'done'; i++) {
      await processPayouts(app.ctx, 'side')
      await side.mine(1)
      ;[sweep] = await app.ctx.db
        .select()
        .from(sweeps)
        .where(and(eq(sweeps.paymentId, payment.id), eq(sweeps.chain, 'side')))
    }
    expect(sweep?.status).toBe('done')
    expect(await side.client.getBalance({ address: payment.address as Hex })).toBe(0n)
    const gained = (await side.client.getBalance({ address: treasury.address as Hex })) - treasuryBefore
    expect(gained).toBe(sweep?.amount ?? -1n)
    expect(gained > parseEther('1.99')).toBe(true)
    // the payment's own chain was never touched: no sweep of its own opened (it is not paid)
    const own = await app.ctx.db
      .select()
      .from(sweeps)
      .where(and(eq(sweeps.paymentId, payment.id), eq(sweeps.chain, 'home')))
    expect(own).toEqual([])
    const report = await reconcileChain(app.ctx, app.ctx.chains.get('side')!)
    expect(report.discrepancies).toEqual([])

    // paid on its own chain after all: its own sweep still opens beside the recovery
    await home.payNative(payment.address, parseEther('2'))
    await home.mine(2)
    await sync('home')
    await processPayouts(app.ctx, 'home')
    const mine = await app.ctx.db
      .select()
      .from(sweeps)
      .where(and(eq(sweeps.paymentId, payment.id), eq(sweeps.chain, 'home')))
    expect(mine).toHaveLength(1)
  })
})

describe('tollgate payment recover', () => {
  test('behavior: the operator recovers a misdirected token deposit from the command line (audited as the CLI)', async () => {
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'home',
      asset: 'USDT',
      amount: '7',
    })
    await side.payToken(payment.address, 7_000_000n)
    await side.mine(2)
    await sync('side')
    const env = {
      DATABASE_URL: app.databaseUrl,
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/two-evm.config.ts',
      TEST_RPC_URL: home.url,
      TEST_SIDE_RPC_URL: side.url,
    }
    const wrong = await cli(['payment', 'recover', payment.id, '--chain', 'side'], env)
    expect(wrong.code).toBe(2)
    const missing = await cli(['payment', 'recover', 'pay_nope', '--chain', 'side', '--asset', 'USDT'], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('NOT_FOUND')

    const run = await cli(['payment', 'recover', payment.id, '--chain', 'side', '--asset', 'USDT'], env)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`of ${payment.id} (merchant ${merchant.id}) on side: pending`)
    const [sweep] = await app.ctx.db
      .select()
      .from(sweeps)
      .where(and(eq(sweeps.paymentId, payment.id), eq(sweeps.chain, 'side')))
    expect(sweep).toMatchObject({
      asset: 'eip155:31338/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3',
      fromAddress: payment.address,
      status: 'pending',
    })
    const [audit] = await app.ctx.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, 'payment.misdirected_recovered'), eq(auditLog.targetId, payment.id)))
    expect(audit?.actor).toBe('cli')
  })
})

// keep the token ABI import honest: the side chain's token is the same contract as home's
test('default: both devnets deploy the token at the same address', async () => {
  const read = (d: Devnet) =>
    d.client.readContract({
      address: token,
      abi: tokenAbi,
      functionName: 'balanceOf',
      args: [d.payer.address],
    })
  expect(await read(home)).toBeGreaterThan(0n)
  expect(await read(side)).toBeGreaterThan(0n)
})
