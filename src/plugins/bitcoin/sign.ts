import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { type DigestSigner, DriverError, type SignedTx, type UnsignedTx } from '@tollgate/sdk'
import { script as btcScript, Transaction } from 'bitcoinjs-lib'
import { readPayload, unsignedTransaction } from './payload.ts'

/** The curve order n and n / 2: an s above n / 2 is "high" and non-standard since BIP146's LOW_S policy. */
const curveOrder = secp256k1.Point.CURVE().n
const halfOrder = curveOrder >> 1n

const toBigInt = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`)
const to32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex')

/**
 * The 64-byte r||s in low-S form: s replaced by n − s when it is above n / 2 (the same signature, the form
 * relay policy requires). noble signs low-S already; this keeps a different signer from producing
 * non-standard transactions.
 */
export function lowS(signature: Uint8Array): Uint8Array {
  if (signature.length !== 64)
    throw new DriverError('BAD_SIGNATURE', `a compact signature is 64 bytes, got ${signature.length}`, {
      retryable: false,
    })
  const s = toBigInt(signature.subarray(32))
  if (s <= halfOrder) return signature
  const out = new Uint8Array(64)
  out.set(signature.subarray(0, 32), 0)
  out.set(to32(curveOrder - s), 32)
  return out
}

const refuse = (code: string, message: string) => new DriverError(code, message, { retryable: false })

/**
 * Signs a payload built by `buildPayout`: for each input, the BIP143 (segwit v0) SIGHASH_ALL digest over its
 * P2PKH script code and value, signed by `signer` at the input's own path (`from` is not used: each coin carries
 * its path), DER-encoded in low-S form with the sighash byte, witness `[signature, public key]`.
 *
 * Refuses (`KEY_MISMATCH`, not retryable) an input whose coin script is not the P2WPKH of the signer's key at
 * its path, and (`BAD_SIGNATURE`) a signature that does not verify; `BAD_PAYLOAD` when the stored payload does
 * not add up (inputs − outputs ≠ fee, or ≠ `maxFee`). Returns the raw hex and the txid.
 *
 * @example
 * const { raw, hash } = await signPayout(unsigned, signer)
 */
export async function signPayout(tx: UnsignedTx, signer: DigestSigner): Promise<SignedTx> {
  const payload = readPayload(tx.payload)
  if (BigInt(payload.fee) !== tx.maxFee)
    throw refuse('BAD_PAYLOAD', `the payload pays ${payload.fee} sat of fee, maxFee says ${tx.maxFee}`)
  const unsigned = unsignedTransaction(payload)
  const witnesses = payload.inputs.map((input, index) => {
    const publicKey = signer.publicKey(input.path)
    const hash160 = ripemd160(sha256(publicKey))
    const expected = `0014${Buffer.from(hash160).toString('hex')}`
    if (publicKey.length !== 33 || input.script !== expected)
      throw refuse(
        'KEY_MISMATCH',
        `input ${index} (${input.txid}:${input.vout}) pays script ${input.script}, but the key at ${input.path} has script ${expected}`,
      )
    const scriptCode = Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), hash160, Buffer.from([0x88, 0xac])])
    const digest = unsigned.hashForWitnessV0(index, scriptCode, BigInt(input.amount), Transaction.SIGHASH_ALL)
    const signature = lowS(signer.signDigest(input.path, digest).signature)
    if (!secp256k1.verify(signature, digest, publicKey, { prehash: false, lowS: true }))
      throw refuse(
        'BAD_SIGNATURE',
        `the signature of input ${index} does not verify against ${input.path}'s key`,
      )
    return [btcScript.signature.encode(signature, Transaction.SIGHASH_ALL), publicKey]
  })
  witnesses.forEach((w, i) => {
    unsigned.setWitness(i, w)
  })
  return { raw: unsigned.toHex(), hash: unsigned.getId() }
}
