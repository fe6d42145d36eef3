import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { createWalletClient, getAddress, type Hex, http, parseEther } from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { getBalances } from '../../src/core/ledger/balances.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, type ScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import { ledgerPostings, outboundTxs, withdrawals } from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import refusers from '../contracts/Refusers.json'
import type { TestApp } from '../helpers/app.ts'
import { type Devnet, devnetChain } from '../helpers/chain.ts'
import { startDevnetApp } from '../helpers/devnet-app.ts'

let devnet: Devnet
let app: TestApp
let merchant: { id: string; key: string }
let other: { id: string; key: string }
let scanner: ScannerState
let treasury: { address: string; path: string }

const recipients = Array.from(
  { length: 12 },
  (_, i) => privateKeyToAccount(`0x${(i + 1).toString(16).padStart(64, '7')}` as Hex).address,
)

beforeAll(async () => {
  ;({ devnet, app } = await startDevnetApp(
    { confirmations: 2 },
    {
      payouts: { mode: 'batch', maxBatch: 50, approvalAbove: { ETH: '5' } },
      // this file looks at the treasury's payouts alone; sweeps have their own tests
      sweeps: { enabled: false },
    },
    { WEBHOOK_ALLOW_PRIVATE: 'true' },
  ))
  merchant = await app.merchant('Payout shop')
  other = await app.merchant('Other shop')
  scanner = newScannerState()
  const chain = app.ctx.chains.get('devnet')!
  treasury = roleWallet(app.ctx, chain, 'treasury')
  // deposits are credited through the real path: paid on chain, scanned, confirmed
  await payAndComplete(merchant.key, 'ETH', '10', parseEther('10'))
  await payAndComplete(merchant.key, 'USDT', '1000', 1_000_000_000n)
  // the operator funds the hot wallet (sweeps into it are a separate step)
  await devnet.payNative(treasury.address, parseEther('20'))
  await devnet.payToken(treasury.address, 2_000_000_000n)
}, 60_000)
afterAll(async () => {
  await app.close()
  await devnet.stop()
})

const sync = () => syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, app.ctx.chains.get('devnet')!)

async function payAndComplete(key: string, asset: string, amount: string, units: bigint) {
  const res = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset, amount } },
    key,
  )
  const p = res.data.createPayment.payment as { id: string; address: string }
  if (asset === 'ETH') await devnet.payNative(p.address, units)
  else await devnet.payToken(p.address, units)
  await devnet.mine(2)
  await sync()
}

const requestMutation = `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
  __typename ... on RequestWithdrawalPayload { replayed withdrawal { id status amount to asset { symbol } } }
  ... on UserError { code field message } } }`

const request = (input: Record<string, unknown>, key = merchant.key) =>
  app.gql(requestMutation, { input }, key)

/** Another admin key of the payout merchant (its id and the secret). */
async function adminKey(name: string): Promise<{ id: string; key: string }> {
  const created = await app.gql(
    'mutation ($name: String!) { createApiKey(name: $name, scopes: [ADMIN]) { ... on ApiKeyCreated { key apiKey { id } } } }',
    { name },
    merchant.key,
  )
  return { id: created.data.createApiKey.apiKey.id, key: created.data.createApiKey.key }
}

async function balances(merchantId = merchant.id) {
  const rows = await getBalances(app.ctx, merchantId)
  return Object.fromEntries(rows.map((b) => [b.asset.endsWith('slip44:60') ? 'ETH' : 'USDT', b]))
}

/** Runs the payout job and mines until every given withdrawal is settled. */
async function driveUntilSettled(ids: string[]) {
  for (let i = 0; i < 60; i++) {
    await processPayouts(app.ctx, 'devnet')
    const rows = await app.ctx.db.select().from(withdrawals)
    const open = rows.filter(
      (w) => ids.includes(w.id) && !['CONFIRMED', 'FAILED', 'CANCELED'].includes(w.status),
    )
    if (open.length === 0) return
    await devnet.mine(1)
  }
  throw new Error('withdrawals did not settle')
}

const tokenBalance = (address: string) => devnet.tokenBalance(address)

describe('withdrawals on anvil', () => {
  test('default: 12 withdrawals (ETH and USDT) are batched, sent with sequential nonces and confirmed; ledger and chain agree', async () => {
    const before = await balances()
    const treasuryEthBefore = await devnet.client.getBalance({ address: treasury.address as Hex })
    const treasuryUsdtBefore = await tokenBalance(treasury.address)
    const nonceBefore = await devnet.client.getTransactionCount({ address: treasury.address as Hex })
    const ids: string[] = []
    for (const [i, to] of recipients.entries()) {
      const asset = i % 2 === 0 ? 'ETH' : 'USDT'
      const amount = asset === 'ETH' ? `0.0${i + 1}` : `${i + 1}.5`
      const res = await request({ chain: 'devnet', asset, to, amount, idempotencyKey: `payout-${i}` })
      expect(res.data.requestWithdrawal.__typename).toBe('RequestWithdrawalPayload')
      expect(res.data.requestWithdrawal.withdrawal.status).toBe('QUEUED')
      ids.push(res.data.requestWithdrawal.withdrawal.id)
    }
    const reserved = await balances()
    const ethTotal = recipients.reduce((s, _, i) => (i % 2 === 0 ? s + parseEther(`0.0${i + 1}`) : s), 0n)
    const usdtTotal = recipients.reduce(
      (s, _, i) => (i % 2 === 1 ? s + BigInt(i + 1) * 1_000_000n + 500_000n : s),
      0n,
    )
    expect(reserved.ETH?.available).toBe((before.ETH?.available ?? 0n) - ethTotal)
    expect(reserved.ETH?.reserved).toBe(ethTotal)
    expect(reserved.USDT?.reserved).toBe(usdtTotal)

    await driveUntilSettled(ids)

    const rows = await app.ctx.db.select().from(withdrawals)
    expect(rows.filter((w) => ids.includes(w.id)).map((w) => w.status)).toEqual(ids.map(() => 'CONFIRMED'))
    for (const [i, to] of recipients.entries()) {
      if (i % 2 === 0) expect(await devnet.client.getBalance({ address: to })).toBe(parseEther(`0.0${i + 1}`))
      else expect(await tokenBalance(to)).toBe(BigInt(i + 1) * 1_000_000n + 500_000n)
    }
    const sent = await app.ctx.db
      .select()
      .from(outboundTxs)
      .where(eq(outboundTxs.fromAddress, treasury.address))
    const nonces = sent.map((t) => t.nonce as bigint).sort((a, b) => (a < b ? -1 : 1))
    expect(nonces).toEqual(ids.map((_, i) => BigInt(nonceBefore) + BigInt(i)))
    expect(await devnet.client.getTransactionCount({ address: treasury.address as Hex })).toBe(
      nonceBefore + 12,
    )
    // the treasury lost exactly the payouts plus the fees the ledger recorded
    const fees = sent.reduce((s, t) => s + (t.fee as bigint), 0n)
    const recordedFees = rows
      .filter((w) => ids.includes(w.id))
      .reduce((s, w) => s + (w.networkFee as bigint), 0n)
    expect(recordedFees).toBe(fees)
    expect(await devnet.client.getBalance({ address: treasury.address as Hex })).toBe(
      treasuryEthBefore - ethTotal - fees,
    )
    expect(await tokenBalance(treasury.address)).toBe(treasuryUsdtBefore - usdtTotal)
    const after = await balances()
    expect(after.ETH?.reserved).toBe(0n)
    expect(after.USDT?.reserved).toBe(0n)
    expect(after.ETH?.available).toBe((before.ETH?.available ?? 0n) - ethTotal)
    expect(after.USDT?.available).toBe((before.USDT?.available ?? 0n) - usdtTotal)
    // every posting balances per (chain, asset)
    const postings = await app.ctx.db.select().from(ledgerPostings)
    const sums = new Map<string, bigint>()
    for (const p of postings) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + p.amount)
    expect([...sums.values()].every((v) => v === 0n)).toBe(true)
  }, 60_000)

  test('behavior: a replayed idempotency key returns the same withdrawal and reserves nothing more', async () => {
    const input = {
      chain: 'devnet',
      asset: 'USDT',
      to: recipients[0],
      amount: '1',
      idempotencyKey: 'replay-1',
    }
    const first = await request(input)
    const reserved = (await balances()).USDT?.reserved
    const again = await request(input)
    expect(again.data.requestWithdrawal.replayed).toBe(true)
    expect(again.data.requestWithdrawal.withdrawal.id).toBe(first.data.requestWithdrawal.withdrawal.id)
    expect((await balances()).USDT?.reserved).toBe(reserved!)
    const canceled = await app.gql(
      'mutation ($id: ID!) { cancelWithdrawal(id: $id) { __typename ... on Withdrawal { status } } }',
      { id: first.data.requestWithdrawal.withdrawal.id },
      merchant.key,
    )
    expect(canceled.data.cancelWithdrawal.status).toBe('CANCELED')
    expect((await balances()).USDT?.reserved).toBe(reserved! - 1_000_000n)
  })

  test('behavior: an admin rejects a held withdrawal with a reason; the reserve is released and the audit log says who and why', async () => {
    const before = await balances()
    const res = await request({
      chain: 'devnet',
      asset: 'ETH',
      to: recipients[8],
      amount: '6',
      idempotencyKey: 'big-rejected',
    })
    const id = res.data.requestWithdrawal.withdrawal.id as string
    expect(res.data.requestWithdrawal.withdrawal.status).toBe('AWAITING_APPROVAL')
    const held = await balances()
    const decide = (op: 'approveWithdrawal' | 'rejectWithdrawal', reason: unknown, key: string) =>
      app.gql(
        `mutation ($id: ID!, $reason: String) { ${op}(id: $id, reason: $reason) {
          __typename ... on Withdrawal { status } ... on UserError { code field } } }`,
        { id, reason },
        key,
      )
    const admin = await adminKey('rejecting admin')
    // hostile reasons are refused and change nothing, whoever decides
    for (const op of ['approveWithdrawal', 'rejectWithdrawal'] as const)
      for (const reason of ['x'.repeat(501), 'nul\u0000', 'esc \u001b[2J', 'bidi \u202e', 'sep\u2028'])
        expect({ op, reason, result: (await decide(op, reason, admin.key)).data[op] }).toEqual({
          op,
          reason,
          result: { __typename: 'UserError', code: 'INVALID_INPUT', field: 'reason' },
        })
    for (const reason of [42, ['a'], { a: 1 }])
      expect((await decide('rejectWithdrawal', reason, admin.key)).errors?.length).toBeGreaterThan(0)
    // a key without admin cannot decide at all
    const payoutsOnly = await app.gql(
      'mutation { createApiKey(name: "payouts", scopes: [WITHDRAWALS_WRITE]) { ... on ApiKeyCreated { key } } }',
      {},
      merchant.key,
    )
    for (const op of ['approveWithdrawal', 'rejectWithdrawal'] as const)
      expect((await decide(op, null, payoutsOnly.data.createApiKey.key)).errors?.[0]?.extensions?.code).toBe(
        'FORBIDDEN',
      )
    expect(await balances()).toEqual(held)
    const [still] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, id))
    expect(still?.status).toBe('AWAITING_APPROVAL')

    const rejected = await decide('rejectWithdrawal', 'recipient unknown to us', admin.key)
    expect(rejected.data.rejectWithdrawal).toEqual({ __typename: 'Withdrawal', status: 'CANCELED' })
    expect(await balances()).toEqual(before)
    const log = await app.gql(
      '{ auditLog(first: 20) { edges { node { action actor targetId requestId data } } } }',
      {},
      admin.key,
    )
    const entries = (log.data.auditLog.edges as Array<{ node: Record<string, unknown> }>)
      .map((e) => e.node)
      .filter((e) => e.targetId === id)
    expect(entries).toEqual([
      {
        action: 'withdrawal.rejected',
        actor: admin.id,
        targetId: id,
        requestId: expect.any(String),
        data: { approvals: 0, required: 1, reason: 'recipient unknown to us' },
      },
    ])
  })

  test('behavior: above the approval threshold a withdrawal waits for a second admin key; approved, it is sent', async () => {
    const res = await request({
      chain: 'devnet',
      asset: 'ETH',
      to: recipients[1],
      amount: '6',
      idempotencyKey: 'big-1',
    })
    // merchant keys from app.merchant() carry every scope, admin included; a payouts-only key cannot approve
    const w = res.data.requestWithdrawal.withdrawal
    expect(w.status).toBe('AWAITING_APPROVAL')
    await processPayouts(app.ctx, 'devnet')
    const [held] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, w.id))
    expect(held?.status).toBe('AWAITING_APPROVAL')
    // the key that asked cannot also approve
    const self = await app.gql(
      'mutation ($id: ID!) { approveWithdrawal(id: $id) { __typename ... on UserError { code field } } }',
      { id: w.id },
      merchant.key,
    )
    expect(self.data.approveWithdrawal).toEqual({
      __typename: 'UserError',
      code: 'SELF_APPROVAL',
      field: 'id',
    })
    const [still] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, w.id))
    expect(still).toMatchObject({ status: 'AWAITING_APPROVAL', approvedByKey: null })
    const approver = await adminKey('second admin')
    const approved = await app.gql(
      'mutation ($id: ID!) { approveWithdrawal(id: $id, reason: "invoice 7") { __typename ... on Withdrawal { status } } }',
      { id: w.id },
      approver.key,
    )
    expect(approved.data.approveWithdrawal.status).toBe('QUEUED')
    const [row] = await app.ctx.db.select().from(withdrawals).where(eq(withdrawals.id, w.id))
    expect(row?.approvedByKey).toBe(approver.id)
    expect(row?.requestedByKey).not.toBe(approver.id)
    const log = await app.gql(
      '{ auditLog(first: 20) { edges { node { action actor targetId data } } } }',
      {},
      approver.key,
    )
    expect(
      (log.data.auditLog.edges as Array<{ node: Record<string, unknown> }>)
        .map((e) => e.node)
        .filter((e) => e.targetId === w.id),
    ).toEqual([
      {
        action: 'withdrawal.approved',
        actor: approver.id,
        targetId: w.id,
        data: { approvals: 1, required: 1, reason: 'invoice 7' },
      },
    ])
    const before = await devnet.client.getBalance({ address: recipients[1] as Hex })
    await driveUntilSettled([w.id])
    expect(await devnet.client.getBalance({ address: recipients[1] as Hex })).toBe(before + parseEther('6'))
  }, 60_000)
})

describe('withdrawal destinations', () => {
  /** A contract with no payable receive: ETH sent to it reverts. */
  let refusesEther: Hex

  beforeAll(async () => {
    const deployer = mnemonicToAccount('test test test test test test test test test test test junk', {
      addressIndex: 4,
    })
    const wallet = createWalletClient({
      account: deployer,
      chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
      transport: http(devnet.url),
    })
    const c = refusers.contracts.RefusesEther
    const hash = await wallet.deployContract({ abi: c.abi as never, bytecode: c.bytecode as Hex })
    refusesEther = (await devnet.client.waitForTransactionReceipt({ hash })).contractAddress as Hex
  })

  /** Every spelling `validateAddress` accepts: EIP-55 checksum, all lowercase, all uppercase. */
  const spellings = (address: string) => {
    const checksummed = getAddress(address)
    return [checksummed, checksummed.toLowerCase(), `0x${checksummed.slice(2).toUpperCase()}`]
  }

  async function expectRefused(what: string, to: string, asset: 'ETH' | 'USDT', code: string) {
    const before = await balances()
    const count = (await app.ctx.db.select().from(withdrawals)).length
    const res = await request({
      chain: 'devnet',
      asset,
      to,
      amount: asset === 'ETH' ? '0.01' : '1',
      idempotencyKey: `dest-${what}-${asset}-${to}`,
    })
    expect({ what, to, asset, result: res.data.requestWithdrawal }).toMatchObject({
      what,
      to,
      asset,
      result: { __typename: 'UserError', code, field: 'to' },
    })
    expect(await balances()).toEqual(before)
    expect((await app.ctx.db.select().from(withdrawals)).length).toBe(count)
  }

  test('error: the treasury and the gas tank, in every spelling and asset, are OWN_ADDRESS and reserve nothing', async () => {
    const chain = app.ctx.chains.get('devnet')!
    for (const role of ['treasury', 'gas'] as const)
      for (const to of spellings(roleWallet(app.ctx, chain, role).address))
        for (const asset of ['ETH', 'USDT'] as const) await expectRefused(role, to, asset, 'OWN_ADDRESS')
  })

  test('error: a deposit address, another merchant’s or one’s own, is OWN_ADDRESS and reserves nothing', async () => {
    const paymentOf = async (key: string) => {
      const res = await app.gql(
        `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ... on CreatePaymentPayload { payment { address } } } }`,
        { input: { chain: 'devnet', asset: 'USDT', amount: '5' } },
        key,
      )
      return res.data.createPayment.payment.address as string
    }
    for (const [what, address] of [
      ['theirs', await paymentOf(other.key)],
      ['mine', await paymentOf(merchant.key)],
    ] as const)
      for (const to of spellings(address)) await expectRefused(what, to, 'USDT', 'OWN_ADDRESS')
  })

  test('error: the zero address and 0x…dEaD are BURN_ADDRESS and reserve nothing', async () => {
    for (const to of [
      '0x0000000000000000000000000000000000000000',
      ...spellings('0x000000000000000000000000000000000000dEaD'),
    ])
      for (const asset of ['ETH', 'USDT'] as const) await expectRefused('burn', to, asset, 'BURN_ADDRESS')
  })

  test('error: ETH to a contract that refuses it, or USDT to the USDT contract, is DESTINATION_REJECTED and reserves nothing', async () => {
    for (const to of spellings(refusesEther))
      await expectRefused('refuses ether', to, 'ETH', 'DESTINATION_REJECTED')
    // the token contract takes no ETH either, and tokens sent to it are stuck there
    for (const to of spellings(devnet.tokenAddress)) {
      await expectRefused('token contract', to, 'ETH', 'DESTINATION_REJECTED')
      await expectRefused('token contract', to, 'USDT', 'DESTINATION_REJECTED')
    }
  })

  test('default: a contract is a fine destination for the token it does not refuse', async () => {
    const res = await request({
      chain: 'devnet',
      asset: 'USDT',
      to: refusesEther,
      amount: '1',
      idempotencyKey: 'dest-contract-usdt',
    })
    expect(res.data.requestWithdrawal.__typename).toBe('RequestWithdrawalPayload')
    await app.gql(
      'mutation ($id: ID!) { cancelWithdrawal(id: $id) { __typename } }',
      { id: res.data.requestWithdrawal.withdrawal.id },
      merchant.key,
    )
  })
})

describe('withdrawal webhooks', () => {
  test('default: the merchant receives signed withdrawal.requested, withdrawal.broadcast and withdrawal.confirmed', async () => {
    const received: Array<{ headers: Headers; body: string }> = []
    const receiver = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (req) => {
        received.push({ headers: req.headers, body: await req.text() })
        return new Response(null, { status: 204 })
      },
    })
    try {
      const created = await app.gql(
        `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
          ... on WebhookEndpointWithSecret { secret } ... on UserError { code message } } }`,
        {
          input: {
            url: `http://127.0.0.1:${receiver.port}/hooks`,
            events: ['WITHDRAWAL_REQUESTED', 'WITHDRAWAL_BROADCAST', 'WITHDRAWAL_CONFIRMED'],
          },
        },
        merchant.key,
      )
      const secret = created.data.createWebhookEndpoint.secret as string
      const res = await request({
        chain: 'devnet',
        asset: 'USDT',
        to: recipients[6],
        amount: '3',
        idempotencyKey: 'hook-1',
      })
      const id = res.data.requestWithdrawal.withdrawal.id as string
      await driveUntilSettled([id])
      const { dispatchWebhookEvents } = await import('../../src/core/webhooks/dispatch.ts')
      const { attemptDelivery } = await import('../../src/core/webhooks/delivery.ts')
      for (const d of await dispatchWebhookEvents(app.ctx)) await attemptDelivery(app.ctx, d.id)
      const events = received.map((r) => JSON.parse(r.body)).filter((e) => e.data.id === id)
      expect(events.map((e) => e.type)).toEqual([
        'withdrawal.requested',
        'withdrawal.broadcast',
        'withdrawal.confirmed',
      ])
      const confirmed = events.at(-1)
      expect(confirmed.data).toMatchObject({
        object: 'withdrawal',
        status: 'CONFIRMED',
        amount: '3',
        to: recipients[6],
      })
      expect(confirmed.data.txHash).toMatch(/^0x[0-9a-f]{64}$/)
      const { verifyWebhook } = await import('../../src/core/webhooks/signing.ts')
      for (const r of received) expect(verifyWebhook({ headers: r.headers, body: r.body, secret })).toBe(true)
    } finally {
      receiver.stop(true)
    }
  }, 60_000)
})

describe('hostile withdrawal input', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['garbage address', { to: 'not-an-address' }, 'INVALID_ADDRESS'],
    ['bad checksum', { to: '0x52908400098527886e0F7030069857D2E4169EE7' }, 'INVALID_ADDRESS'],
    ['a Bitcoin address', { to: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu' }, 'INVALID_ADDRESS'],
    ['a Tron address', { to: 'TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH' }, 'INVALID_ADDRESS'],
    ['zero', { amount: '0' }, 'INVALID_AMOUNT'],
    ['negative', { amount: '-1' }, 'INVALID_AMOUNT'],
    ['too precise', { amount: '0.0000001' }, 'INVALID_AMOUNT'],
    ['exponent', { amount: '1e3' }, 'INVALID_AMOUNT'],
    ['more than the balance', { amount: '1000000' }, 'INSUFFICIENT_BALANCE'],
    ['unknown asset', { asset: 'DOGE' }, 'UNKNOWN_ASSET'],
    ['unknown chain', { chain: 'solana' }, 'UNKNOWN_CHAIN'],
    ['empty idempotency key', { idempotencyKey: '' }, 'INVALID_INPUT'],
  ]
  for (const [name, patch, code] of cases)
    test(`error: ${name} is ${code} and reserves nothing`, async () => {
      const before = await balances()
      const count = (await app.ctx.db.select().from(withdrawals)).length
      const res = await request({
        chain: 'devnet',
        asset: 'USDT',
        to: recipients[2],
        amount: '1',
        idempotencyKey: `hostile-${name}`,
        ...patch,
      })
      expect(res.data.requestWithdrawal).toMatchObject({ __typename: 'UserError', code })
      expect(await balances()).toEqual(before)
      expect((await app.ctx.db.select().from(withdrawals)).length).toBe(count)
    })

  test('error: the same key sent for two assets at the same moment: one is taken, the other refused, nothing else', async () => {
    const before = await balances()
    const [a, b] = await Promise.all([
      request({ chain: 'devnet', asset: 'USDT', to: recipients[7], amount: '1', idempotencyKey: 'race-1' }),
      request({
        chain: 'devnet',
        asset: 'ETH',
        to: recipients[7],
        amount: '0.001',
        idempotencyKey: 'race-1',
      }),
    ])
    const results = [a, b].map((r) => r.data.requestWithdrawal)
    expect(results.map((r) => r.__typename ?? r.code).sort()).toEqual([
      'RequestWithdrawalPayload',
      'UserError',
    ])
    expect(results.find((r) => r.__typename === 'UserError')).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    })
    const after = await balances()
    const taken = results.find((r) => r.__typename === 'RequestWithdrawalPayload').withdrawal
    const symbol = taken.asset.symbol as 'ETH' | 'USDT'
    const other = symbol === 'ETH' ? 'USDT' : 'ETH'
    expect(after[other]).toEqual(before[other])
    expect(after[symbol]!.reserved).toBeGreaterThan(before[symbol]!.reserved)
  })

  test('error: an idempotency key reused with other parameters is refused', async () => {
    const base = { chain: 'devnet', asset: 'USDT', to: recipients[3], amount: '2', idempotencyKey: 'reuse-1' }
    expect((await request(base)).data.requestWithdrawal.__typename).toBe('RequestWithdrawalPayload')
    const before = await balances()
    const res = await request({ ...base, amount: '3' })
    expect(res.data.requestWithdrawal).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' })
    expect(await balances()).toEqual(before)
  })

  test('error: another merchant can neither see, cancel nor approve a withdrawal; a merchant without funds cannot withdraw', async () => {
    const mine = await request({
      chain: 'devnet',
      asset: 'USDT',
      to: recipients[4],
      amount: '1',
      idempotencyKey: 'iso-1',
    })
    const id = mine.data.requestWithdrawal.withdrawal.id
    const seen = await app.gql('query ($id: ID!) { withdrawal(id: $id) { id } }', { id }, other.key)
    expect(seen.data.withdrawal).toBeNull()
    for (const op of ['cancelWithdrawal', 'approveWithdrawal'])
      expect(
        (
          await app.gql(
            `mutation ($id: ID!) { ${op}(id: $id) { ... on UserError { code } } }`,
            { id },
            other.key,
          )
        ).data[op],
      ).toEqual({ code: 'NOT_FOUND' })
    const broke = await request(
      { chain: 'devnet', asset: 'USDT', to: recipients[4], amount: '1', idempotencyKey: 'x' },
      other.key,
    )
    expect(broke.data.requestWithdrawal).toMatchObject({ code: 'INSUFFICIENT_BALANCE' })
    expect(await balances(other.id)).toEqual({})
  })

  test('error: keys without the scope get FORBIDDEN and change nothing', async () => {
    const created = await app.gql(
      `mutation { createApiKey(name: "read only", scopes: [PAYMENTS_READ]) { ... on ApiKeyCreated { key } } }`,
      {},
      merchant.key,
    )
    const readOnly = created.data.createApiKey.key as string
    const before = await balances()
    const res = await request(
      { chain: 'devnet', asset: 'USDT', to: recipients[5], amount: '1', idempotencyKey: 'scope-1' },
      readOnly,
    )
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(await balances()).toEqual(before)
    const visible = await app.gql('{ balances { available asset { symbol } } }', {}, readOnly)
    expect(visible.data.balances.length).toBe(2)
  })
})
