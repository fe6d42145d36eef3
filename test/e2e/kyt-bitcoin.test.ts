import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { chain, defineConfig, kyt } from '@tollgate/sdk'
import { script as btcScript, Transaction } from 'bitcoinjs-lib'
import { and, eq } from 'drizzle-orm'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { coins, outboundTxs, transfers } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { decodeBitcoinAddress } from '../../src/plugins/bitcoin/address.ts'
import { p2wpkhAddress } from '../../src/plugins/bitcoin/derive.ts'
import { bitcoinNetworks } from '../../src/plugins/bitcoin/networks.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, type RegtestKey, regtestKey, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import {
  decideHeld,
  heldByList,
  kytFields,
  sdnListAddresses,
  statusOf as statusOfPayment,
  type TestKytList,
  writeKytList,
} from '../helpers/kyt-list.ts'
import { waitFor } from '../helpers/processes.ts'
import { creditOf } from '../helpers/unit.ts'

// KYT screening of Bitcoin deposits through the whole gateway: GraphQL API, chain worker (scanner, screening
// pump, consolidation) and the sanctions provider over a list file, on a bcoin regtest node. The senders are
// wallets the test funds and pays from; the list holds one of them, one real SDN XBT entry (a mainnet address,
// parsed but never a regtest one) and the mainnet spelling of the clean payer's own script, so a match by
// script alone across networks would show up as a wrongly held clean payment.

const listedPayer = regtestKey('kyt: listed payer')
const cleanPayer = regtestKey('kyt: clean payer')
const sdnEntry = sdnListAddresses('XBT').find((a) => a.startsWith('bc1q')) as string
const cleanPayerOnMainnet = p2wpkhAddress(cleanPayer.publicKey, bitcoinNetworks.mainnet)

let node: Bcoin
let app: TestApp
let key: string
let list: TestKytList
let stopWorkers: (() => Promise<void>) | undefined

beforeAll(async () => {
  node = await startBcoin()
  list = writeKytList('XBT', [sdnEntry, listedPayer.address, cleanPayerOnMainnet], '2025-03-14')
  const config = defineConfig({
    chains: {
      regtest: chain(
        () => import('../../src/plugins/bitcoin/index.ts'),
        {
          network: 'regtest',
          rpcUrls: [node.url],
          confirmations: 2,
          finalityDepth: 6,
          timeoutMs: 5000,
          headPollMs: 200,
        },
        {
          startHeight: await node.height(),
          scanIntervalMs: 300,
          payouts: { intervalMs: 200, windowMs: 200, maxBatch: 50 },
          sweeps: { maxFeeShareBps: 1000 },
        },
      ),
    },
    kyt: {
      sanctions: kyt(() => import('../../src/plugins/kyt-sanctions/index.ts'), {
        lists: [{ asset: 'XBT', file: list.file }],
      }),
    },
  })
  app = await createTestApp({ config, env: { TOLLGATE_SEED: gatewayMnemonic } })
  key = (await app.merchant('Bitcoin KYT shop')).key
  stopWorkers = await startWorkers(app.ctx)
}, 90_000)

afterAll(async () => {
  await stopWorkers?.()
  await app?.close()
  await node?.stop()
  list?.remove()
})

const gql = (query: string, variables: Record<string, unknown> = {}, apiKey = key) =>
  app.gql(query, variables, apiKey)

/** A coin a test wallet holds: one output of a funding transaction from the faucet. */
type OwnedCoin = { txid: string; vout: number; value: bigint; key: RegtestKey }

const fee = 10_000n

/** Gives `owner` one coin of `value` sats (mined, so it is an ordinary confirmed output). */
async function fund(owner: RegtestKey, value: bigint): Promise<OwnedCoin> {
  const sent = await node.send(owner.address, value)
  await node.mine(1)
  return { txid: sent.txid, vout: sent.vout, value, key: owner }
}

/**
 * Spends test wallets' P2WPKH coins, each input signed with its owner's key, to `outputs`; what is left over
 * is the fee. Broadcast, not mined.
 */
async function spend(
  inputs: readonly OwnedCoin[],
  outputs: ReadonlyArray<{ address: string; amount: bigint }>,
): Promise<string> {
  const tx = new Transaction()
  tx.version = 2
  for (const coin of inputs) tx.addInput(Buffer.from(coin.txid, 'hex').reverse(), coin.vout)
  for (const o of outputs) {
    const decoded = decodeBitcoinAddress(o.address, bitcoinNetworks.regtest)
    if (!decoded.ok) throw new Error(`not a regtest address: ${o.address}`)
    tx.addOutput(decoded.value.script, o.amount)
  }
  for (const [i, coin] of inputs.entries()) {
    const hash160 = coin.key.script.subarray(2)
    const scriptCode = new Uint8Array([0x76, 0xa9, 0x14, ...hash160, 0x88, 0xac])
    const digest = tx.hashForWitnessV0(i, scriptCode, coin.value, Transaction.SIGHASH_ALL)
    const signature = secp256k1.sign(digest, coin.key.privateKey, { prehash: false, lowS: true })
    tx.setWitness(i, [btcScript.signature.encode(signature, Transaction.SIGHASH_ALL), coin.key.publicKey])
  }
  return node.broadcast(tx.toHex())
}

/** Pays `amount` from one fresh coin of `payer`. */
async function payFrom(payer: RegtestKey, to: string, amount: bigint): Promise<string> {
  return spend([await fund(payer, amount + fee)], [{ address: to, amount }])
}

/** Mines a block at a time until `check` passes: deposits reach their depth, sweeps get mined. */
function mineUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 40_000) {
  let last = 0
  return waitFor(
    what,
    async () => {
      const value = await check()
      if (value) return value
      if (Date.now() - last > 300) {
        last = Date.now()
        await node.mine(1)
      }
      return undefined
    },
    timeoutMs,
  )
}

async function createPayment(amount: string) {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain: 'regtest', asset: 'BTC', amount } },
  )
  expect(res.errors).toBeUndefined()
  return res.data.createPayment.payment as { id: string; address: string }
}

async function paymentView(id: string) {
  const res = await gql(`query ($id: ID!) { payment(id: $id) { id status amountReceived ${kytFields} } }`, {
    id,
  })
  expect(res.errors).toBeUndefined()
  return res.data.payment
}

const statusOf = (id: string) => statusOfPayment(app.ctx.db, id)

/** What the ledger credited the merchant for one payment, in base units. */
const creditedFor = (paymentId: string) => creditOf(app.ctx.db, paymentId)

async function availableBtc(): Promise<string> {
  const res = await gql('{ balances { chain asset { symbol } available } }')
  const line = res.data.balances.find(
    (b: { chain: string; asset: { symbol: string } }) => b.chain === 'regtest' && b.asset.symbol === 'BTC',
  )
  return line?.available ?? '0'
}

const amount = 5_000_000n
const held: { id: string; txid: string }[] = []
let clean: { id: string; txid: string }

describe('KYT screening of Bitcoin deposits (bcoin regtest, sanctions list)', () => {
  test('default: a payment from a listed sender is HELD and uncredited, its screening naming the list version and the address; the same amount from a clean sender completes and is credited', async () => {
    // the list loaded: three entries, of which the two mainnet ones are no regtest address and key nothing
    const loaded = app.logs.find((l) => l.msg === 'sanctions list loaded')
    expect(loaded).toMatchObject({ list: 'XBT', version: list.version, entries: 3, skipped: 2 })

    const fromListed = await createPayment('0.05')
    const fromClean = await createPayment('0.05')
    const listedTx = await payFrom(listedPayer, fromListed.address, amount)
    const cleanTx = await payFrom(cleanPayer, fromClean.address, amount)
    held.push({ id: fromListed.id, txid: listedTx })
    clean = { id: fromClean.id, txid: cleanTx }

    await mineUntil(
      'the clean payment completed and the listed one held',
      async () =>
        (await statusOf(fromClean.id)) === 'COMPLETED' && (await statusOf(fromListed.id)) === 'HELD',
    )

    const heldView = await paymentView(fromListed.id)
    expect(heldView.status).toBe('HELD')
    expect(heldView.amountReceived).toBe('0.05')
    expect(heldView.kyt).toEqual(heldByList(list, 'XBT', listedPayer.address, listedTx))
    expect(list.version).toMatch(/^XBT 2025-03-14 sha256:[0-9a-f]{16}$/)
    expect(list.version).toContain(list.sha256.slice(0, 16))
    expect(await creditedFor(fromListed.id)).toBe(0n)

    const cleanView = await paymentView(fromClean.id)
    expect(cleanView.status).toBe('COMPLETED')
    expect(cleanView.kyt).toMatchObject([
      {
        state: 'CLEAR',
        verdict: 'ALLOW',
        reason: null,
        versions: `sanctions=${list.version}`,
        addresses: [cleanPayer.address],
        answers: [{ provider: 'sanctions', address: cleanPayer.address, verdict: 'ALLOW', reasons: [] }],
      },
    ])
    expect(await creditedFor(fromClean.id)).toBe(amount)
    expect(await availableBtc()).toBe('0.05')
  }, 120_000)

  test('behavior: an admin releases a held payment and it completes, credited and consolidated; another held one rejected ends REJECTED, never credited, its coin never adopted nor spent', async () => {
    const released = held[0] as { id: string; txid: string }
    const toReject = await createPayment('0.05')
    const rejectedTx = await payFrom(listedPayer, toReject.address, amount)
    await mineUntil('the second listed payment held', async () => (await statusOf(toReject.id)) === 'HELD')

    // deciding needs the admin scope and a note
    const reader = await gql(
      `mutation { createApiKey(name: "reader", scopes: [PAYMENTS_READ, PAYMENTS_WRITE]) {
        ... on ApiKeyCreated { key } ... on UserError { code message } } }`,
    )
    const readerKey = reader.data.createApiKey.key as string
    const refused = await gql(
      `mutation ($id: ID!) { releasePayment(id: $id, note: "looks fine") {
        ... on Payment { status } ... on UserError { code } } }`,
      { id: released.id },
      readerKey,
    )
    expect(refused.data?.releasePayment ?? null).toBeNull()
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    const noNote = await gql(
      `mutation ($id: ID!) { releasePayment(id: $id, note: "  ") { ... on Payment { status } ... on UserError { code field } } }`,
      { id: released.id },
    )
    expect(noNote.data.releasePayment).toEqual({ code: 'INVALID_INPUT', field: 'note' })
    expect(await statusOf(released.id)).toBe('HELD')

    const rejected = await decideHeld(gql, 'rejectPayment', toReject.id, 'sender on the sanctions list')
    expect(rejected).toMatchObject({
      status: 'REJECTED',
      kyt: [
        { state: 'REJECTED', verdict: 'BLOCK', reason: 'KYT_BLOCKED', note: 'sender on the sanctions list' },
      ],
    })
    expect(rejected.kyt[0].decidedBy).toMatch(/^key_/)

    const releasedView = await decideHeld(
      gql,
      'releasePayment',
      released.id,
      'customer identified; funds not from the listed entity',
    )
    expect(releasedView).toMatchObject({
      status: 'COMPLETED',
      kyt: [{ state: 'RELEASED', verdict: 'BLOCK', reason: 'KYT_BLOCKED' }],
    })
    expect(await creditedFor(released.id)).toBe(amount)
    expect(await availableBtc()).toBe('0.1')

    // the released and the clean deposit are adopted as coins and consolidated into the treasury
    const outpointOf = async (paymentId: string) => {
      const [t] = await app.ctx.db
        .select({ txid: transfers.txHash, vout: transfers.index })
        .from(transfers)
        .where(eq(transfers.paymentId, paymentId))
      return `${t?.txid}:${t?.vout}`
    }
    const releasedCoin = await outpointOf(released.id)
    const cleanCoin = await outpointOf(clean.id)
    const rejectedCoin = await outpointOf(toReject.id)
    expect(rejectedCoin.startsWith(rejectedTx)).toBe(true)
    await mineUntil('the released and the clean deposits consolidated', async () => {
      const swept = await app.ctx.db
        .select({ spends: outboundTxs.spends })
        .from(outboundTxs)
        .where(and(eq(outboundTxs.purpose, 'sweep'), eq(outboundTxs.status, 'confirmed')))
      const spent = swept.flatMap((s) => s.spends ?? [])
      return spent.includes(releasedCoin) && spent.includes(cleanCoin)
    })

    // the rejected deposit: never a coin of the gateway, never spent by anything it sent, never credited
    const adopted = await app.ctx.db.select().from(coins).where(eq(coins.chain, 'regtest'))
    const outpoints = adopted.map((c) => `${c.txid}:${c.vout}`)
    expect(outpoints).toContain(releasedCoin)
    expect(outpoints).toContain(cleanCoin)
    expect(outpoints).not.toContain(rejectedCoin)
    const everything = await app.ctx.db.select({ spends: outboundTxs.spends }).from(outboundTxs)
    expect(everything.flatMap((o) => o.spends ?? [])).not.toContain(rejectedCoin)
    const [rejectedTxid, rejectedVout] = rejectedCoin.split(':')
    expect(await node.rpc('gettxout', [rejectedTxid, Number(rejectedVout)])).not.toBeNull()
    expect(await statusOf(toReject.id)).toBe('REJECTED')
    expect(await creditedFor(toReject.id)).toBe(0n)
    expect(await availableBtc()).toBe('0.1')
  }, 120_000)

  test('behavior: a payment whose transaction spends a clean and a listed input is held: the worst sender decides', async () => {
    const p = await createPayment('0.05')
    const fromClean = await fund(cleanPayer, 3_000_000n)
    const fromListed = await fund(listedPayer, 2_000_000n + fee)
    const txid = await spend([fromClean, fromListed], [{ address: p.address, amount }])
    await mineUntil('the two-sender payment held', async () => (await statusOf(p.id)) === 'HELD')

    const view = await paymentView(p.id)
    expect(view.kyt).toHaveLength(1)
    const check = view.kyt[0]
    expect(check).toMatchObject({
      state: 'HELD',
      verdict: 'BLOCK',
      reason: 'KYT_BLOCKED',
      txHash: txid,
      versions: `sanctions=${list.version}`,
      // the spent outputs' addresses, in input order
      addresses: [cleanPayer.address, listedPayer.address],
    })
    expect(check.answers.map((a: { address: string; verdict: string }) => [a.address, a.verdict])).toEqual([
      [cleanPayer.address, 'ALLOW'],
      [listedPayer.address, 'BLOCK'],
    ])
    expect(await creditedFor(p.id)).toBe(0n)
  }, 120_000)

  // Funds screening allowed that cover the payment complete it beside a held deposit: the allowed coin is adopted
  // and consolidated, the rejected one never, and the books and the chain agree.
  test('behavior: a clean deposit credited beside a rejected one is adopted and consolidated, and the books and the chain agree', async () => {
    const p = await createPayment('0.05')
    const listedTx = await payFrom(listedPayer, p.address, 2_000_000n)
    await mineUntil('the listed part held', async () => (await statusOf(p.id)) === 'HELD')
    const cleanTx = await payFrom(cleanPayer, p.address, amount)
    // the clean deposit alone covers the payment: it completes on it, the listed part waiting for the review
    await mineUntil('the clean part credited', async () => (await creditedFor(p.id)) === amount)
    expect(await statusOf(p.id)).toBe('COMPLETED')

    const rejected = await gql(
      `mutation ($id: ID!) { rejectPayment(id: $id, note: "part of it came from a listed sender") {
        ... on Payment { status } ... on UserError { code message } } }`,
      { id: p.id },
    )
    // the payment stays paid by the clean funds; the rejected deposit never counts
    expect(rejected.data.rejectPayment).toEqual({ status: 'COMPLETED' })
    expect(await creditedFor(p.id)).toBe(amount)

    // a reconciliation adopts the deposit coins first: the credited one must be among them, the rejected one not
    const report = await reconcileChain(app.ctx, app.ctx.chains.get('regtest')!, { bookFunding: false })
    const outpoints = (await app.ctx.db.select().from(coins).where(eq(coins.chain, 'regtest'))).map(
      (c) => c.txid,
    )
    expect(outpoints).not.toContain(listedTx)
    expect(outpoints).toContain(cleanTx)
    expect(report.lines.find((l) => l.role === 'deposits')?.difference).toBe(0n)
    await mineUntil('the credited deposit consolidated', async () => {
      const swept = await app.ctx.db
        .select({ spends: outboundTxs.spends })
        .from(outboundTxs)
        .where(and(eq(outboundTxs.purpose, 'sweep'), eq(outboundTxs.status, 'confirmed')))
      return swept.flatMap((s) => s.spends ?? []).some((o) => o.startsWith(cleanTx))
    })
  }, 120_000)
})
