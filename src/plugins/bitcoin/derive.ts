import { ripemd160 } from '@noble/hashes/legacy.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { HDKey } from '@scure/bip32'
import { type DerivedAddress, DriverError } from '@tollgate/sdk'
import { address as btcAddress } from 'bitcoinjs-lib'
import { type BitcoinNetwork, extendedKeyVersion } from './networks.ts'

/** BIP84 account path for a network: `m/84'/0'/account'` on mainnet, `m/84'/1'/account'` on test networks. */
export function bip84AccountPath(network: BitcoinNetwork, account = 0): string {
  return `m/84'/${network.coinType}'/${account}'`
}

const badKey = (message: string, cause?: unknown) =>
  new DriverError('BAD_XPUB', message, { retryable: false, cause })

const versionNames = new Map<number, string>(Object.entries(extendedKeyVersion).map(([k, v]) => [v, k]))

/**
 * Parses a BIP84 account-level extended public key. Accepted forms per network are in
 * `network.extendedKeyVersions` (`xpub`/`zpub` on mainnet, `tpub`/`vpub`/`xpub` on test networks); the version
 * bytes only label the serialization, the key is the same. Refused: private keys, BIP49 `ypub`/`upub` (another
 * script type), a test-network key on mainnet, and keys that are not at account depth 3.
 */
export function parseAccountKey(xpub: string, network: BitcoinNetwork): HDKey {
  const attempts: unknown[] = []
  for (const version of network.extendedKeyVersions.keys()) {
    try {
      // private: 0 never matches, so an extended private key is refused rather than parsed
      const key = HDKey.fromExtendedKey(xpub, { public: version, private: 0 })
      if (key.depth !== 3)
        throw badKey(`expected an account-level extended public key (depth 3), got depth ${key.depth}`)
      return key
    } catch (err) {
      if (err instanceof DriverError) throw err
      attempts.push(err)
    }
  }
  // say which kind of key it is when the version is a known one
  for (const [version, name] of versionNames) {
    try {
      HDKey.fromExtendedKey(xpub, { public: version, private: 0 })
      throw badKey(
        `a ${name} key is not accepted on ${network.name} (accepted: ${[...network.extendedKeyVersions.values()].join(', ')})`,
      )
    } catch (err) {
      if (err instanceof DriverError) throw err
    }
  }
  const reason = attempts[0] instanceof Error ? attempts[0].message : 'unrecognized extended key'
  throw badKey(`not an extended public key accepted on ${network.name}: ${reason}`, attempts[0])
}

const branches = new Map<string, HDKey>()

/** The `/0` (receive) or `/1` (change) branch of an account key, parsed and derived once per key. */
function branch(xpub: string, network: BitcoinNetwork, chain: 0 | 1): HDKey {
  const id = `${network.name}:${chain}:${xpub}`
  let node = branches.get(id)
  if (!node) {
    node = parseAccountKey(xpub, network).deriveChild(chain)
    branches.set(id, node)
  }
  return node
}

/** The P2WPKH (bech32, witness v0) address of a compressed public key. */
export function p2wpkhAddress(publicKey: Uint8Array, network: BitcoinNetwork): string {
  if (publicKey.length !== 33)
    throw new DriverError('INVALID_PUBLIC_KEY', 'P2WPKH needs a 33-byte compressed public key', {
      retryable: false,
    })
  return btcAddress.toBech32(ripemd160(sha256(publicKey)), 0, network.bech32)
}

function derive(
  xpub: string,
  accountPath: string,
  network: BitcoinNetwork,
  chain: 0 | 1,
  index: number,
): DerivedAddress {
  if (!Number.isInteger(index) || index < 0 || index >= 0x80000000)
    throw new DriverError('BAD_INDEX', `derivation index must be 0..2^31-1, got ${index}`, {
      retryable: false,
    })
  const child = branch(xpub, network, chain).deriveChild(index)
  if (!child.publicKey)
    throw new DriverError('DERIVATION_FAILED', 'xpub derivation produced no public key', { retryable: false })
  return { address: p2wpkhAddress(child.publicKey, network), path: `${accountPath}/${chain}/${index}` }
}

/**
 * BIP84 receive address `accountPath/0/index` (P2WPKH) from the account extended public key: watch-only.
 *
 * @example
 * deriveReceiveAddress(zpub, "m/84'/0'/0'", bitcoinNetworks.mainnet, 0)
 * // { address: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu', path: "m/84'/0'/0'/0/0" }
 */
export function deriveReceiveAddress(
  xpub: string,
  accountPath: string,
  network: BitcoinNetwork,
  index: number,
): DerivedAddress {
  return derive(xpub, accountPath, network, 0, index)
}

/**
 * BIP84 change address `accountPath/1/index` (the internal chain), for the money-out code to send change to.
 *
 * @example
 * deriveChangeAddress(zpub, "m/84'/0'/0'", bitcoinNetworks.mainnet, 0).address
 * // 'bc1q8c6fshw2keyzs9kqwm3xd7ma4xdz9rr4uzyqd3'
 */
export function deriveChangeAddress(
  xpub: string,
  accountPath: string,
  network: BitcoinNetwork,
  index: number,
): DerivedAddress {
  return derive(xpub, accountPath, network, 1, index)
}
