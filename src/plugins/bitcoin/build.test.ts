import { describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { type BuildRequest, type Coin, isDriverError, type UnsignedTx } from '@tollgate/sdk'
import { Transaction } from 'bitcoinjs-lib'
import { createSigner } from '../../core/payouts/signer.ts'
import { bitcoinAddressKey, scriptToAddress } from './address.ts'
import { bitcoinAsset } from './assets.ts'
import { type BuildConfig, buildPayout } from './build.ts'
import { p2wpkhAddress } from './derive.ts'
import { feeFor } from './fees.ts'
import { bitcoinNetworks } from './networks.ts'
import type { BitcoinPayload } from './payload.ts'
import { lowS, signPayout } from './sign.ts'
import { maxSignatureSize, p2wpkhSpendWeight, virtualSize } from './vsize.ts'

const regtest = bitcoinNetworks.regtest
const asset = bitcoinAsset(regtest)
const signer = createSigner('test test test test test test test test test test test junk')
const account = "m/84'/1'/0'"
const wallet = (chain: 0 | 1, i: number) => {
  const path = `${account}/${chain}/${i}`
  return { address: p2wpkhAddress(signer.publicKey(path), regtest), path }
}
const config: BuildConfig = {
  network: regtest,
  maxOutputs: 100,
  feeRate: 2000n,
  policy: { fallback: 2000n, max: 100_000n, minRelay: 1000n },
}
const treasury = wallet(0, 0)
const change = wallet(1, 0)

/** A coin at the gateway's key `/0/i` (the txid is made up: building and signing never look it up). */
function coin(i: number, amount: bigint): Coin {
  const w = wallet(0, i)
  return {
    txid: Buffer.alloc(32, i + 1).toString('hex'),
    vout: i % 3,
    amount,
    script: bitcoinAddressKey(w.address, regtest),
    path: w.path,
  }
}
const addressOf = (scriptHex: string) => scriptToAddress(Buffer.from(scriptHex, 'hex'), regtest) as string
const destinations = {
  p2pkh: addressOf(`76a914${'11'.repeat(20)}88ac`),
  p2sh: addressOf(`a914${'22'.repeat(20)}87`),
  p2wpkh: addressOf(`0014${'33'.repeat(20)}`),
  p2wsh: addressOf(`0020${'44'.repeat(32)}`),
  p2tr: addressOf(`5120${'55'.repeat(32)}`),
}
const request = (outputs: BuildRequest['outputs'], inputs: Coin[], extra: Partial<BuildRequest> = {}) =>
  ({ from: treasury, asset, outputs, inputs, change, ...extra }) as BuildRequest
const payloadOf = (tx: UnsignedTx) => tx.payload as unknown as BitcoinPayload
/** Budgeted weight minus real weight: one unit per byte each signature is below 72. */
const signatureSlack = (raw: string) =>
  Transaction.fromHex(raw).ins.reduce((s, i) => s + maxSignatureSize - (i.witness[0] as Uint8Array).length, 0)

describe('buildPayout', () => {
  test('default: a 20-output batch: largest coins first, change back, fee = 2 sat/vB × computed vsize', async () => {
    const coins = [coin(1, 100_000n), coin(2, 900_000n), coin(3, 500_000n), coin(4, 50_000n)]
    const outputs = Array.from({ length: 20 }, (_, i) => ({
      to: destinations.p2wpkh,
      amount: 50_000n + BigInt(i),
    }))
    const tx = buildPayout(request(outputs, coins), config)
    const p = payloadOf(tx)
    const sent = outputs.reduce((s, o) => s + o.amount, 0n)
    expect(tx.spends).toEqual([`${coins[1]!.txid}:2`, `${coins[2]!.txid}:0`])
    expect(p.weight).toBe(p2wpkhSpendWeight(2, [...Array(20).fill(22), 22]))
    expect(p.vsize).toBe(virtualSize(p.weight))
    expect(tx.maxFee).toBe(feeFor(2000n, p.vsize))
    expect(tx.change).toEqual({ vout: 20, amount: 1_400_000n - sent - tx.maxFee })
    expect(tx.amounts).toEqual(outputs.map((o) => o.amount))
    expect(p.outputs[20]!.address).toBe(change.address)
    const signed = await signPayout(tx, signer)
    const real = Transaction.fromHex(signed.raw)
    expect(real.getId()).toBe(signed.hash)
    expect(real.version).toBe(2)
    expect(real.locktime).toBe(0)
    expect(real.ins.every((i) => i.sequence === 0xfffffffd)).toBe(true)
    // the computed weight is the real one plus one unit per byte a signature is shorter than 72
    expect(p.weight - real.weight()).toBe(signatureSlack(signed.raw))
    expect(real.virtualSize()).toBeLessThanOrEqual(p.vsize)
  })

  test('behavior: computed weight matches signed transactions exactly, for every output type and many inputs', async () => {
    const coins = Array.from({ length: 12 }, (_, i) => coin(i, 10_000n + BigInt(i)))
    const outputs = Object.values(destinations).map((to) => ({ to, amount: 1000n }))
    const tx = buildPayout(request(outputs, coins), config)
    const p = payloadOf(tx)
    expect(p.outputs.map((o) => o.script.slice(0, 4))).toEqual([
      '76a9',
      'a914',
      '0014',
      '0020',
      '5120',
      '0014',
    ])
    const signed = await signPayout(tx, signer)
    expect(p.weight - Transaction.fromHex(signed.raw).weight()).toBe(signatureSlack(signed.raw))
  })

  test('behavior: no change when it would be dust: the remainder goes to the fee', () => {
    const fee1x1 = feeFor(2000n, virtualSize(p2wpkhSpendWeight(1, [22])))
    const tx = buildPayout(
      request([{ to: destinations.p2wpkh, amount: 100_000n }], [coin(1, 100_000n + fee1x1 + 300n)]),
      config,
    )
    expect(tx.change).toBeUndefined()
    expect(tx.maxFee).toBe(fee1x1 + 300n)
    expect(payloadOf(tx).outputs).toHaveLength(1)
  })

  test('behavior: sweepAll spends every coin to outputs[0] less the fee', () => {
    const coins = Array.from({ length: 30 }, (_, i) => coin(i, 20_000n))
    const tx = buildPayout(request([{ to: treasury.address, amount: 0n }], coins, { sweepAll: true }), config)
    const p = payloadOf(tx)
    expect(tx.spends).toHaveLength(30)
    expect(p.vsize).toBe(virtualSize(p2wpkhSpendWeight(30, [22])))
    expect(tx.maxFee).toBe(feeFor(2000n, p.vsize))
    expect(tx.amounts).toEqual([600_000n - tx.maxFee])
    expect(tx.change).toBeUndefined()
  })

  test('behavior: a replacement keeps inputs and outputs, pays more and a higher rate, out of the change (BIP125 3/4)', () => {
    const outputs = [{ to: destinations.p2wpkh, amount: 70_000n }]
    const original = buildPayout(request(outputs, [coin(1, 200_000n), coin(2, 10_000n)]), config)
    // the network rate has not moved: the incremental relay fee decides
    const bumped = buildPayout(
      request(outputs, [], { replaces: original, feeBumpPercent: 110, change: undefined }),
      { ...config, feeRate: 2200n },
    )
    const o = payloadOf(original)
    const r = payloadOf(bumped)
    expect(bumped.spends).toEqual(original.spends!)
    expect(r.outputs.slice(0, 1)).toEqual(o.outputs.slice(0, 1))
    expect(r.vsize).toBe(o.vsize)
    expect(bumped.maxFee).toBe(original.maxFee + feeFor(1000n, r.vsize))
    expect(bumped.change!.amount).toBe(original.change!.amount - (bumped.maxFee - original.maxFee))
    // a big bump: the new rate decides
    const big = buildPayout(request(outputs, [], { replaces: original }), { ...config, feeRate: 10_000n })
    expect(big.maxFee).toBe(feeFor(10_000n, r.vsize))
    // other outputs than those replaced are refused
    expect(() =>
      buildPayout(
        request([{ to: destinations.p2wpkh, amount: 70_001n }], [], { replaces: original }),
        config,
      ),
    ).toThrow(expect.objectContaining({ code: 'REPLACEMENT_MISMATCH' }))
  })

  test('behavior: a replacement whose change cannot absorb the bump adds an offered coin', () => {
    const outputs = [{ to: destinations.p2wpkh, amount: 99_000n }]
    const original = buildPayout(request(outputs, [coin(1, 99_400n)]), { ...config, feeRate: 1000n })
    expect(original.change).toBeUndefined()
    expect(() => buildPayout(request(outputs, [], { replaces: original }), config)).toThrow(
      expect.objectContaining({ code: 'INSUFFICIENT_FUNDS', retryable: true }),
    )
    const bumped = buildPayout(
      request(outputs, [coin(1, 99_400n), coin(5, 50_000n)], { replaces: original }),
      config,
    )
    expect(bumped.spends).toEqual([...original.spends!, `${coin(5, 0n).txid}:2`])
    const o = payloadOf(original)
    const r = payloadOf(bumped)
    expect(bumped.maxFee).toBeGreaterThanOrEqual(original.maxFee + feeFor(1000n, r.vsize))
    expect(bumped.maxFee * BigInt(o.vsize)).toBeGreaterThan(original.maxFee * BigInt(r.vsize))
  })

  test('error: dust per destination type is refused, the limit itself is accepted', () => {
    const limits = { p2pkh: 546n, p2sh: 540n, p2wpkh: 294n, p2wsh: 330n, p2tr: 330n } as const
    for (const [type, limit] of Object.entries(limits)) {
      const to = destinations[type as keyof typeof destinations]
      expect(() => buildPayout(request([{ to, amount: limit - 1n }], [coin(1, 100_000n)]), config)).toThrow(
        expect.objectContaining({ code: 'DUST_OUTPUT', retryable: false }),
      )
      expect(buildPayout(request([{ to, amount: limit }], [coin(1, 100_000n)]), config).amounts).toEqual([
        limit,
      ])
    }
  })

  test('error: insufficient coins, bad addresses, too many outputs, foreign coins', () => {
    const one = [{ to: destinations.p2wpkh, amount: 100_000n }]
    expect(() => buildPayout(request(one, [coin(1, 100_100n)]), config)).toThrow(
      expect.objectContaining({ code: 'INSUFFICIENT_FUNDS', retryable: true }),
    )
    expect(() =>
      buildPayout(
        request([{ to: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu', amount: 1000n }], [coin(1, 1_000_000n)]),
        config,
      ),
    ).toThrow(expect.objectContaining({ code: 'BAD_ADDRESS' }))
    const many = Array.from({ length: 101 }, () => ({ to: destinations.p2wpkh, amount: 1000n }))
    expect(() => buildPayout(request(many, [coin(1, 10_000_000n)]), config)).toThrow(
      expect.objectContaining({ code: 'TOO_MANY_OUTPUTS' }),
    )
    const foreign = { ...coin(1, 1_000_000n), script: `a914${'22'.repeat(20)}87` }
    expect(() => buildPayout(request(one, [foreign]), config)).toThrow(
      expect.objectContaining({ code: 'BAD_COIN' }),
    )
    expect(() => buildPayout(request(one, [coin(1, 500_000n), coin(1, 500_000n)]), config)).toThrow(
      expect.objectContaining({ code: 'BAD_COIN' }),
    )
  })
})

describe('signPayout', () => {
  test('error: refuses a coin whose script is not the key at its path, and a payload that does not add up', async () => {
    const tx = buildPayout(
      request([{ to: destinations.p2wpkh, amount: 10_000n }], [coin(1, 50_000n)]),
      config,
    )
    const p = payloadOf(tx)
    const wrongPath = { ...tx, payload: { ...p, inputs: [{ ...p.inputs[0]!, path: `${account}/0/2` }] } }
    await expect(signPayout(wrongPath, signer)).rejects.toMatchObject({
      code: 'KEY_MISMATCH',
      retryable: false,
    })
    await expect(signPayout({ ...tx, maxFee: tx.maxFee + 1n }, signer)).rejects.toMatchObject({
      code: 'BAD_PAYLOAD',
    })
    const richer = { ...p, outputs: [{ ...p.outputs[0]!, amount: '10001' }, ...p.outputs.slice(1)] }
    await expect(signPayout({ ...tx, payload: richer }, signer)).rejects.toMatchObject({
      code: 'BAD_PAYLOAD',
    })
  })

  test('behavior: signatures are low-S DER with SIGHASH_ALL and verify under BIP143', async () => {
    const tx = buildPayout(
      request([{ to: destinations.p2wpkh, amount: 10_000n }], [coin(1, 50_000n), coin(2, 40_000n)]),
      {
        ...config,
      },
    )
    const signed = await signPayout(tx, signer)
    for (const input of Transaction.fromHex(signed.raw).ins) {
      const sig = input.witness[0] as Uint8Array
      expect(sig.at(-1)).toBe(0x01)
      expect(sig[0]).toBe(0x30)
      // s is the second integer of the DER sequence; low-S means s ≤ n / 2
      const rLength = sig[3] as number
      const sLength = sig[5 + rLength] as number
      const s = BigInt(`0x${Buffer.from(sig.subarray(6 + rLength, 6 + rLength + sLength)).toString('hex')}`)
      expect(s <= secp256k1.Point.CURVE().n / 2n).toBe(true)
    }
  })

  test('behavior: lowS turns a high s into n − s and leaves a low one alone', () => {
    const n = secp256k1.Point.CURVE().n
    const r = Buffer.alloc(32, 7)
    const high = Buffer.concat([r, Buffer.from((n - 5n).toString(16).padStart(64, '0'), 'hex')])
    expect(Buffer.from(lowS(high)).toString('hex')).toBe(`${r.toString('hex')}${'0'.repeat(63)}5`)
    const low = Buffer.concat([r, Buffer.alloc(32, 1)])
    expect(lowS(low)).toBe(low)
  })

  test('error: lowS of a signature that is not 64 bytes is a non-retryable BAD_SIGNATURE', () => {
    let err: unknown
    try {
      lowS(new Uint8Array(63))
    } catch (e) {
      err = e
    }
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'BAD_SIGNATURE', retryable: false })
  })
})
