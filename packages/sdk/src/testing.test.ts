import { expect, test } from 'bun:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { isDriverError } from './errors.ts'
import { childPublicKey, keccakAccountId } from './hd.ts'
import { createTestSigner, TEST_MNEMONIC } from './testing.ts'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

test("the test signer derives the well-known accounts of its mnemonic (anvil account 0 at m/44'/60'/0'/0/0)", () => {
  const signer = createTestSigner()
  const xpub = signer.xpub("m/44'/60'/0'")
  expect(hex(keccakAccountId(childPublicKey(xpub, 0, 0)))).toBe('f39fd6e51aad88f6f4ce6ab8827279cfffb92266')
  expect(hex(signer.publicKey("m/44'/60'/0'/0/0"))).toBe(hex(childPublicKey(xpub, 0, 0)))
  expect(createTestSigner(` ${TEST_MNEMONIC.replaceAll(' ', '  ')} `).xpub("m/44'/60'/0'")).toBe(xpub)
})

test("signDigest gives a deterministic r‖s signature whose recovery bit recovers the path's key", () => {
  const signer = createTestSigner()
  const path = "m/44'/1'/0'/0/3"
  const digest = sha256(new TextEncoder().encode('a toy transaction'))
  const { signature, recovery } = signer.signDigest(path, digest)
  expect(signature.length).toBe(64)
  expect(signer.signDigest(path, digest).signature).toEqual(signature)
  const publicKey = signer.publicKey(path)
  expect(secp256k1.verify(signature, digest, publicKey, { prehash: false })).toBe(true)
  const recovered = secp256k1.Signature.fromBytes(signature).addRecoveryBit(recovery).recoverPublicKey(digest)
  expect(hex(recovered.toBytes(true))).toBe(hex(publicKey))
})

test('another mnemonic gives other keys; a phrase that is not a mnemonic and a digest that is not 32 bytes are refused', () => {
  const other = createTestSigner(
    'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
  )
  expect(other.xpub("m/44'/60'/0'")).not.toBe(createTestSigner().xpub("m/44'/60'/0'"))
  let refused: unknown
  try {
    createTestSigner('not a mnemonic at all')
  } catch (err) {
    refused = err
  }
  expect(isDriverError(refused) && refused.code).toBe('BAD_MNEMONIC')
  expect(() => other.signDigest("m/44'/1'/0'/0/0", new Uint8Array(31))).toThrow('a digest is 32 bytes')
})
