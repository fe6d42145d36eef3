import { describe, expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { HDKey } from '@scure/bip32'
import { type AssetInfo, type Coin, isDriverError, type MultisigWallet } from '@tollgate/sdk'
import { address as btcAddress, script as btcScript, Psbt, Transaction } from 'bitcoinjs-lib'
import { multisigOwner } from '../../../test/helpers/multisig-owners.ts'
import { decodeBitcoinAddress } from './address.ts'
import { feeFor } from './fees.ts'
import { createBitcoinMultisig, type MultisigPayload, maxMultisigOwners, signPsbt } from './multisig.ts'
import { bitcoinNetworks } from './networks.ts'
import type { BitcoinRpc } from './rpc.ts'

const regtest = bitcoinNetworks.regtest
const [alice, bob, carol, mallory] = ['alice', 'bob', 'carol', 'mallory'].map(multisigOwner) as [
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
  ReturnType<typeof multisigOwner>,
]
const owners = [alice.xpub, bob.xpub, carol.xpub]
// a node without a fee estimate (as regtest): the fallback of 2 sat/vB
const rpc = { call: async () => ({ fee: -1 }) } as unknown as BitcoinRpc
const options = {
  maxOutputs: 100,
  feeTargetBlocks: 6,
  fallbackFeeRate: 2,
  maxFeeRate: 500,
  minRelayFeeRate: 1,
  broadcastWaitMs: 1000,
}
const multisig = createBitcoinMultisig(rpc, regtest, options)
const btc: AssetInfo = { id: 'BTC', symbol: 'BTC', decimals: 8, native: true } as AssetInfo
const destination = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'

const tpubVersions = { public: 0x043587cf, private: 0x04358394 }
const childKey = (xpub: string) =>
  HDKey.fromExtendedKey(xpub, tpubVersions).deriveChild(0).deriveChild(0).publicKey as Uint8Array

/** The 2-of-3 P2WSH address built by hand: OP_2 <sorted keys> OP_3 OP_CHECKMULTISIG, sha256, bech32 v0. */
function handMadeAddress(xpubs: readonly string[], m: number): string {
  const keys = xpubs.map(childKey).sort((a, b) => Buffer.compare(a, b))
  const script = Buffer.concat([
    Buffer.from([0x50 + m]),
    ...keys.map((k) => Buffer.concat([Buffer.from([33]), k])),
    Buffer.from([0x50 + keys.length, 0xae]),
  ])
  return btcAddress.toBech32(sha256(script), 0, regtest.bech32)
}

const wallet = multisig.wallet({ threshold: 2, owners })
const scriptOf = (address: string) => {
  const d = decodeBitcoinAddress(address, regtest)
  if (!d.ok) throw new Error(d.reason)
  return Buffer.from(d.value.script).toString('hex')
}
const coin = (n: number, amount: bigint, script = scriptOf(wallet.address)): Coin => ({
  txid: n.toString(16).padStart(64, '0'),
  vout: n % 3,
  amount,
  script,
  path: '',
})

const propose = (amount: bigint, inputs: Coin[] = [coin(1, 300_000n), coin(2, 500_000n)]) =>
  multisig.propose({ wallet, to: destination, asset: btc, amount, inputs })

function refusal(fn: () => unknown): { code: string; retryable: boolean; message: string } {
  try {
    fn()
  } catch (err) {
    if (isDriverError(err)) return { code: err.code, retryable: err.retryable, message: err.message }
    throw err
  }
  throw new Error('not refused')
}

const add = (payload: Record<string, unknown>, signature: string, w: MultisigWallet = wallet) =>
  multisig.addSignature({ wallet: w, payload, signature })

describe('Bitcoin multisig wallet', () => {
  test('the address is the P2WSH of the sorted 2-of-3 script of each owner’s key at 0/0, whatever the owners’ order or form', () => {
    expect(wallet.address).toBe(handMadeAddress(owners, 2))
    expect(wallet.address.startsWith('bcrt1q')).toBe(true)
    expect(wallet.threshold).toBe(2)
    expect(wallet.owners).toEqual(owners)
    for (const order of [
      [carol.xpub, alice.xpub, bob.xpub],
      [bob.xpub, carol.xpub, alice.xpub],
      [alice.withOrigin, bob.withOrigin, carol.withOrigin],
    ])
      expect(multisig.wallet({ threshold: 2, owners: order }).address).toBe(wallet.address)
    // the threshold is part of the script; the given address is checked against the derived one
    expect(multisig.wallet({ threshold: 3, owners }).address).not.toBe(wallet.address)
    expect(multisig.wallet({ address: wallet.address, threshold: 2, owners }).address).toBe(wallet.address)
  })

  test('settings that are not a wallet are refused with what is wrong', () => {
    const many = Array.from({ length: maxMultisigOwners + 1 }, (_, i) => multisigOwner(`o${i}`).xpub)
    const cases: Array<[Parameters<typeof multisig.wallet>[0], RegExp]> = [
      [{ threshold: 0, owners }, /threshold/],
      [{ threshold: 4, owners }, /threshold/],
      [{ threshold: 1.5, owners }, /threshold/],
      [{ threshold: 1, owners: [] }, /owners/],
      [{ threshold: 2, owners: many }, /owners: 1 to 15/],
      [{ threshold: 2, owners: [alice.xpub, 'tpubnotakey'] }, /not an extended public key/],
      [{ threshold: 2, owners: [alice.xpub, bob.xprv] }, /private key/],
      [{ threshold: 2, owners: [alice.xpub, alice.withOrigin] }, /same key/],
      [
        { threshold: 2, owners: [alice.xpub, bob.xpub.slice(0, -1) + (bob.xpub.endsWith('a') ? 'b' : 'a')] },
        /not an extended public key/,
      ],
      [{ address: destination, threshold: 2, owners }, /is not the owners’ 2-of-3/],
      [
        { threshold: 2, owners: [alice.xpub, `[abcd/48'/1'/0'/2']${bob.xpub}`] },
        /not an extended public key/,
      ],
      [{ threshold: 2, owners: [alice.xpub, `[0badf00d/48'/1']${bob.xpub}`] }, /depth 4/],
    ]
    for (const [settings, reason] of cases) expect(() => multisig.wallet(settings)).toThrow(reason)
    // a test-network key is no mainnet owner
    const mainnet = createBitcoinMultisig(rpc, bitcoinNetworks.mainnet, options)
    expect(() => mainnet.wallet({ threshold: 1, owners: [alice.xpub] })).toThrow(
      /not an extended public key accepted on mainnet/,
    )
  })
})

describe('Bitcoin multisig PSBTs', () => {
  test('a 2-of-3 round trip: propose, one owner (SIGNING), a second (threshold), finalize to a valid spend', async () => {
    const draft = await propose(600_000n)
    const payload = draft.payload as unknown as MultisigPayload
    expect(draft.toSign).toBe(payload.psbt)
    // largest first: 500 000 is not enough, both coins are spent
    expect([...(draft.spends ?? [])].sort()).toEqual(
      [coin(1, 0n), coin(2, 0n)].map((c) => `${c.txid}:${c.vout}`).sort(),
    )
    const psbt = Psbt.fromBase64(draft.toSign)
    expect(psbt.txOutputs.map((o) => [Buffer.from(o.script).toString('hex'), o.value])).toEqual([
      [scriptOf(destination), 600_000n],
      [scriptOf(wallet.address), BigInt(payload.change!.amount)],
    ])
    expect(payload.outputs).toEqual([
      { address: destination, amount: '600000' },
      { address: wallet.address, amount: payload.change!.amount },
    ])
    expect(800_000n - 600_000n - BigInt(payload.change!.amount)).toBe(BigInt(payload.fee))
    expect(BigInt(payload.fee)).toBe(feeFor(2000n, payload.vsize))
    // every input names every owner's key, its origin and the witness script
    for (const input of psbt.data.inputs) {
      expect(input.witnessUtxo?.script && Buffer.from(input.witnessUtxo.script).toString('hex')).toBe(
        scriptOf(wallet.address),
      )
      expect(input.witnessScript).toBeDefined()
      expect(input.bip32Derivation?.map((d) => Buffer.from(d.pubkey).toString('hex')).sort()).toEqual(
        owners.map((o) => Buffer.from(childKey(o)).toString('hex')).sort(),
      )
      expect(input.bip32Derivation?.every((d) => d.path === "m/2'/0/0")).toBe(true)
    }

    const first = signPsbt(draft.toSign, { xprv: alice.xprv })
    expect(first.signed).toBe(2)
    const one = add(draft.payload, first.psbt)
    expect(one.signers).toEqual([alice.xpub])
    // the same signature again adds no one
    expect(add(one.payload, first.psbt).signers).toEqual([alice.xpub])
    await expect(multisig.finalize({ wallet, payload: one.payload })).rejects.toMatchObject({
      code: 'NOT_ENOUGH_SIGNATURES',
    })
    // carol signs the unsigned PSBT offline, from her mnemonic and account path
    const second = signPsbt(draft.toSign, { mnemonic: carol.mnemonic, path: carol.path })
    const two = add(one.payload, second.psbt)
    expect(two.signers).toEqual([alice.xpub, carol.xpub])

    const { signed } = (await multisig.finalize({ wallet, payload: two.payload })) as {
      signed: { raw: string; hash: string }
    }
    const tx = Transaction.fromHex(signed.raw)
    expect(tx.getId()).toBe(signed.hash)
    expect(tx.ins.map((i) => i.sequence)).toEqual([0xfffffffd, 0xfffffffd])
    expect(tx.outs.map((o) => o.value)).toEqual([600_000n, BigInt(payload.change!.amount)])
    // each witness: the empty item, two signatures, the witness script; every signature verifies for its input
    for (const [i, input] of tx.ins.entries()) {
      expect(input.witness.length).toBe(4)
      expect(input.witness[0]?.length).toBe(0)
      const witnessScript = input.witness[3] as Uint8Array
      const digest = tx.hashForWitnessV0(
        i,
        witnessScript,
        psbt.data.inputs[i]!.witnessUtxo!.value,
        Transaction.SIGHASH_ALL,
      )
      const keys = [alice.xpub, carol.xpub].map(childKey)
      for (const sig of input.witness.slice(1, 3)) {
        const { signature } = btcScript.signature.decode(sig)
        expect(keys.some((k) => secp256k1.verify(signature, digest, k, { prehash: false }))).toBe(true)
      }
    }
    // the budget holds: the signed weight is at most what the fee was computed for
    expect(tx.virtualSize()).toBeLessThanOrEqual(payload.vsize)
  })

  test('an amount the coins can pay without change leaves the rest to the fee; short coins and dust are refused; other scripts are not spent', async () => {
    const exact = await propose(299_500n, [coin(3, 300_000n)])
    const p = exact.payload as unknown as MultisigPayload
    expect(p.change).toBeNull()
    expect(p.fee).toBe('500')
    await expect(propose(300_000n, [coin(3, 300_000n)])).rejects.toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      retryable: true,
    })
    await expect(propose(100n)).rejects.toMatchObject({ code: 'DUST_OUTPUT' })
    // a coin of another script (the treasury's, say) is never an input of the wallet's transfer
    const foreign = coin(4, 9_000_000n, scriptOf(destination))
    const d = await propose(100_000n, [foreign, coin(5, 200_000n)])
    expect(d.spends).toEqual([`${coin(5, 0n).txid}:${coin(5, 0n).vout}`])
    await expect(propose(1_000_000n, [foreign])).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' })
  })

  test('refused as INVALID_SIGNATURE (not retryable): garbage, no signature, another transaction, a non-owner’s key, a tampered or foreign signature, SIGHASH_NONE', async () => {
    const draft = await propose(150_000n)
    const other = await propose(150_001n)
    const signedByAlice = Psbt.fromBase64(signPsbt(draft.toSign, { xprv: alice.xprv }).psbt)
    const aliceSig = signedByAlice.data.inputs[0]!.partialSig![0]!
    const withSig = (sig: { pubkey: Uint8Array; signature: Uint8Array }) => {
      const p = Psbt.fromBase64(draft.toSign)
      p.data.inputs[0]!.partialSig = [sig]
      return p.toBase64()
    }
    const malloryKey = HDKey.fromExtendedKey(mallory.xprv, tpubVersions).deriveChild(0).deriveChild(0)
    const digestSigned = (hashType: number) => {
      // bob's real key signing input 0 with another sighash type
      const bobKey = HDKey.fromExtendedKey(bob.xprv, tpubVersions).deriveChild(0).deriveChild(0)
      const p = Psbt.fromBase64(draft.toSign)
      p.updateInput(0, { sighashType: hashType })
      p.signInput(
        0,
        {
          publicKey: bobKey.publicKey as Uint8Array,
          sign: (h) => secp256k1.sign(h, bobKey.privateKey as Uint8Array, { prehash: false }),
        },
        [hashType],
      )
      return p.toBase64()
    }
    const tampered = Uint8Array.from(aliceSig.signature)
    tampered[10] = (tampered[10] as number) ^ 1
    const cases: Array<[string, string, RegExp]> = [
      ['garbage', 'not a psbt at all', /not a PSBT/],
      ['the unsigned PSBT', draft.toSign, /no partial signature/],
      ['another proposal’s PSBT', signPsbt(other.toSign, { xprv: bob.xprv }).psbt, /another transaction/],
      [
        'a non-owner’s key',
        withSig({ pubkey: malloryKey.publicKey as Uint8Array, signature: aliceSig.signature }),
        /not an owner/,
      ],
      [
        'a tampered signature',
        withSig({ pubkey: aliceSig.pubkey, signature: tampered }),
        /not a DER signature|does not verify/,
      ],
      [
        'alice’s signature under bob’s key',
        withSig({ pubkey: childKey(bob.xpub), signature: aliceSig.signature }),
        /does not verify/,
      ],
      ['SIGHASH_NONE', digestSigned(Transaction.SIGHASH_NONE), /only SIGHASH_ALL/],
    ]
    for (const [what, signature, reason] of cases) {
      const r = refusal(() => add(draft.payload, signature))
      expect({ what, code: r.code, retryable: r.retryable }).toEqual({
        what,
        code: 'INVALID_SIGNATURE',
        retryable: false,
      })
      expect(r.message).toMatch(reason)
    }
    // a non-owner's key has no input to sign
    expect(() => signPsbt(draft.toSign, { xprv: mallory.xprv })).toThrow(/no input/)
    // alice's real one still counts after all of that
    expect(add(draft.payload, signedByAlice.toBase64()).signers).toEqual([alice.xpub])
  })

  test('a signature over a PSBT whose UTXO value was changed is checked against the stored draft and refused', async () => {
    const draft = await propose(150_000n)
    // mallory rewrites the input's witnessUtxo value (a fee lie) and signs with alice's key: the sighash differs
    const aliceKey = HDKey.fromExtendedKey(alice.xprv, tpubVersions).deriveChild(0).deriveChild(0)
    const p = Psbt.fromBase64(draft.toSign)
    const utxo = p.data.inputs[0]!.witnessUtxo!
    p.data.inputs[0]!.witnessUtxo = { script: utxo.script, value: utxo.value + 1n }
    p.signInput(0, {
      publicKey: aliceKey.publicKey as Uint8Array,
      sign: (h) => secp256k1.sign(h, aliceKey.privateKey as Uint8Array, { prehash: false }),
    })
    expect(refusal(() => add(draft.payload, p.toBase64())).code).toBe('INVALID_SIGNATURE')
  })
})
