import { sha256 } from '@noble/hashes/sha2.js'
import { HDKey } from '@scure/bip32'
import { entropyToMnemonic, mnemonicToSeedSync } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'

/** BIP48 account path of a P2WSH multisig key on test networks: m/48'/coin'/account'/2'. */
export const ownerAccountPath = "m/48'/1'/0'/2'"

/** tprv / tpub version bytes: how owners' wallets write test-network keys. */
const testnetVersions = { private: 0x04358394, public: 0x043587cf }

/** An owner of a Bitcoin multisig cold wallet: their mnemonic, and their account keys at `ownerAccountPath`. */
export type MultisigOwnerKeys = {
  mnemonic: string
  path: string
  /** The account's extended private key (tprv), what `tollgate psbt sign --xprv` takes. */
  xprv: string
  /** The account's extended public key (tpub), what the gateway is configured with. */
  xpub: string
  /** The same key with its origin, as descriptors write it: `[fingerprint/48'/1'/0'/2']tpub…`. */
  withOrigin: string
}

/**
 * A deterministic owner from a label (the mnemonic of sha256(label)'s first 16 bytes).
 *
 * @example
 * const alice = multisigOwner('alice')
 * alice.xpub // 'tpubDE…'
 */
export function multisigOwner(label: string): MultisigOwnerKeys {
  const mnemonic = entropyToMnemonic(
    sha256(new TextEncoder().encode(`tollgate multisig owner: ${label}`)).slice(0, 16),
    wordlist,
  )
  const master = HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic), testnetVersions)
  const account = master.derive(ownerAccountPath)
  const fingerprint = master.fingerprint.toString(16).padStart(8, '0')
  return {
    mnemonic,
    path: ownerAccountPath,
    xprv: account.privateExtendedKey,
    xpub: account.publicExtendedKey,
    withOrigin: `[${fingerprint}/${ownerAccountPath.slice(2)}]${account.publicExtendedKey}`,
  }
}
