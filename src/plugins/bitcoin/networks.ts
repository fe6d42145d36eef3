/** The Bitcoin networks this driver knows. */
export type BitcoinNetworkName = 'mainnet' | 'testnet' | 'testnet4' | 'signet' | 'regtest'

/** What addresses, keys and chain ids look like on one Bitcoin network. */
export type BitcoinNetwork = {
  name: BitcoinNetworkName
  /** Human-readable part of segwit addresses (BIP173). */
  bech32: string
  /** Base58 version byte of P2PKH addresses. */
  pubKeyHash: number
  /** Base58 version byte of P2SH addresses. */
  scriptHash: number
  /** SLIP-44 coin type used in BIP84 account paths: 0 on mainnet, 1 on every test network. */
  coinType: number
  /** Block hash of the genesis block (display byte order). */
  genesisHash: string
  /**
   * Version bytes of the extended public keys accepted as a BIP84 account key. `xpub` is accepted on every
   * network: it is what a BIP32 library (and Tollgate's signer) writes whatever the chain, and the version bytes
   * do not change the key material. The other forms are accepted only on their own kind of network.
   */
  extendedKeyVersions: ReadonlyMap<number, string>
}

/** Extended public key version bytes (SLIP-132). */
export const extendedKeyVersion = {
  xpub: 0x0488b21e,
  ypub: 0x049d7cb2,
  zpub: 0x04b24746,
  tpub: 0x043587cf,
  upub: 0x044a5262,
  vpub: 0x045f1cf6,
} as const

/** Keys every test network accepts: tpub, vpub, and xpub (see `extendedKeyVersions`). */
const testKeyVersions: ReadonlyMap<number, string> = new Map([
  [extendedKeyVersion.tpub, 'tpub'],
  [extendedKeyVersion.vpub, 'vpub'],
  [extendedKeyVersion.xpub, 'xpub'],
])

/** How testnet3, testnet4 and signet write addresses and paths: the same, only their chains differ. */
const testnetFormats = { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, coinType: 1 } as const

export const bitcoinNetworks: Readonly<Record<BitcoinNetworkName, BitcoinNetwork>> = {
  mainnet: {
    name: 'mainnet',
    bech32: 'bc',
    pubKeyHash: 0x00,
    scriptHash: 0x05,
    coinType: 0,
    genesisHash: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
    extendedKeyVersions: new Map([
      [extendedKeyVersion.xpub, 'xpub'],
      [extendedKeyVersion.zpub, 'zpub'],
    ]),
  },
  testnet: {
    name: 'testnet',
    ...testnetFormats,
    genesisHash: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
    extendedKeyVersions: testKeyVersions,
  },
  // testnet4 (BIP94) and the default signet (BIP325) write addresses and keys as testnet3 does; only the chain
  // (and so the genesis block and the CAIP-2 id) differs
  testnet4: {
    name: 'testnet4',
    ...testnetFormats,
    genesisHash: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043',
    extendedKeyVersions: testKeyVersions,
  },
  signet: {
    name: 'signet',
    ...testnetFormats,
    genesisHash: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
    extendedKeyVersions: testKeyVersions,
  },
  regtest: {
    name: 'regtest',
    bech32: 'bcrt',
    pubKeyHash: 0x6f,
    scriptHash: 0xc4,
    coinType: 1,
    genesisHash: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
    extendedKeyVersions: testKeyVersions,
  },
}

/**
 * CAIP-2 id of a Bitcoin network: `bip122:` and the first 32 hex characters (16 bytes) of its genesis hash.
 *
 * @example
 * bip122ChainId(bitcoinNetworks.mainnet) // 'bip122:000000000019d6689c085ae165831e93'
 */
export function bip122ChainId(network: BitcoinNetwork): string {
  return `bip122:${network.genesisHash.slice(0, 32)}`
}
