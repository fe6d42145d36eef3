import { describe, expect, test } from 'bun:test'
import { type ChainDriver, type DriverLogger, isDriverError, SDK_API_VERSION } from '@tollgate/sdk'
import { createSigner } from '../../core/payouts/signer.ts'
import { bitcoinAsset } from './assets.ts'
import definition from './index.ts'
import { bitcoinNetworks } from './networks.ts'
import { btcToSats, createBitcoinRpc } from './rpc.ts'
import { bitcoinPaymentUri, formatUnits } from './uri.ts'

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
/** CAIP-19: chain_id "/" asset_namespace ":" asset_reference. */
const caip19 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\/[-a-z0-9]{3,8}:[-.%a-zA-Z0-9]{1,128}$/

/** What `fn` throws; fails the test when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  expect.unreachable('expected a throw')
}

async function driverFrom(input: unknown): Promise<ChainDriver> {
  const result = await definition.options['~standard'].validate(input)
  if (result.issues) expect.unreachable(`options refused: ${JSON.stringify(result.issues)}`)
  return definition.create(result.value, { chain: 'bitcoin', log: silent })
}

describe('Bitcoin driver definition', () => {
  test('default: mainnet driver: CAIP-2 id, BTC asset, BIP84 path, mainnet depths (6/12) and outputs', async () => {
    expect(definition.apiVersion).toBe(SDK_API_VERSION)
    expect(definition.name).toBe('bitcoin')
    const driver = await driverFrom({ network: 'mainnet', rpcUrls: ['http://127.0.0.1:8332'] })
    expect(driver.chainId).toBe('bip122:000000000019d6689c085ae165831e93')
    expect(driver.nativeAsset).toEqual({
      id: 'bip122:000000000019d6689c085ae165831e93/slip44:0',
      symbol: 'BTC',
      name: 'Bitcoin',
      decimals: 8,
      native: true,
    })
    expect(driver.nativeAsset.id).toMatch(caip19)
    expect(driver.assets).toEqual([driver.nativeAsset])
    expect(driver.accountPath).toBe("m/84'/0'/0'")
    // a mainnet without a preset still gets mainnet's depths, not a devnet's
    expect(driver.confirmations).toBe(6)
    expect(driver.finalityDepth).toBe(12)
    expect(driver.maxOutputs).toBe(100)
  })

  test('args: testnet and regtest ids, coin type 1, and configured depths, outputs and account', async () => {
    const testnet = await driverFrom({ network: 'testnet', rpcUrls: ['http://127.0.0.1:18332'] })
    expect(testnet.chainId).toBe('bip122:000000000933ea01ad0ee984209779ba')
    expect(testnet.accountPath).toBe("m/84'/1'/0'")
    const regtest = await driverFrom({
      network: 'regtest',
      rpcUrls: ['http://u:p@127.0.0.1:18443'],
      confirmations: 3,
      finalityDepth: 10,
      maxOutputs: 250,
      account: 2,
    })
    expect(regtest.chainId).toBe('bip122:0f9188f13cb7b2c71f2a335e3a4fc328')
    expect(regtest.nativeAsset.id).toBe('bip122:0f9188f13cb7b2c71f2a335e3a4fc328/slip44:0')
    expect(regtest.accountPath).toBe("m/84'/1'/2'")
    expect([regtest.confirmations, regtest.finalityDepth, regtest.maxOutputs]).toEqual([3, 10, 250])
    for (const net of Object.values(bitcoinNetworks))
      expect(bitcoinAsset(net).id.startsWith(`bip122:${net.genesisHash.slice(0, 32)}/`)).toBe(true)
  })

  test('behavior: deriveAddress from the seed’s account xpub, validateAddress and addressKey agree', async () => {
    const driver = await driverFrom({ network: 'mainnet', rpcUrls: ['http://127.0.0.1:8332'] })
    const mnemonic =
      'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
    const xpub = createSigner(mnemonic).xpub(driver.accountPath)
    const first = driver.deriveAddress({ xpub, index: 0 })
    expect(first).toEqual({ address: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu', path: "m/84'/0'/0'/0/0" })
    expect(driver.validateAddress(first.address.toUpperCase())).toEqual({
      ok: true,
      normalized: first.address,
    })
    expect(driver.addressKey(first.address)).toBe('0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2')
    expect(driver.addressKey(first.address.toUpperCase())).toBe(driver.addressKey(first.address))
    expect(driver.paymentUri({ address: first.address, asset: driver.nativeAsset, amount: 150_000n })).toBe(
      'bitcoin:bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu?amount=0.0015',
    )
  })

  test('error: options are validated with field paths', async () => {
    const result = await definition.options['~standard'].validate({
      network: 'litecoin',
      rpcUrls: ['ws://127.0.0.1:1'],
      confirmations: 0,
    })
    const paths = (result.issues ?? []).map((i) => (i.path ?? []).map((p) => String(p)).join('.'))
    expect(paths).toContain('network')
    expect(paths).toContain('rpcUrls.0')
    expect(paths).toContain('confirmations')
    const empty = await definition.options['~standard'].validate({ network: 'mainnet', rpcUrls: [] })
    expect(empty.issues?.[0]?.message).toMatch(/at least one RPC URL/)
  })

  test('error: addressKey of an address of another network is a non-retryable INVALID_ADDRESS', async () => {
    const driver = await driverFrom({ network: 'mainnet', rpcUrls: ['http://127.0.0.1:8332'] })
    const err = thrown(() => driver.addressKey('tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx'))
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'INVALID_ADDRESS', retryable: false })
    expect((err as Error).message).toStartWith('not a mainnet address: ')
  })
})

describe('RPC client', () => {
  test('error: an RPC URL that is not http(s) is a non-retryable INVALID_RPC_URL', () => {
    const err = thrown(() => createBitcoinRpc({ urls: ['ftp://127.0.0.1:8332'], timeoutMs: 1000 }))
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({
      code: 'INVALID_RPC_URL',
      retryable: false,
      message: 'RPC URL must be http(s), got ftp:',
    })
  })

  test('error: no RPC URL at all is a non-retryable INVALID_OPTIONS', () => {
    const err = thrown(() => createBitcoinRpc({ urls: [], timeoutMs: 1000 }))
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'INVALID_OPTIONS', retryable: false })
  })

  test('error: a node answering HTTP 500 without a JSON-RPC body is a retryable RPC_ERROR', async () => {
    const node = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response('overloaded', { status: 500 }),
    })
    try {
      const rpc = createBitcoinRpc({ urls: [`http://127.0.0.1:${node.port}/`], timeoutMs: 2000 })
      const err = await rpc.call('getblockcount').catch((e: unknown) => e)
      expect(isDriverError(err)).toBe(true)
      expect(err).toMatchObject({ code: 'RPC_ERROR', retryable: true })
    } finally {
      await node.stop(true)
    }
  })
})

describe('BIP21 and amounts', () => {
  const btc = bitcoinAsset(bitcoinNetworks.mainnet)
  const address = 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu'

  test('default: amounts are exact BTC decimals without trailing zeros', () => {
    expect(bitcoinPaymentUri({ address, asset: btc, amount: 100_000_000n })).toBe(
      `bitcoin:${address}?amount=1`,
    )
    expect(bitcoinPaymentUri({ address, asset: btc, amount: 1n })).toBe(
      `bitcoin:${address}?amount=0.00000001`,
    )
    expect(bitcoinPaymentUri({ address, asset: btc, amount: 123_456_789n })).toBe(
      `bitcoin:${address}?amount=1.23456789`,
    )
  })

  test('args: the whole supply and beyond 2^53 satoshis are written exactly; zero omits the amount', () => {
    expect(formatUnits(2_099_999_997_690_000n, 8)).toBe('20999999.9769')
    expect(formatUnits(2n ** 64n + 1n, 8)).toBe('184467440737.09551617')
    expect(formatUnits(-150n, 8)).toBe('-0.0000015')
    expect(bitcoinPaymentUri({ address, asset: btc, amount: 0n })).toBe(`bitcoin:${address}`)
    expect(() => bitcoinPaymentUri({ address, asset: btc, amount: -1n })).toThrow(/negative/)
  })

  test('error: a negative payment amount is a non-retryable INVALID_AMOUNT', () => {
    const err = thrown(() => bitcoinPaymentUri({ address, asset: btc, amount: -1n }))
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'INVALID_AMOUNT', retryable: false })
  })

  test('behavior: btcToSats reads JSON BTC numbers exactly', () => {
    expect(btcToSats(0.1)).toBe(10_000_000n)
    expect(btcToSats(50.635175)).toBe(5_063_517_500n)
    expect(btcToSats(1e-8)).toBe(1n)
    expect(btcToSats(0.00001)).toBe(1000n)
    expect(btcToSats(20999999.9769)).toBe(2_099_999_997_690_000n)
    expect(() => btcToSats(Number.NaN)).toThrow()
  })

  test('error: btcToSats of a number that is not finite is a non-retryable INVALID_AMOUNT', () => {
    for (const value of [Number.NaN, Number.NEGATIVE_INFINITY]) {
      const err = thrown(() => btcToSats(value))
      expect(isDriverError(err), String(value)).toBe(true)
      expect(err, String(value)).toMatchObject({ code: 'INVALID_AMOUNT', retryable: false })
    }
  })
})
