import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { HDKey } from '@scure/bip32'
import { mnemonicToSeedSync } from '@scure/bip39'
import { type Coin, DriverError, type MultisigDriver, type MultisigWallet } from '@tollgate/sdk'
import { address as btcAddress, script as btcScript, Psbt, payments, Transaction } from 'bitcoinjs-lib'
import { decodeBitcoinAddress } from './address.ts'
import { dustLimit } from './dust.ts'
import { chooseFeeRate, estimateFeeRate, feeFor } from './fees.ts'
import { type BitcoinNetwork, extendedKeyVersion } from './networks.ts'
import { rbfSequence } from './payload.ts'
import { type BitcoinPayoutOptions, feePolicyOf } from './payouts.ts'
import type { BitcoinRpc } from './rpc.ts'
import { maxSignatureSize, maxStandardWeight, outputSize, varIntSize, virtualSize } from './vsize.ts'

/** The key below each owner's account xpub that the cold address is made of (receive branch, index 0). */
export const multisigChildPath = [0, 0] as const

/** Most owners a wallet may have: CHECKMULTISIG in a standard P2WSH script takes at most 15 keys (as Core's). */
export const maxMultisigOwners = 15

/** BIP32 versions of extended private keys, for the signing command. */
const privateVersions = { xprv: 0x0488ade4, tprv: 0x04358394 } as const

const refuse = (code: string, message: string, retryable = false) =>
  new DriverError(code, message, { retryable })
const invalidSignature = (message: string) => refuse('INVALID_SIGNATURE', message)

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])
const outpoint = (c: { txid: string; vout: number }) => `${c.txid}:${c.vout}`
const hardened = 0x80000000

/** One owner of a wallet: the account key, its key origin for PSBTs and the public key at `multisigChildPath`. */
export type MultisigOwner = {
  /** As configured, normalized: `tpub…`, or with its key origin `[fingerprint/48'/1'/0'/2']tpub…`. */
  xpub: string
  /** The compressed public key the cold address uses. */
  publicKey: Uint8Array
  /** BIP174 key origin of `publicKey`: the master fingerprint and the full path. */
  masterFingerprint: Uint8Array
  path: string
}

const pathText = (indexes: readonly number[]) =>
  indexes.map((i) => (i >= hardened ? `${i - hardened}'` : `${i}`)).join('/')

function parsePath(text: string, what: string): number[] {
  const parts = text
    .replace(/^m\/?/, '')
    .split('/')
    .filter((p) => p !== '')
  return parts.map((p) => {
    const m = /^(\d+)(['hH]?)$/.exec(p)
    const n = m ? Number(m[1]) : Number.NaN
    if (!m || !Number.isInteger(n) || n >= hardened) throw new Error(`${what}: bad path element "${p}"`)
    return m[2] ? n + hardened : n
  })
}

/** The extended public key versions an owner may be written in on `network`: xpub, and tpub on test networks. */
function ownerVersions(network: BitcoinNetwork): number[] {
  return [...network.extendedKeyVersions]
    .filter(([, name]) => name === 'xpub' || name === 'tpub')
    .map(([v]) => v)
}

/**
 * Parses one owner: an account-level extended public key (`tpub`/`xpub` on test networks, `xpub` on mainnet),
 * optionally with its key origin as output descriptors write it (`[d34db33f/48'/1'/0'/2']tpub…`). Without an
 * origin, PSBTs name the key by its parent's fingerprint and the path from that parent. Throws an Error saying
 * what is wrong.
 *
 * @example
 * parseMultisigOwner("[d34db33f/48'/1'/0'/2']tpubDE…", bitcoinNetworks.regtest).path // "m/48'/1'/0'/2'/0/0"
 */
export function parseMultisigOwner(spec: string, network: BitcoinNetwork): MultisigOwner {
  if (typeof spec !== 'string') throw new Error('an owner is an extended public key string')
  const text = spec.trim()
  const m = /^(?:\[([0-9a-fA-F]{8})((?:\/\d+['hH]?)*)\])?([1-9A-HJ-NP-Za-km-z]{100,120})$/.exec(text)
  if (!m)
    throw new Error(`owner "${text.slice(0, 24)}…" is not an extended public key (optionally [origin]xpub)`)
  const encoded = m[3] as string
  if (/^[xt]prv/.test(encoded)) throw new Error('an owner is given as an extended private key: give its xpub')
  let key: HDKey | undefined
  for (const version of ownerVersions(network)) {
    try {
      key = HDKey.fromExtendedKey(encoded, { public: version, private: 0 })
      break
    } catch {}
  }
  if (!key?.publicKey)
    throw new Error(
      `owner ${encoded.slice(0, 12)}… is not an extended public key accepted on ${network.name} (${network.name === 'mainnet' ? 'xpub' : 'tpub or xpub'})`,
    )
  const child = key.deriveChild(multisigChildPath[0]).deriveChild(multisigChildPath[1])
  const suffix = pathText(multisigChildPath)
  let masterFingerprint: Uint8Array
  let path: string
  let normalized: string
  if (m[1] !== undefined) {
    const origin = parsePath(m[2] ?? '', 'owner key origin')
    if (origin.length !== key.depth)
      throw new Error(
        `owner ${encoded.slice(0, 12)}…: its origin path has ${origin.length} steps, the key is at depth ${key.depth}`,
      )
    masterFingerprint = Buffer.from(m[1], 'hex')
    path = `m/${[pathText(origin), suffix].filter(Boolean).join('/')}`
    normalized = `[${m[1].toLowerCase()}${origin.length ? `/${pathText(origin)}` : ''}]${encoded}`
  } else if (key.depth === 0) {
    masterFingerprint = u32(key.fingerprint)
    path = `m/${suffix}`
    normalized = encoded
  } else {
    // the parent's fingerprint and the path from the parent: what an account key says about where it is
    masterFingerprint = u32(key.parentFingerprint)
    path = `m/${pathText([key.index])}/${suffix}`
    normalized = encoded
  }
  return { xpub: normalized, publicKey: child.publicKey as Uint8Array, masterFingerprint, path }
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return new Uint8Array(b)
}

/** A wallet with everything derived: its owners' keys, the sorted-multisig witness script and the P2WSH output. */
export type ResolvedMultisig = {
  address: string
  /** scriptPubKey hex: `0020` + sha256(witnessScript). */
  script: string
  witnessScript: Uint8Array
  threshold: number
  owners: MultisigOwner[]
}

/**
 * Checks a threshold and owners and derives the wallet: `threshold`-of-N CHECKMULTISIG of each owner's key at
 * `multisigChildPath` in BIP67 order (sorted, as `wsh(sortedmulti(…))`), paid to by a P2WSH address. The owners'
 * order does not change the address. Throws an Error saying what is wrong.
 *
 * @example
 * resolveMultisig({ threshold: 2, owners: [a, b, c] }, bitcoinNetworks.regtest).address // 'bcrt1q…'
 */
export function resolveMultisig(
  settings: { address?: string; threshold: number; owners: readonly string[] },
  network: BitcoinNetwork,
): ResolvedMultisig {
  const { threshold, owners } = settings
  if (!Array.isArray(owners) || owners.length < 1 || owners.length > maxMultisigOwners)
    throw new Error(`owners: 1 to ${maxMultisigOwners} extended public keys`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > owners.length)
    throw new Error(`threshold must be an integer from 1 to ${owners.length} (the owners), got ${threshold}`)
  const parsed = owners.map((o) => parseMultisigOwner(o, network))
  for (const [i, o] of parsed.entries())
    if (parsed.findIndex((p) => same(p.publicKey, o.publicKey)) !== i)
      throw new Error(`owner ${i + 1} is the same key as an earlier owner`)
  const sorted = [...parsed].map((o) => o.publicKey).sort((a, b) => Buffer.compare(a, b))
  const witnessScript = payments.p2ms({ m: threshold, pubkeys: sorted }).output as Uint8Array
  const program = sha256(witnessScript)
  const address = btcAddress.toBech32(program, 0, network.bech32)
  if (settings.address !== undefined) {
    const given = decodeBitcoinAddress(settings.address, network)
    if (!given.ok || hex(given.value.script) !== `0020${hex(program)}`)
      throw new Error(
        `address ${settings.address} is not the owners’ ${threshold}-of-${owners.length} P2WSH address ${address}`,
      )
  }
  return { address, script: `0020${hex(program)}`, witnessScript, threshold, owners: parsed }
}

/**
 * Weight of a spend of `inputs` P2WSH `m`-of-`n` coins to outputs of these script lengths: each input is 41 bytes
 * outside the witness, its witness `[<empty>, m signatures at the 72-byte budget, the witness script]`.
 */
export function p2wshMultisigSpendWeight(
  inputs: number,
  m: number,
  n: number,
  outputScriptLengths: readonly number[],
): number {
  const scriptLength = 3 + 34 * n
  const witness = varIntSize(m + 2) + 1 + m * (1 + maxSignatureSize) + varIntSize(scriptLength) + scriptLength
  let base = 4 + varIntSize(inputs) + 41 * inputs + varIntSize(outputScriptLengths.length) + 4
  for (const length of outputScriptLengths) base += outputSize(length)
  return base * 4 + 2 + witness * inputs
}

/** The driver's JSON payload of a draft: the PSBT and the outputs it pays, in order (the core reads `outputs`). */
export type MultisigPayload = {
  kind: 'bitcoin/p2wsh-multisig'
  /** BIP174, base64: unsigned at first, then with the owners' partial signatures. */
  psbt: string
  /** The transaction's outputs by vout: the destination, then change back to the wallet if any. */
  outputs: Array<{ address: string; amount: string }>
  change: { vout: number; amount: string } | null
  fee: string
  vsize: number
}

function readMultisigPayload(payload: Record<string, unknown>): MultisigPayload & { tx: Psbt } {
  if (payload?.kind !== 'bitcoin/p2wsh-multisig' || typeof payload.psbt !== 'string')
    throw refuse('BAD_PAYLOAD', 'not a Bitcoin multisig draft')
  return { ...(payload as unknown as MultisigPayload), tx: Psbt.fromBase64(payload.psbt) }
}

const unsignedBytes = (p: Psbt) => Buffer.from(p.data.globalMap.unsignedTx.toBuffer())

/** ECDSA check of a partial signature: low-S, over the digest, by the key. */
const verifySignature = (pubkey: Uint8Array, digest: Uint8Array, signature: Uint8Array) =>
  secp256k1.verify(signature, digest, pubkey, { prehash: false, lowS: true })

/**
 * The owners who signed every input of a PSBT (by their keys in its partial signatures), in configured order.
 * The signatures are not checked here: a stored PSBT holds only checked ones.
 */
function signersOf(psbt: Psbt, wallet: ResolvedMultisig): string[] {
  return wallet.owners
    .filter((o) =>
      psbt.data.inputs.every((input) => (input.partialSig ?? []).some((s) => same(s.pubkey, o.publicKey))),
    )
    .map((o) => o.xpub)
}

/**
 * The multisig half of the Bitcoin driver: P2WSH M-of-N cold wallets of the owners' account xpubs (sortedmulti of
 * each one's key at `0/0`). Transfers out are PSBTs (BIP174, with witnessUtxo, witnessScript and every owner's
 * bip32Derivation) that owners sign offline (`tollgate psbt sign`, a hardware wallet, Bitcoin Core); the gateway
 * checks and combines their partial signatures and finalizes the transaction when enough owners signed.
 *
 * @example
 * const multisig = createBitcoinMultisig(rpc, bitcoinNetworks.regtest, options)
 * const wallet = multisig.wallet({ threshold: 2, owners: [a, b, c] })
 */
export function createBitcoinMultisig(
  rpc: BitcoinRpc,
  network: BitcoinNetwork,
  options: BitcoinPayoutOptions,
): MultisigDriver {
  const policy = feePolicyOf(options)
  const resolved = new Map<string, ResolvedMultisig>()
  const resolve = (wallet: MultisigWallet): ResolvedMultisig => {
    const id = `${wallet.threshold}|${wallet.owners.join(',')}`
    let w = resolved.get(id)
    if (!w) {
      try {
        w = resolveMultisig({ threshold: wallet.threshold, owners: wallet.owners }, network)
      } catch (err) {
        throw refuse('BAD_WALLET', err instanceof Error ? err.message : String(err))
      }
      resolved.set(id, w)
    }
    return w
  }
  return {
    wallet(settings) {
      const w = resolveMultisig(settings, network)
      resolved.set(`${w.threshold}|${w.owners.map((o) => o.xpub).join(',')}`, w)
      return { address: w.address, threshold: w.threshold, owners: w.owners.map((o) => o.xpub) }
    },

    async propose({ wallet, to, asset, amount, inputs }, signal) {
      if (!asset.native) throw refuse('UNSUPPORTED_ASSET', `a Bitcoin wallet holds BTC only, not ${asset.id}`)
      const w = resolve(wallet)
      const dest = decodeBitcoinAddress(to, network)
      if (!dest.ok) throw refuse('BAD_ADDRESS', `${to}: ${dest.reason}`)
      if (typeof amount !== 'bigint' || amount < dustLimit[dest.value.type])
        throw refuse(
          'DUST_OUTPUT',
          `${amount} sat to a ${dest.value.type} address is below its dust limit of ${dustLimit[dest.value.type]} sat`,
        )
      // only the wallet's own outputs can be spent with its witness script
      const coins = [...(inputs ?? [])]
        .filter((c) => c.script === w.script && c.amount > 0n)
        .sort((a, b) =>
          a.amount === b.amount ? outpoint(a).localeCompare(outpoint(b)) : a.amount > b.amount ? -1 : 1,
        )
      const rate = chooseFeeRate(await estimateFeeRate(rpc, options.feeTargetBlocks, signal), policy)
      const n = w.owners.length
      const destLength = dest.value.script.length
      const weightOf = (count: number, change: boolean) =>
        p2wshMultisigSpendWeight(count, w.threshold, n, change ? [destLength, 34] : [destLength])
      const chosen: Coin[] = []
      let total = 0n
      let plan: { change: bigint | null; fee: bigint; vsize: number } | undefined
      for (const coin of coins) {
        chosen.push(coin)
        total += coin.amount
        const withChange = virtualSize(weightOf(chosen.length, true))
        const feeWith = feeFor(rate, withChange)
        if (total - amount - feeWith >= dustLimit.p2wsh) {
          plan = { change: total - amount - feeWith, fee: feeWith, vsize: withChange }
          break
        }
        const without = virtualSize(weightOf(chosen.length, false))
        if (total - amount >= feeFor(rate, without)) {
          plan = { change: null, fee: total - amount, vsize: without }
          break
        }
      }
      if (!plan)
        throw refuse(
          'INSUFFICIENT_FUNDS',
          `the wallet's ${coins.length} coins hold ${total} sat; ${amount} sat needs more, with its fee`,
          true,
        )
      if (weightOf(chosen.length, plan.change !== null) > maxStandardWeight)
        throw refuse(
          'TX_TOO_LARGE',
          `spending ${chosen.length} coins would not fit in a standard transaction`,
        )
      const psbt = new Psbt()
      psbt.setVersion(2)
      psbt.setLocktime(0)
      for (const coin of chosen)
        psbt.addInput({
          hash: coin.txid,
          index: coin.vout,
          sequence: rbfSequence,
          witnessUtxo: { script: Buffer.from(w.script, 'hex'), value: coin.amount },
          witnessScript: w.witnessScript,
          bip32Derivation: w.owners.map((o) => ({
            masterFingerprint: o.masterFingerprint,
            path: o.path,
            pubkey: o.publicKey,
          })),
        })
      psbt.addOutput({ script: dest.value.script, value: amount })
      const outputs = [{ address: dest.value.normalized, amount: amount.toString() }]
      if (plan.change !== null) {
        psbt.addOutput({ script: Buffer.from(w.script, 'hex'), value: plan.change })
        outputs.push({ address: w.address, amount: plan.change.toString() })
      }
      const base64 = psbt.toBase64()
      const payload: MultisigPayload = {
        kind: 'bitcoin/p2wsh-multisig',
        psbt: base64,
        outputs,
        change: plan.change === null ? null : { vout: 1, amount: plan.change.toString() },
        fee: plan.fee.toString(),
        vsize: plan.vsize,
      }
      return { payload, toSign: base64, spends: chosen.map(outpoint) }
    },

    addSignature({ wallet, payload, signature }) {
      const w = resolve(wallet)
      const draft = readMultisigPayload(payload)
      const stored = draft.tx
      let incoming: Psbt
      try {
        incoming = Psbt.fromBase64(signature.trim())
      } catch (err) {
        throw invalidSignature(`not a PSBT in base64: ${err instanceof Error ? err.message : String(err)}`)
      }
      if (!unsignedBytes(incoming).equals(unsignedBytes(stored)))
        throw invalidSignature('the PSBT is of another transaction than this proposal’s')
      const added = stored.data.inputs.map(() => [] as Array<{ pubkey: Uint8Array; signature: Uint8Array }>)
      let carried = 0
      for (const [i, input] of incoming.data.inputs.entries()) {
        for (const sig of input.partialSig ?? []) {
          carried++
          const owner = w.owners.find((o) => same(o.publicKey, sig.pubkey))
          if (!owner)
            throw invalidSignature(`input ${i} carries a signature by ${hex(sig.pubkey)}, not an owner’s key`)
          let hashType: number
          try {
            hashType = btcScript.signature.decode(sig.signature).hashType
          } catch {
            throw invalidSignature(
              `input ${i}: the signature by ${owner.xpub.slice(0, 16)}… is not a DER signature`,
            )
          }
          if (hashType !== Transaction.SIGHASH_ALL)
            throw invalidSignature(`input ${i}: only SIGHASH_ALL signatures are taken (got ${hashType})`)
          // checked against what the gateway stored (its witnessUtxo and witnessScript), never the PSBT's own
          const probe = stored.clone()
          probe.data.inputs[i]!.partialSig = [sig]
          let valid = false
          try {
            valid = probe.validateSignaturesOfInput(i, verifySignature, sig.pubkey)
          } catch {}
          if (!valid)
            throw invalidSignature(`input ${i}: the signature by ${owner.xpub.slice(0, 16)}… does not verify`)
          const known = [...(stored.data.inputs[i]?.partialSig ?? []), ...(added[i] ?? [])]
          if (!known.some((k) => same(k.pubkey, sig.pubkey)))
            added[i]!.push({ pubkey: sig.pubkey, signature: sig.signature })
        }
      }
      if (carried === 0) throw invalidSignature('the PSBT carries no partial signature')
      const update = Psbt.fromBase64(draft.psbt)
      for (const [i, sigs] of added.entries()) if (sigs.length) update.updateInput(i, { partialSig: sigs })
      stored.combine(update)
      return { payload: { ...payload, psbt: stored.toBase64() }, signers: signersOf(stored, w) }
    },

    async finalize({ wallet, payload }) {
      const w = resolve(wallet)
      const { tx: psbt } = readMultisigPayload(payload)
      if (signersOf(psbt, w).length < w.threshold)
        throw refuse('NOT_ENOUGH_SIGNATURES', `fewer than ${w.threshold} owners signed every input`)
      // exactly `threshold` signatures per input (CHECKMULTISIG takes no more)
      for (const input of psbt.data.inputs) input.partialSig = (input.partialSig ?? []).slice(0, w.threshold)
      try {
        psbt.finalizeAllInputs()
      } catch (err) {
        throw refuse(
          'BAD_PAYLOAD',
          `the signed PSBT cannot be finalized: ${err instanceof Error ? err.message : String(err)}`,
        )
      }
      const tx = psbt.extractTransaction(true)
      return { signed: { raw: tx.toHex(), hash: tx.getId() } }
    },
  }
}

/** The key an owner signs with: an account extended private key, or a BIP39 mnemonic and the account's path. */
export type PsbtSigningKey = { xprv: string } | { mnemonic: string; path: string }

function accountKeys(key: PsbtSigningKey): { account: HDKey; master?: HDKey } {
  if ('xprv' in key) {
    for (const [name, version] of Object.entries(privateVersions)) {
      try {
        const account = HDKey.fromExtendedKey(key.xprv.trim(), {
          private: version,
          public: name === 'xprv' ? extendedKeyVersion.xpub : extendedKeyVersion.tpub,
        })
        if (account.privateKey) return account.depth === 0 ? { account, master: account } : { account }
      } catch {}
    }
    throw new Error('--xprv is not an extended private key (xprv or tprv)')
  }
  const master = HDKey.fromMasterSeed(mnemonicToSeedSync(key.mnemonic.trim().normalize('NFKD')))
  const path = parsePath(key.path, '--path')
  return { account: master.derive(`m/${pathText(path)}`.replace(/\/$/, '')), master }
}

/**
 * Signs every input of a PSBT that `key` holds a key for, found through the inputs' bip32Derivation: the key at
 * the entry's path from the master (mnemonic, when the master fingerprint is the mnemonic's) or at its last two
 * steps below the account key (`0/0`), whichever has the entry's public key. SIGHASH_ALL, low-S. Returns the
 * PSBT in base64 with the new partial signatures and how many inputs were signed; throws when none could be.
 *
 * @example
 * signPsbt(unsignedBase64, { xprv: 'tprv8…' }) // { psbt: 'cHNidP8B…', signed: 1 }
 */
export function signPsbt(base64: string, key: PsbtSigningKey): { psbt: string; signed: number } {
  const psbt = Psbt.fromBase64(base64.trim())
  const { account, master } = accountKeys(key)
  let signed = 0
  for (const [i, input] of psbt.data.inputs.entries()) {
    let done = false
    for (const d of input.bip32Derivation ?? []) {
      const candidates: HDKey[] = []
      if (master?.fingerprint === Buffer.from(d.masterFingerprint).readUInt32BE(0))
        candidates.push(master.derive(d.path))
      const tail = parsePath(d.path, 'derivation').slice(-2)
      if (tail.length === 2 && tail.every((n) => n < hardened))
        candidates.push(account.deriveChild(tail[0] as number).deriveChild(tail[1] as number))
      const child = candidates.find((c) => c.publicKey && same(c.publicKey, d.pubkey))
      if (!child?.privateKey) continue
      const privateKey = child.privateKey
      if (!(input.partialSig ?? []).some((s) => same(s.pubkey, d.pubkey)))
        psbt.signInput(i, {
          publicKey: d.pubkey,
          sign: (hash: Uint8Array) => secp256k1.sign(hash, privateKey, { prehash: false, lowS: true }),
        })
      done = true
    }
    if (done) signed++
  }
  if (signed === 0) throw new Error('no input of this PSBT is for this key (no bip32Derivation matches it)')
  return { psbt: psbt.toBase64(), signed }
}
