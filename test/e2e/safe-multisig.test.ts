import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, asc, eq } from 'drizzle-orm'
import { type Hex, parseAbi, parseEther, parseEventLogs } from 'viem'
import { mnemonicToAccount, sign } from 'viem/accounts'
import { executeReadyProposals } from '../../src/core/payouts/multisig.ts'
import { reconcileChain } from '../../src/core/payouts/reconcile.ts'
import { newMnemonic } from '../../src/core/payouts/signer.ts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import {
  apiKeys,
  auditLog,
  multisigEvents,
  multisigProposals,
  type OutboundRow,
} from '../../src/db/schema/index.ts'
import { processPayouts } from '../../src/jobs/payouts.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import { cli, ok } from '../helpers/cli.ts'
import { proposalMutations } from '../helpers/multisig-proposals.ts'
import { outboundOf, passUntil as payoutPassesUntil } from '../helpers/payout-passes.ts'
import { deploySafe, ownerKeys, safeState } from '../helpers/safe.ts'

// A 2-of-3 Safe (the published Safe 1.4.1 contracts, deployed on anvil) is the chain's cold wallet: the gateway's
// own cold moves fill it with ETH and USDT; a move back to the treasury is proposed through the API, one owner's
// signature leaves it SIGNING, a non-owner's or a garbage signature is INVALID_SIGNATURE and writes nothing, a
// second owner's made offline with `tollgate multisig sign` makes it READY; the signer's pass sends the Safe's
// execTransaction from the gas tank, it confirms, and the books match the chain exactly.

const ownerMnemonic = newMnemonic()
const ownerPath = "m/44'/60'/0'/0/7"
// two owners hold plain keys, the third a mnemonic (signing with `--mnemonic-env … --path …`)
const [alice, bob] = ownerKeys(2) as [{ key: Hex; address: Hex }, { key: Hex; address: Hex }]
const carol = mnemonicToAccount(ownerMnemonic, { path: ownerPath })
const [mallory] = ownerKeys(1) as [{ key: Hex; address: Hex }]

let devnet: Devnet
let app: TestApp
let merchant: { id: string; key: string }
let safe: Hex
const chain = () => app.ctx.chains.get('devnet')!

beforeAll(async () => {
  devnet = await startDevnet()
  ;({ safe } = await deploySafe(devnet, [alice.address, bob.address, carol.address], 2))
  app = await createTestApp({
    config: testConfig(
      devnet.url,
      { confirmations: 2 },
      {
        sweeps: { enabled: false },
        cold: {
          address: safe,
          // configured in lower case: the driver checksums them
          multisig: {
            threshold: 2,
            owners: [carol.address, alice.address, bob.address].map((o) => o.toLowerCase()),
          },
          float: { ETH: '1', USDT: '10' },
          // what moves back to the treasury below stays there: the next pass does not send it to the Safe again
          minMove: { ETH: '2', USDT: '20' },
        },
      },
    ),
    env: { TOLLGATE_SEED: gatewayMnemonic },
  })
  merchant = await app.merchant('Safe shop')
}, 60_000)

afterAll(async () => {
  await app?.close()
  await devnet?.stop()
})

const eth = (address: string) => devnet.client.getBalance({ address: address as Hex })
const usdt = (address: string) => devnet.tokenBalance(address)
const rowsOf = (purpose: OutboundRow['purpose']) => outboundOf(app, 'devnet', purpose)
const proposalRow = async (id: string) =>
  (await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.id, id)))[0]

/** Payout passes, mining a block after each, until `done` holds right after a pass. */
const passUntil = (what: string, done: () => Promise<boolean>) =>
  payoutPassesUntil(app, 'devnet', () => devnet.mine(1), what, done, 45_000)

/** Ledger = chain for every wallet line, the Safe (cold) exactly too: it holds only what the gateway moved there. */
async function expectBooksExact() {
  const report = await reconcileChain(app.ctx, chain())
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(report.funding).toEqual([])
  const lines = report.lines.filter((l) => l.role !== 'deposits')
  expect(lines.map((l) => l.role).sort()).toEqual(['cold', 'cold', 'gas', 'gas', 'treasury', 'treasury'])
  for (const l of lines) expect({ ...l, difference: l.difference }).toEqual({ ...l, difference: 0n })
  return report
}

const proposalQuery =
  'id status wallet signers threshold signaturesMissing toSign destination to amount txHash failureReason'

const mutations = () => proposalMutations(app, merchant.key, 'devnet', proposalQuery)
const propose = (asset: string, to: string, amount: string, idempotencyKey: string) =>
  mutations().propose(asset, to, amount, idempotencyKey)
const addSignature = (proposalId: string, signature: string) =>
  mutations().addSignature(proposalId, signature)

/** What a refusal must leave untouched: the proposal row, its events and the audit log. */
async function snapshot(id: string) {
  return {
    row: await proposalRow(id),
    events: await app.ctx.db.select().from(multisigEvents).where(eq(multisigEvents.proposalId, id)),
    audit: (await app.ctx.db.select().from(auditLog)).length,
  }
}

const safeExecution = parseAbi([
  'event ExecutionSuccess(bytes32 indexed txHash, uint256 payment)',
  'event ExecutionFailure(bytes32 indexed txHash, uint256 payment)',
])

describe('Safe 2-of-3 cold wallet on anvil', () => {
  test('funds in through the cold moves, a move back proposed, signed by two owners (one with the CLI), executed by the gas tank, confirmed; wrong signatures refused; books exact', async () => {
    const treasury = roleWallet(app.ctx, chain(), 'treasury').address
    const gasTank = roleWallet(app.ctx, chain(), 'gas').address
    // the Safe as configured: its checksummed address and owners, as the driver normalized them
    expect(chain().settings.cold?.address).toBe(safe)
    expect(chain().settings.cold?.multisig).toEqual({
      address: safe,
      threshold: 2,
      owners: [carol.address, alice.address, bob.address],
    })

    // the operator funds the hot wallet and the gas tank; the treasury's excess over its float goes to the Safe
    await devnet.payNative(treasury, parseEther('5'))
    await devnet.payToken(treasury, 30_000_000n)
    await devnet.payNative(gasTank, parseEther('1'))
    expect((await reconcileChain(app.ctx, chain())).funding.length).toBe(3)
    await passUntil('the cold moves confirmed', async () => {
      const moves = await rowsOf('cold')
      return moves.length === 2 && moves.every((m) => m.status === 'confirmed')
    })
    const moves = await rowsOf('cold')
    const ethMove = moves.find((m) => m.asset.endsWith('slip44:60'))!
    const safeEth = parseEther('4') - ethMove.maxFee
    expect(await eth(safe)).toBe(safeEth)
    expect(await usdt(safe)).toBe(20_000_000n)
    await expectBooksExact()

    // a move of 1.5 ETH back into the treasury, for the owners to sign
    const proposed = await propose('ETH', treasury.toLowerCase(), '1.5', 'back-to-hot-eth')
    expect(proposed.__typename).toBe('ProposeTransferPayload')
    const p = proposed.proposal
    expect(p).toMatchObject({
      status: 'SIGNING',
      wallet: safe,
      to: treasury,
      amount: '1.5',
      destination: 'treasury',
      signers: [],
      threshold: 2,
      signaturesMissing: 2,
      txHash: null,
    })
    expect(p.toSign).toMatch(/^0x[0-9a-f]{64}$/)
    // the same key and parameters answer the same draft
    const again = await propose('ETH', treasury, '1.5', 'back-to-hot-eth')
    expect(again).toMatchObject({ replayed: true, proposal: { id: p.id } })

    // alice signs with her wallet → still SIGNING: one is not enough
    const one = await addSignature(p.id, await sign({ hash: p.toSign, privateKey: alice.key, to: 'hex' }))
    expect(one).toMatchObject({ status: 'SIGNING', signers: [alice.address], signaturesMissing: 1 })
    expect(await executeReadyProposals(app.ctx, chain())).toBe(0)

    // mallory (no owner) signs the real digest; garbage in several shapes: refused, and nothing is written
    const before = await snapshot(p.id)
    const refusedCli = ok(
      await cli(['multisig', 'sign', '--digest', p.toSign, '--key', mallory.key]),
    ).stdout.trim()
    const attempts = [
      refusedCli,
      'garbage',
      `0x${'ab'.repeat(65)}`,
      `0x${'11'.repeat(64)}1b`,
      // alice's signature of another digest
      await sign({ hash: `0x${'42'.repeat(32)}`, privateKey: alice.key, to: 'hex' }),
    ]
    for (const signature of attempts) {
      const refused = await addSignature(p.id, signature)
      expect(refused).toMatchObject({
        __typename: 'UserError',
        code: 'INVALID_SIGNATURE',
        field: 'signature',
      })
    }
    expect((await addSignature(p.id, refusedCli)).message).toContain(mallory.address)
    expect(await snapshot(p.id)).toEqual(before)

    // carol signs offline from her mnemonic and path with the CLI → READY
    const byCarol = ok(
      await cli(
        ['multisig', 'sign', '--digest', p.toSign, '--mnemonic-env', 'OWNER_MNEMONIC', '--path', ownerPath],
        {
          OWNER_MNEMONIC: ownerMnemonic,
        },
      ),
    )
    expect(byCarol.stderr).toContain(carol.address)
    const two = await addSignature(p.id, byCarol.stdout.trim())
    expect(two).toMatchObject({
      status: 'READY',
      signers: [carol.address, alice.address],
      signaturesMissing: 0,
    })
    // a READY proposal takes no more signatures
    const late = await addSignature(p.id, await sign({ hash: p.toSign, privateKey: bob.key, to: 'hex' }))
    expect(late).toMatchObject({ __typename: 'UserError', code: 'INVALID_STATE' })

    // the signer's pass executes it: the gas tank sends the Safe's execTransaction, it is mined and settled
    const treasuryEth = await eth(treasury)
    const gasEth = await eth(gasTank)
    expect(await executeReadyProposals(app.ctx, chain())).toBe(1)
    expect((await proposalRow(p.id))?.status).toBe('EXECUTING')
    await passUntil(
      'the Safe transfer confirmed',
      async () => (await proposalRow(p.id))?.status === 'CONFIRMED',
    )
    const [out] = await rowsOf('multisig')
    const done = await proposalRow(p.id)
    expect(out).toMatchObject({
      id: done!.outboundTxId,
      status: 'confirmed',
      fromAddress: gasTank,
      asset: chain().driver.nativeAsset.id,
    })
    const receipt = await devnet.client.getTransactionReceipt({ hash: out!.hash as Hex })
    expect(receipt.status).toBe('success')
    expect(receipt.to?.toLowerCase()).toBe(safe.toLowerCase())
    const executed = parseEventLogs({ abi: safeExecution, logs: receipt.logs })
    expect(executed.map((e) => [e.eventName, e.address.toLowerCase(), e.args.txHash])).toEqual([
      ['ExecutionSuccess', safe.toLowerCase(), p.toSign],
    ])
    // exactly the amount moved; the Safe paid no gas, the gas tank paid the fee
    expect(await eth(treasury)).toBe(treasuryEth + parseEther('1.5'))
    expect(await eth(safe)).toBe(safeEth - parseEther('1.5'))
    expect(await eth(gasTank)).toBe(gasEth - out!.fee!)
    expect((await safeState(devnet, safe)).nonce).toBe(1n)
    const shown = await app.gql(
      `query ($id: ID!) { multisigProposal(id: $id) { ${proposalQuery} } }`,
      { id: p.id },
      merchant.key,
    )
    expect(shown.data.multisigProposal).toMatchObject({
      status: 'CONFIRMED',
      txHash: out!.hash,
      failureReason: null,
    })

    // the trail: each step's event, and the audit rows of the proposal and both signatures
    const events = await app.ctx.db
      .select()
      .from(multisigEvents)
      .where(eq(multisigEvents.proposalId, p.id))
      .orderBy(asc(multisigEvents.seq))
    expect(events.map((e) => [e.type, e.status])).toEqual([
      ['multisig.proposed', 'SIGNING'],
      ['multisig.signed', 'SIGNING'],
      ['multisig.signed', 'READY'],
      ['multisig.executed', 'EXECUTING'],
      ['multisig.confirmed', 'CONFIRMED'],
    ])
    const audit = await app.ctx.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetType, 'multisig_proposal'), eq(auditLog.targetId, p.id)))
      .orderBy(asc(auditLog.createdAt))
    const [key] = await app.ctx.db.select().from(apiKeys).where(eq(apiKeys.merchantId, merchant.id))
    const keyId = key?.id ?? null
    expect(audit.map((a) => [a.action, a.merchantId, a.actor])).toEqual([
      ['multisig.proposed', merchant.id, keyId],
      ['multisig.signed', merchant.id, keyId],
      ['multisig.signed', merchant.id, keyId],
      // the execution is the signer's, on the owners' signatures
      ['multisig.executed', merchant.id, 'system:signer'],
    ])
    expect(audit.slice(1, 3).map((a) => (a.data as { owners: string[] }).owners)).toEqual([
      [alice.address],
      [carol.address],
    ])

    // the books: 1.5 ETH cold → treasury, the fee from the gas tank; the Safe's balance is the cold line, exact
    const report = await expectBooksExact()
    const cold = report.lines.find((l) => l.role === 'cold' && l.asset.endsWith('slip44:60'))
    expect(cold?.onChain).toBe(safeEth - parseEther('1.5'))

    // later passes leave the treasury's 1.5 ETH where it is (below minMove) and send nothing twice
    await processPayouts(app.ctx, 'devnet')
    await devnet.mine(1)
    await processPayouts(app.ctx, 'devnet')
    expect((await rowsOf('multisig')).length).toBe(1)
    expect((await rowsOf('cold')).length).toBe(2)
  }, 90_000)

  test('USDT out of the Safe: an ERC-20 transfer the owners sign (bob and carol), executed and booked exactly', async () => {
    const treasury = roleWallet(app.ctx, chain(), 'treasury').address
    const proposed = await propose('USDT', treasury, '5', 'back-to-hot-usdt')
    const p = proposed.proposal
    expect(p).toMatchObject({ status: 'SIGNING', amount: '5', destination: 'treasury' })
    const byBob = ok(await cli(['multisig', 'sign', '--digest', p.toSign, '--key', bob.key])).stdout.trim()
    expect(await addSignature(p.id, byBob)).toMatchObject({ status: 'SIGNING', signers: [bob.address] })
    const byCarol = await carol.sign({ hash: p.toSign })
    expect(await addSignature(p.id, byCarol)).toMatchObject({
      status: 'READY',
      signers: [carol.address, bob.address],
    })
    const treasuryUsdt = await usdt(treasury)
    const safeUsdt = await usdt(safe)
    expect(await executeReadyProposals(app.ctx, chain())).toBe(1)
    await passUntil(
      'the USDT transfer confirmed',
      async () => (await proposalRow(p.id))?.status === 'CONFIRMED',
    )
    expect(await usdt(treasury)).toBe(treasuryUsdt + 5_000_000n)
    expect(await usdt(safe)).toBe(safeUsdt - 5_000_000n)
    expect((await safeState(devnet, safe)).nonce).toBe(2n)
    await expectBooksExact()
  }, 60_000)

  test('error: proposals the Safe cannot make are refused before any owner signs', async () => {
    const treasury = roleWallet(app.ctx, chain(), 'treasury').address
    // more than the Safe holds
    expect(await propose('USDT', treasury, '1000', 'too-much')).toMatchObject({
      __typename: 'UserError',
      code: 'INVALID_STATE',
    })
    // the Safe paying itself
    expect(await propose('ETH', safe, '1', 'to-itself')).toMatchObject({
      __typename: 'UserError',
      code: 'INVALID_ADDRESS',
    })
    expect(await propose('ETH', '0x1234', '1', 'bad-address')).toMatchObject({
      __typename: 'UserError',
      code: 'INVALID_ADDRESS',
    })
    expect(
      (await app.ctx.db.select().from(multisigProposals).where(eq(multisigProposals.status, 'SIGNING')))
        .length,
    ).toBe(0)
  }, 30_000)

  test('behavior: two drafts at the same Safe nonce: once one executed, the other fails with the reason and nothing is sent for it', async () => {
    const operator = `0x${'0e'.repeat(20)}`
    const first = (await propose('ETH', operator, '0.1', 'out-1')).proposal
    const second = (await propose('ETH', operator, '0.2', 'out-2')).proposal
    expect(first.destination).toBe('external')
    const signBoth = async (id: string, digest: Hex) => {
      await addSignature(id, await sign({ hash: digest, privateKey: alice.key, to: 'hex' }))
      return addSignature(id, await sign({ hash: digest, privateKey: bob.key, to: 'hex' }))
    }
    expect(await signBoth(first.id, first.toSign)).toMatchObject({ status: 'READY' })
    expect(await executeReadyProposals(app.ctx, chain())).toBe(1)
    await passUntil(
      'the first transfer confirmed',
      async () => (await proposalRow(first.id))?.status === 'CONFIRMED',
    )
    const sent = (await rowsOf('multisig')).length
    // the second was drafted at the nonce the first used: its owners' signatures can never execute
    expect(await signBoth(second.id, second.toSign)).toMatchObject({ status: 'READY' })
    expect(await executeReadyProposals(app.ctx, chain())).toBe(0)
    const failed = await proposalRow(second.id)
    expect(failed?.status).toBe('FAILED')
    expect(failed?.failureReason).toContain('nonce')
    expect(failed?.outboundTxId).toBeNull()
    expect((await rowsOf('multisig')).length).toBe(sent)
    expect(await eth(operator)).toBe(parseEther('0.1'))
    await expectBooksExact()
  }, 60_000)

  test('behavior: two drafts READY at once for one Safe: one is executed, the other waits and then fails at its used nonce without sending anything', async () => {
    const operator = `0x${'0f'.repeat(20)}`
    const first = (await propose('ETH', operator, '0.1', 'both-1')).proposal
    const second = (await propose('ETH', operator, '0.2', 'both-2')).proposal
    for (const p of [first, second]) {
      await addSignature(p.id, await sign({ hash: p.toSign, privateKey: alice.key, to: 'hex' }))
      expect(
        await addSignature(p.id, await sign({ hash: p.toSign, privateKey: bob.key, to: 'hex' })),
      ).toMatchObject({ status: 'READY' })
    }
    const sent = (await rowsOf('multisig')).length
    // one execution per wallet at a time: the second is not sent beside the first (it would revert, its fee spent)
    expect(await executeReadyProposals(app.ctx, chain())).toBe(1)
    expect(await executeReadyProposals(app.ctx, chain())).toBe(0)
    expect((await rowsOf('multisig')).length).toBe(sent + 1)
    expect((await proposalRow(second.id))?.status).toBe('READY')
    await passUntil(
      'the first transfer confirmed',
      async () => (await proposalRow(first.id))?.status === 'CONFIRMED',
    )
    expect(await executeReadyProposals(app.ctx, chain())).toBe(0)
    expect((await proposalRow(second.id))?.status).toBe('FAILED')
    expect((await rowsOf('multisig')).length).toBe(sent + 1)
    expect(await eth(operator)).toBe(parseEther('0.1'))
    await expectBooksExact()
  }, 60_000)
})
