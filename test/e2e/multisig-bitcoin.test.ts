import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { HDKey } from '@scure/bip32'
import { script as btcScript, Psbt, Transaction } from 'bitcoinjs-lib'
import { and, eq, sql } from 'drizzle-orm'
import { holdings } from '../../src/core/ledger/postings.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { executeReadyProposals } from '../../src/core/payouts/multisig.ts'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { newScannerState, syncChain } from '../../src/core/scanning/sync.ts'
import {
  auditLog,
  coins,
  ledgerPostings,
  multisigEvents,
  multisigProposals,
  type OutboundRow,
  payments,
} from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import type { TestApp } from '../helpers/app.ts'
import { type Bcoin, startBcoin } from '../helpers/bcoin.ts'
import { cli, ok } from '../helpers/cli.ts'
import { multisigOwner } from '../helpers/multisig-owners.ts'
import { proposalMutations } from '../helpers/multisig-proposals.ts'
import { outboundOf, passUntil as payoutPassesUntil } from '../helpers/payout-passes.ts'
import { startRegtestApp } from '../helpers/regtest-app.ts'

// A 2-of-3 P2WSH cold wallet of three owners' tpubs on a bcoin regtest node: the gateway's own cold move fills it
// (its output becomes a tracked cold coin), a move back to the treasury is proposed as a PSBT, one owner's partial
// signature leaves it SIGNING, a second owner's made offline with `tollgate psbt sign` makes it READY, the signer
// broadcasts it and it confirms; a non-owner's signature is refused and writes nothing; the books match the node.

const [alice, bob, carol, mallory] = ['alice', 'bob', 'carol', 'mallory'].map(multisigOwner) as [
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
]
const float = 30_000_000n

let node: Bcoin
let app: TestApp
let merchant: { id: string; key: string }
let closeApp: (() => Promise<void>) | undefined
const scanner = newScannerState()
const chain = () => app.ctx.chains.get('regtest')!

beforeAll(async () => {
  node = await startBcoin()
  ;({ app, close: closeApp } = await startRegtestApp(
    node,
    {
      multisig: { threshold: 2, owners: [alice.xpub, bob.xpub, carol.xpub] },
      float: { BTC: '0.3' },
      minMove: { BTC: '0.3' },
    },
    'tollgate-msig-',
  ))
  merchant = await app.merchant('Multisig shop')
}, 90_000)

afterAll(async () => {
  await closeApp?.()
  await node?.stop()
})

const pass = () => processPayouts(app.ctx, 'regtest')
const coldAddress = () => chain().settings.cold!.address

const rowsOf = (purpose: OutboundRow['purpose']) => outboundOf(app, 'regtest', purpose)

const coinsOf = (role: 'cold' | 'treasury', status: 'available' | 'spent' = 'available') =>
  app.ctx.db
    .select()
    .from(coins)
    .where(and(eq(coins.chain, 'regtest'), eq(coins.role, role), eq(coins.status, status)))

const sum = (rows: ReadonlyArray<{ amount: bigint }>) => rows.reduce((s, r) => s + r.amount, 0n)

/** Payout passes, mining a block after each, until `done` holds right after a pass. */
const passUntil = (what: string, done: () => Promise<boolean>) =>
  payoutPassesUntil(app, 'regtest', () => node.mine(1), what, done, 60_000)

/** What the ledger says cold storage holds on the chain. */
async function coldLedger(): Promise<bigint> {
  const [row] = await app.ctx.db
    .select({ total: sql<string>`coalesce(sum(${ledgerPostings.amount}), 0)` })
    .from(ledgerPostings)
    .where(and(eq(ledgerPostings.chain, 'regtest'), eq(ledgerPostings.account, holdings.cold)))
  return -BigInt(row?.total ?? '0')
}

/** Ledger = node for the gateway's wallets (reconciliation) and for the cold wallet's tracked coins. */
async function expectBooksExact() {
  const report = await reconcileChain(app.ctx, chain())
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(report.funding).toEqual([])
  const cold = await coinsOf('cold')
  const onChain = await chain().driver.payouts!.unspent!(cold.map((c) => `${c.txid}:${c.vout}`))
  const held = [...onChain.values()].reduce((s: bigint, v) => s + (v ?? 0n), 0n)
  expect(held).toBe(sum(cold))
  expect(await coldLedger()).toBe(held)
  // reconciliation itself has the cold wallet's line, exact
  const line = report.lines.find((l) => l.role === 'cold')
  expect(line).toMatchObject({ ledger: held, onChain: held, difference: 0n })
}

const proposalQuery = `id status signers threshold signaturesMissing toSign destination to amount txHash`
const mutations = () => proposalMutations(app, merchant.key, 'regtest', proposalQuery)
const propose = (to: string, amount: string, idempotencyKey: string) =>
  mutations().propose('BTC', to, amount, idempotencyKey)
const addSignature = (proposalId: string, signature: string) =>
  mutations().addSignature(proposalId, signature)

/** Mallory's own valid signature of input 0 (her key at 0/0 over the transaction's real digest), in the PSBT. */
function signedByNonOwner(base64: string): string {
  const psbt = Psbt.fromBase64(base64)
  const key = HDKey.fromExtendedKey(mallory.xprv, { public: 0x043587cf, private: 0x04358394 })
    .deriveChild(0)
    .deriveChild(0)
  const input = psbt.data.inputs[0]!
  const unsigned = Transaction.fromBuffer(psbt.data.globalMap.unsignedTx.toBuffer())
  const digest = unsigned.hashForWitnessV0(
    0,
    input.witnessScript!,
    input.witnessUtxo!.value,
    Transaction.SIGHASH_ALL,
  )
  const signature = secp256k1.sign(digest, key.privateKey!, { prehash: false })
  psbt.data.inputs[0]!.partialSig = [
    {
      pubkey: key.publicKey!,
      signature: btcScript.signature.encode(signature, Transaction.SIGHASH_ALL),
    },
  ]
  return psbt.toBase64()
}

describe('Bitcoin multisig cold wallet (2-of-3 P2WSH, PSBTs)', () => {
  test('funds in through the cold move, a PSBT out signed by two owners offline, broadcast, confirmed; a non-owner refused; books exact', async () => {
    // the cold address is the owners' 2-of-3 P2WSH, derived from their xpubs
    expect(coldAddress()).toBe(
      app.ctx.chains
        .get('regtest')!
        .driver.multisig!.wallet({ threshold: 2, owners: [carol.xpub, alice.xpub, bob.xpub] }).address,
    )
    expect(coldAddress().startsWith('bcrt1q')).toBe(true)
    expect(coldAddress().length).toBe(64)

    // a payment, consolidated into the treasury, whose excess over the float goes to the cold wallet
    const { payment } = await createPayment(app.ctx, merchant.id, {
      chain: 'regtest',
      asset: 'BTC',
      amount: '0.7',
    })
    await node.send(payment.address, 70_000_000n)
    await node.mine(2)
    await syncChain({ db: app.ctx.db, log: app.ctx.log, scanner }, chain())
    const [paid] = await app.ctx.db.select().from(payments).where(eq(payments.id, payment.id))
    expect(paid?.status).toBe('COMPLETED')
    await passUntil('the cold move confirmed', async () => (await rowsOf('cold'))[0]?.status === 'confirmed')
    const [move] = await rowsOf('cold')
    // its output to the wallet is a tracked cold coin
    const coldCoins = await coinsOf('cold')
    expect(coldCoins.map((c) => [c.txid, c.address, c.amount])).toEqual([
      [move!.hash!, coldAddress(), move!.amount!],
    ])
    await expectBooksExact()
    const coldBefore = move!.amount!
    const treasuryBefore = sum(await coinsOf('treasury'))
    expect(treasuryBefore).toBe(float)

    // a move of 0.2 BTC back into the treasury, for the owners to sign
    const treasury = roleWallet(app.ctx, chain(), 'treasury').address
    const proposed = await propose(treasury, '0.2', 'back-to-hot-1')
    expect(proposed.__typename).toBe('ProposeTransferPayload')
    const p = proposed.proposal
    expect(p).toMatchObject({
      status: 'SIGNING',
      signers: [],
      threshold: 2,
      signaturesMissing: 2,
      destination: 'treasury',
    })
    const locked = await app.ctx.db
      .select()
      .from(coins)
      .where(and(eq(coins.role, 'cold'), eq(coins.status, 'locked')))
    expect(locked.map((c) => [c.txid, c.lockedBy])).toEqual([[move!.hash, p.id]])

    // alice signs (in her own wallet software: the same PSBT signer) → still SIGNING
    const byAlice = ok(await cli(['psbt', 'sign', '--psbt', p.toSign, '--xprv', alice.xprv])).stdout.trim()
    const one = await addSignature(p.id, byAlice)
    expect(one).toMatchObject({ status: 'SIGNING', signers: [alice.xpub], signaturesMissing: 1 })

    // mallory, no owner, signs the same transaction with her own key: refused, nothing written
    const rowBefore = (
      await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, p.id))
    )[0]
    const eventsBefore = await app.ctx.db
      .select()
      .from(multisigEvents)
      .where(eq(multisigEvents.proposalId, p.id))
    const auditBefore = await app.ctx.db.select().from(auditLog)
    // her key has no input in the PSBT: the command refuses to sign
    const refusedCli = await cli(['psbt', 'sign', '--psbt', p.toSign, '--xprv', mallory.xprv])
    expect(refusedCli.code).not.toBe(0)
    expect(refusedCli.stderr).toMatch(/no input/)
    const refused = await addSignature(p.id, signedByNonOwner(p.toSign))
    expect(refused).toMatchObject({ __typename: 'UserError', code: 'INVALID_SIGNATURE', field: 'signature' })
    expect(
      (await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, p.id)))[0],
    ).toEqual(rowBefore)
    expect(await app.ctx.db.select().from(multisigEvents).where(eq(multisigEvents.proposalId, p.id))).toEqual(
      eventsBefore,
    )
    expect((await app.ctx.db.select().from(auditLog)).length).toBe(auditBefore.length)

    // bob signs offline from his mnemonic and account path with the CLI → READY
    const byBob = ok(
      await cli(
        ['psbt', 'sign', '--psbt', p.toSign, '--mnemonic-env', 'OWNER_MNEMONIC', '--path', bob.path],
        {
          OWNER_MNEMONIC: bob.mnemonic,
        },
      ),
    ).stdout.trim()
    const two = await addSignature(p.id, byBob)
    expect(two).toMatchObject({ status: 'READY', signers: [alice.xpub, bob.xpub], signaturesMissing: 0 })

    // the signer's pass executes it: the owners' transaction stored signed, broadcast, mined, settled
    expect(await executeReadyProposals(app.ctx, chain())).toBe(1)
    await passUntil('the multisig transfer confirmed', async () => {
      const [row] = await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, p.id))
      return row?.status === 'CONFIRMED'
    })
    const [done] = await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, p.id))
    const [out] = await rowsOf('multisig')
    expect(out).toMatchObject({ id: done!.outboundTxId, status: 'confirmed', fromAddress: coldAddress() })
    const raw = await node.rpc<string>('getrawtransaction', [out!.hash, false])
    const tx = Transaction.fromHex(raw)
    // spends the cold coin with a 2-of-2-signature P2WSH witness; pays the treasury exactly 0.2 BTC, change to cold
    expect(tx.ins.map((i) => `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`)).toEqual([
      `${move!.hash}:${coldCoins[0]!.vout}`,
    ])
    expect(tx.ins[0]!.witness.length).toBe(4)
    const treasuryScript = chain().driver.addressKey(treasury)
    const coldScript = chain().driver.addressKey(coldAddress())
    const paidTreasury = tx.outs.filter((o) => Buffer.from(o.script).toString('hex') === treasuryScript)
    expect(paidTreasury.map((o) => o.value)).toEqual([20_000_000n])
    const change = tx.outs.filter((o) => Buffer.from(o.script).toString('hex') === coldScript)
    expect(change.length).toBe(1)
    const fee = coldBefore - 20_000_000n - change[0]!.value
    expect(out!.fee).toBe(fee)

    // the coins: the spent cold coin spent, the change a cold coin, the treasury's output a treasury coin
    expect((await coinsOf('cold', 'spent')).map((c) => c.txid)).toEqual([move!.hash!])
    expect((await coinsOf('cold')).map((c) => [c.txid, c.amount])).toEqual([[out!.hash!, change[0]!.value]])
    expect(sum(await coinsOf('treasury'))).toBe(treasuryBefore + 20_000_000n)
    // the ledger: 0.2 BTC cold → treasury, the fee from cold
    expect(await coldLedger()).toBe(coldBefore - 20_000_000n - fee)
    await expectBooksExact()

    // the audit trail and the events of each step
    const events = await app.ctx.db.select().from(multisigEvents).where(eq(multisigEvents.proposalId, p.id))
    expect(events.map((e) => e.type)).toEqual([
      'multisig.proposed',
      'multisig.signed',
      'multisig.signed',
      'multisig.executed',
      'multisig.confirmed',
    ])
    // later passes do not move the treasury back (below minMove) nor spend anything twice
    await pass()
    await node.mine(1)
    await pass()
    expect((await rowsOf('multisig')).length).toBe(1)
    await expectBooksExact()
  }, 150_000)
})
