import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sha256 } from '@noble/hashes/sha2.js'
import type { Coin, PayoutDriver, SignedTx, UnsignedTx } from '@tollgate/sdk'
import { Block, Transaction } from 'bitcoinjs-lib'
import { type Bcoin, regtestKey, startBcoin } from '../../../test/helpers/bcoin.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import { bitcoinAddressKey, scriptToAddress } from './address.ts'
import { p2wpkhAddress } from './derive.ts'
import { feeFor } from './fees.ts'
import { type BitcoinDriver, createBitcoinDriver } from './index.ts'
import { bitcoinNetworks } from './networks.ts'
import { type BitcoinOptionsInput, bitcoinOptionsSchema } from './options.ts'
import type { BitcoinPayload } from './payload.ts'
import { maxSignatureSize } from './vsize.ts'

const regtest = bitcoinNetworks.regtest
const silent = { debug() {}, info() {}, warn() {}, error() {} }
const signer = createSigner('test test test test test test test test test test test junk')

let node: Bcoin
let driver: BitcoinDriver
let payouts: PayoutDriver

function driverFor(overrides: Partial<BitcoinOptionsInput> = {}): BitcoinDriver {
  const options = { network: 'regtest', rpcUrls: [node.url], broadcastWaitMs: 1500, ...overrides }
  return createBitcoinDriver(bitcoinOptionsSchema.parse(options), { chain: 'regtest', log: silent })
}

/** The gateway's key `accountPath/chain/i`: its P2WPKH address and path. */
function wallet(chain: 0 | 1, i: number) {
  const path = `${driver.accountPath}/${chain}/${i}`
  return { address: p2wpkhAddress(signer.publicKey(path), regtest), path }
}

/** Pays `amounts` to the gateway keys `/0/first…` in one faucet transaction, mines it, returns the coins. */
async function fund(first: number, amounts: readonly bigint[]): Promise<Coin[]> {
  const keys = amounts.map((_, i) => wallet(0, first + i))
  const sent = await node.sign(keys.map((k, i) => ({ address: k.address, amount: amounts[i]! })))
  await node.broadcast(sent.raw)
  await node.mine(1)
  return keys.map((k, i) => ({
    txid: sent.txid,
    vout: i,
    amount: amounts[i]!,
    script: bitcoinAddressKey(k.address, regtest),
    path: k.path,
  }))
}

const asset = () => driver.nativeAsset
const payloadOf = (tx: UnsignedTx) => tx.payload as unknown as BitcoinPayload
const mempool = () => node.rpc<string[]>('getrawmempool')
const minedTx = async (txid: string) =>
  Transaction.fromHex(await node.rpc<string>('getrawtransaction', [txid, false]))
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex')
/** Budgeted minus real weight: one unit per byte a signature is below 72 (see vsize.ts). */
const signatureSlack = (tx: Transaction) =>
  tx.ins.reduce((s, i) => s + maxSignatureSize - (i.witness[0] as Uint8Array).length, 0)

async function signAndSend(tx: UnsignedTx): Promise<SignedTx> {
  const signed = await payouts.sign(tx, { path: wallet(0, 0).path }, signer)
  await payouts.broadcast(signed)
  return signed
}

const sha256d = (b: Uint8Array) => sha256(sha256(b))
function merkle(hashes: Uint8Array[]): Uint8Array {
  let level = hashes
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(sha256d(Buffer.concat([level[i]!, level[i + 1] ?? level[i]!])))
    level = next
  }
  return level[0]!
}

/**
 * Mines a block holding exactly `raws` (plus a coinbase paying a throwaway key) and hands it to the node with
 * `submitblock`: what a miner whose mempool took a replacement does. bcoin 1.0.2's mempool never replaces a
 * transaction (it refuses any double spend), so this is how a replacement gets mined on it.
 */
async function submitBlockWith(raws: readonly string[]): Promise<string> {
  const tipHash = await node.rpc<string>('getbestblockhash')
  const tip = await node.rpc<{ height: number; time: number; mediantime: number }>('getblockheader', [
    tipHash,
    true,
  ])
  const height = tip.height + 1
  const coinbase = new Transaction()
  coinbase.version = 2
  const heightPush = Buffer.alloc(4)
  heightPush.writeUInt32LE(height)
  const scriptSig = Buffer.concat([Buffer.from([3]), heightPush.subarray(0, 3), Buffer.from('tollgate')])
  coinbase.addInput(Buffer.alloc(32), 0xffffffff, 0xffffffff, scriptSig)
  coinbase.setWitness(0, [Buffer.alloc(32)])
  coinbase.addOutput(regtestKey('miner').script, 0n)
  const txs = raws.map((r) => Transaction.fromHex(r))
  const witnessRoot = merkle([Buffer.alloc(32), ...txs.map((t) => t.getHash(true))])
  const commitment = sha256d(Buffer.concat([witnessRoot, Buffer.alloc(32)]))
  coinbase.addOutput(Buffer.concat([Buffer.from('6a24aa21a9ed', 'hex'), commitment]), 0n)
  const block = new Block()
  block.version = 0x20000000
  block.prevHash = Buffer.from(tipHash, 'hex').reverse()
  block.transactions = [coinbase, ...txs]
  block.merkleRoot = merkle(block.transactions.map((t) => t.getHash()))
  block.timestamp = Math.max(tip.time, tip.mediantime) + 1
  block.bits = 0x207fffff
  block.nonce = 0
  while (!block.checkProofOfWork()) block.nonce++
  const answer = await node.rpc<string | null>('submitblock', [block.toHex()])
  if (answer !== null) expect.unreachable(`submitblock: ${answer}`)
  return block.getId()
}

beforeAll(async () => {
  node = await startBcoin()
  driver = driverFor()
  payouts = driver.payouts as PayoutDriver
})
afterAll(async () => {
  await node?.stop()
})

describe('Bitcoin payouts on a bcoin regtest node', () => {
  test('default: a 20-output batch in one transaction: every recipient paid exactly, change exact, vsize as computed', async () => {
    const coins = await fund(1, [15_000_000n, 10_000_000n, 5_000_000n])
    const recipients = Array.from({ length: 20 }, (_, i) => ({
      to: regtestKey(`recipient ${i}`).address,
      amount: 1_000_000n + BigInt(i) * 1_111n,
    }))
    const total = recipients.reduce((s, r) => s + r.amount, 0n)
    const change = wallet(1, 0)
    const unsigned = await payouts.build({
      from: wallet(0, 0),
      asset: asset(),
      outputs: recipients,
      inputs: coins,
      change,
    })
    const p = payloadOf(unsigned)
    // bcoin has no estimate on a fresh regtest chain: the 2 sat/vB fallback
    expect(await node.rpc<any>('estimatesmartfee', [6])).toMatchObject({ fee: -1 })
    expect(p.feeRate).toBe('2000')
    expect(unsigned.maxFee).toBe(feeFor(2000n, p.vsize))
    // 21.2 M to pay: largest-first takes the 15 M and the 10 M coins
    expect(unsigned.spends).toEqual([`${coins[0]!.txid}:0`, `${coins[1]!.txid}:1`])
    expect(unsigned.change).toEqual({ vout: 20, amount: 25_000_000n - total - unsigned.maxFee })
    const signed = await signAndSend(unsigned)
    expect(await payouts.status(signed.hash)).toEqual({ state: 'pending' })
    const [blockHash] = await node.mine(1)
    const height = BigInt(await node.height())
    expect(await payouts.status(signed.hash)).toEqual({
      state: 'mined',
      success: true,
      blockHeight: height,
      fee: unsigned.maxFee,
    })
    const mined = await minedTx(signed.hash)
    expect(mined.getId()).toBe(signed.hash)
    recipients.forEach((r, i) => {
      expect(hexOf(mined.outs[i]!.script)).toBe(bitcoinAddressKey(r.to, regtest))
      expect(mined.outs[i]!.value).toBe(r.amount)
    })
    expect(mined.outs).toHaveLength(21)
    expect(hexOf(mined.outs[20]!.script)).toBe(bitcoinAddressKey(change.address, regtest))
    expect(mined.outs[20]!.value).toBe(25_000_000n - total - unsigned.maxFee)
    // size: the computed weight budgets 72-byte signatures; the real one is smaller by exactly the shortfall
    const slack = signatureSlack(mined)
    expect(slack).toBeGreaterThanOrEqual(0)
    expect(slack).toBeLessThanOrEqual(mined.ins.length * 2)
    expect(p.weight - mined.weight()).toBe(slack)
    expect(mined.virtualSize()).toBe(Math.ceil((p.weight - slack) / 4))
    expect(mined.virtualSize()).toBeLessThanOrEqual(p.vsize)
    const seen = await node.rpc<any>('getrawtransaction', [signed.hash, true])
    expect(seen.vsize).toBe(mined.virtualSize())
    expect(seen.blockhash).toBe(blockHash)
    console.info(
      `20-output batch: ${mined.ins.length} inputs, computed ${p.weight} WU / ${p.vsize} vB, real ${mined.weight()} WU / ${mined.virtualSize()} vB, fee ${unsigned.maxFee} sat`,
    )
  })

  test('behavior: consolidation: 30 deposit coins swept into one treasury output, less the fee', async () => {
    const amounts = Array.from({ length: 30 }, (_, i) => 100_000n + BigInt(i) * 7n)
    const coins = await fund(100, amounts)
    const treasury = wallet(0, 0)
    const unsigned = await payouts.build({
      from: treasury,
      asset: asset(),
      outputs: [{ to: treasury.address, amount: 0n }],
      inputs: coins,
      sweepAll: true,
    })
    const sum = amounts.reduce((s, a) => s + a, 0n)
    expect(unsigned.spends).toHaveLength(30)
    expect(unsigned.change).toBeUndefined()
    expect(unsigned.amounts).toEqual([sum - unsigned.maxFee])
    const signed = await signAndSend(unsigned)
    await node.mine(1)
    const status = await payouts.status(signed.hash)
    expect(status).toMatchObject({ state: 'mined', fee: unsigned.maxFee })
    const mined = await minedTx(signed.hash)
    expect(mined.ins).toHaveLength(30)
    expect(mined.outs).toHaveLength(1)
    expect(hexOf(mined.outs[0]!.script)).toBe(bitcoinAddressKey(treasury.address, regtest))
    expect(mined.outs[0]!.value).toBe(sum - unsigned.maxFee)
    for (const c of coins) expect(await node.rpc('gettxout', [c.txid, c.vout, true])).toBeNull()
    const p = payloadOf(unsigned)
    expect(p.weight - mined.weight()).toBe(signatureSlack(mined))
    console.info(
      `consolidation of 30: computed ${p.vsize} vB, real ${mined.virtualSize()} vB, fee ${unsigned.maxFee} sat`,
    )
  })

  test('behavior: RBF: the replacement outbids the batch (BIP125 rules 3/4); once mined, the original is gone', async () => {
    const [coin] = await fund(200, [2_000_000n])
    const outputs = [0, 1, 2].map((i) => ({ to: regtestKey(`rbf ${i}`).address, amount: 300_000n }))
    const request = { from: wallet(0, 0), asset: asset(), outputs, inputs: [coin!], change: wallet(1, 1) }
    const original = await payouts.build(request)
    const first = await signAndSend(original)
    expect(await mempool()).toContain(first.hash)
    const replacement = await payouts.build({
      ...request,
      inputs: [],
      feeBumpPercent: 150,
      replaces: original,
    })
    const o = payloadOf(original)
    const r = payloadOf(replacement)
    expect(replacement.spends).toEqual(original.spends!)
    expect(r.outputs.slice(0, 3)).toEqual(o.outputs.slice(0, 3))
    // rule 4: at least the old fee plus 1 sat/vB of its own size; rule 3 and a higher rate follow
    expect(replacement.maxFee).toBeGreaterThanOrEqual(original.maxFee + feeFor(1000n, r.vsize))
    expect(replacement.maxFee).toBe(feeFor(3000n, r.vsize))
    expect(replacement.change!.amount).toBe(original.change!.amount - (replacement.maxFee - original.maxFee))
    const second = await payouts.sign(replacement, { path: wallet(0, 0).path }, signer)
    const realOld = Transaction.fromHex(first.raw)
    const realNew = Transaction.fromHex(second.raw)
    // on the real sizes too: new fee ≥ old fee + 1 sat/vB × new vsize, and a higher fee rate
    expect(replacement.maxFee).toBeGreaterThanOrEqual(original.maxFee + BigInt(realNew.virtualSize()))
    expect(replacement.maxFee * BigInt(realOld.virtualSize())).toBeGreaterThan(
      original.maxFee * BigInt(realNew.virtualSize()),
    )
    // bcoin 1.0.2 never replaces a mempool transaction: it drops the double spend, which broadcast diagnoses
    await expect(payouts.broadcast(second)).rejects.toMatchObject({ code: 'UNDERPRICED', retryable: true })
    expect(await mempool()).toContain(first.hash)
    // a miner that took the replacement mines it: the node drops the original from its mempool
    await submitBlockWith([second.raw])
    expect(await mempool()).not.toContain(first.hash)
    expect(await payouts.status(first.hash)).toEqual({ state: 'unknown' })
    expect(await payouts.status(second.hash)).toEqual({
      state: 'mined',
      success: true,
      blockHeight: BigInt(await node.height()),
      fee: replacement.maxFee,
    })
    // the recipients were paid once, by the replacement
    const mined = await minedTx(second.hash)
    outputs.forEach((out, i) => {
      expect(mined.outs[i]!.value).toBe(out.amount)
    })
    // re-sending the losing original now: its input is spent
    await expect(payouts.broadcast(first)).rejects.toMatchObject({ code: 'INPUTS_SPENT', retryable: false })
  })

  test('behavior: a destination of every type: P2PKH, P2SH, P2WPKH, P2WSH mined; P2TR validated and built', async () => {
    const [coin] = await fund(300, [1_000_000n])
    const scripts = {
      p2pkh: `76a914${'11'.repeat(20)}88ac`,
      p2sh: `a914${'22'.repeat(20)}87`,
      p2wpkh: `0014${'33'.repeat(20)}`,
      p2wsh: `0020${'44'.repeat(32)}`,
    }
    const outputs = Object.values(scripts).map((s, i) => ({
      to: scriptToAddress(Buffer.from(s, 'hex'), regtest)!,
      amount: 10_000n + BigInt(i),
    }))
    expect(outputs.map((o) => o.to[0])).toEqual(['m', '2', 'b', 'b'])
    const unsigned = await payouts.build({
      from: wallet(0, 0),
      asset: asset(),
      outputs,
      inputs: [coin!],
      change: wallet(1, 2),
    })
    const signed = await signAndSend(unsigned)
    await node.mine(1)
    const mined = await minedTx(signed.hash)
    expect(mined.outs.slice(0, 4).map((o) => [hexOf(o.script), o.value])).toEqual(
      Object.values(scripts).map((s, i) => [s, 10_000n + BigInt(i)]),
    )
    expect(await payouts.status(signed.hash)).toMatchObject({ state: 'mined', fee: unsigned.maxFee })
    // taproot: bcoin 1.0.2 predates it, so the address is checked for encoding (bech32m, v1, 32 bytes) and built
    const p2tr = scriptToAddress(Buffer.from(`5120${'55'.repeat(32)}`, 'hex'), regtest)!
    expect(p2tr).toMatch(/^bcrt1p/)
    expect(driver.validateAddress(p2tr)).toEqual({ ok: true, normalized: p2tr })
    expect(driver.validateAddress(p2tr.toUpperCase())).toEqual({ ok: true, normalized: p2tr })
    const [spare] = await fund(301, [100_000n])
    const tr = await payouts.build({
      from: wallet(0, 0),
      asset: asset(),
      outputs: [{ to: p2tr, amount: 330n }],
      inputs: [spare!],
      change: wallet(1, 3),
    })
    expect(payloadOf(tr).outputs[0]).toEqual({
      address: p2tr,
      script: `5120${'55'.repeat(32)}`,
      amount: '330',
    })
    const trSigned = await payouts.sign(tr, { path: wallet(0, 0).path }, signer)
    expect(payloadOf(tr).weight - Transaction.fromHex(trSigned.raw).weight()).toBe(
      signatureSlack(Transaction.fromHex(trSigned.raw)),
    )
  })

  test('behavior: re-broadcasting the same bytes is success, in the mempool and once mined', async () => {
    const [coin] = await fund(400, [500_000n])
    const unsigned = await payouts.build({
      from: wallet(0, 0),
      asset: asset(),
      outputs: [{ to: regtestKey('again').address, amount: 123_456n }],
      inputs: [coin!],
      change: wallet(1, 4),
    })
    const signed = await signAndSend(unsigned)
    await payouts.broadcast(signed)
    expect((await mempool()).filter((t) => t === signed.hash)).toHaveLength(1)
    await node.mine(1)
    await payouts.broadcast(signed)
    expect(await payouts.status(signed.hash)).toMatchObject({ state: 'mined', fee: unsigned.maxFee })
  })

  test('error: spending coins already spent is INPUTS_SPENT; a tampered signature is REJECTED', async () => {
    const [coin] = await fund(500, [400_000n])
    const base = { from: wallet(0, 0), asset: asset(), inputs: [coin!], change: wallet(1, 5) }
    const spent = await payouts.build({
      ...base,
      outputs: [{ to: regtestKey('first').address, amount: 100_000n }],
    })
    await signAndSend(spent)
    await node.mine(1)
    const again = await payouts.build({
      ...base,
      outputs: [{ to: regtestKey('second').address, amount: 100_000n }],
    })
    const signed = await payouts.sign(again, { path: wallet(0, 0).path }, signer)
    await expect(payouts.broadcast(signed)).rejects.toMatchObject({ code: 'INPUTS_SPENT', retryable: false })
    // an unspent coin with a broken signature: bcoin drops it without a word, broadcast notices
    const [fresh] = await fund(501, [400_000n])
    const good = await payouts.sign(
      await payouts.build({
        ...base,
        inputs: [fresh!],
        outputs: [{ to: regtestKey('third').address, amount: 100_000n }],
      }),
      { path: wallet(0, 0).path },
      signer,
    )
    const broken = Transaction.fromHex(good.raw)
    const sig = Buffer.from(broken.ins[0]!.witness[0]!)
    sig[10] = sig[10]! ^ 1
    broken.setWitness(0, [sig, broken.ins[0]!.witness[1]!])
    await expect(payouts.broadcast({ raw: broken.toHex(), hash: broken.getId() })).rejects.toMatchObject({
      code: 'REJECTED',
      retryable: false,
    })
  })

  test('error: dust refused, fees above the maximum refused, unknown txid, no balance call', async () => {
    const [coin] = await fund(600, [100_000n])
    const base = { from: wallet(0, 0), asset: asset(), inputs: [coin!], change: wallet(1, 6) }
    await expect(
      payouts.build({ ...base, outputs: [{ to: regtestKey('d').address, amount: 293n }] }),
    ).rejects.toMatchObject({
      code: 'DUST_OUTPUT',
      retryable: false,
    })
    await expect(
      payouts.build({ ...base, outputs: [{ to: regtestKey('d').address, amount: 200_000n }] }),
    ).rejects.toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      retryable: true,
    })
    const capped = driverFor({ fallbackFeeRate: 2, maxFeeRate: 1.5 }).payouts as PayoutDriver
    await expect(
      capped.build({ ...base, outputs: [{ to: regtestKey('d').address, amount: 1000n }] }),
    ).rejects.toMatchObject({
      code: 'FEE_TOO_HIGH',
      retryable: true,
    })
    expect(await payouts.status('ab'.repeat(32))).toEqual({ state: 'unknown' })
    await expect(payouts.balance(wallet(0, 0).address, asset())).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    })
  })
})
