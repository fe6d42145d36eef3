import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  type AssetInfo,
  type ChainDriver,
  type DriverLogger,
  isDriverError,
  type PayoutDriver,
} from '@tollgate/sdk'
import { createWalletClient, getAddress, type Hex, http, parseAbi, parseEther } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import refusers from '../../../test/contracts/Refusers.json'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import definition from './index.ts'

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const blockingAbi = parseAbi([
  'function mint(address to, uint256 value)',
  'function blockAddress(address who)',
])
// anvil's account 3 deploys the test contracts (accounts 0 and 1 are the devnet helper's)
const deployer = mnemonicToAccount('test test test test test test test test test test test junk', {
  addressIndex: 3,
})
/** The sender the checks run as: holds no ETH at all (the check must not depend on it). */
const emptyTreasury = getAddress('0x00000000000000000000000000000000000c0ffe')
/** Holds blocking tokens. */
const tokenTreasury = getAddress('0x0000000000000000000000000000000000007ea5')
const stranger = getAddress('0x52908400098527886e0f7030069857d2e4169ee7')

let devnet: Devnet
let driver: ChainDriver
let payouts: PayoutDriver
let refusesEther: Hex
let acceptsEther: Hex
let blocking: Hex
let eth: AssetInfo
let usdt: AssetInfo
let blk: AssetInfo

async function deploy(name: keyof typeof refusers.contracts): Promise<Hex> {
  const wallet = createWalletClient({
    account: deployer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
  const c = refusers.contracts[name]
  const hash = await wallet.deployContract({ abi: c.abi as never, bytecode: c.bytecode as Hex })
  return (await devnet.client.waitForTransactionReceipt({ hash })).contractAddress as Hex
}

async function call(to: Hex, functionName: 'mint' | 'blockAddress', args: readonly unknown[]) {
  const wallet = createWalletClient({
    account: deployer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
  const hash = await wallet.writeContract({ address: to, abi: blockingAbi, functionName, args } as never)
  await devnet.client.waitForTransactionReceipt({ hash })
}

async function driverFor(rpcUrl: string): Promise<ChainDriver> {
  const result = await definition.options['~standard'].validate({
    chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls: [rpcUrl],
    tokens: [
      { symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 },
      { symbol: 'BLK', address: blocking, decimals: 6 },
    ],
    timeoutMs: 2000,
  })
  if (result.issues) throw new Error(JSON.stringify(result.issues))
  return definition.create(result.value, { chain: 'devnet', log: silent })
}

beforeAll(async () => {
  devnet = await startDevnet()
  refusesEther = await deploy('RefusesEther')
  acceptsEther = await deploy('AcceptsEther')
  blocking = await deploy('BlockingToken')
  await call(blocking, 'mint', [tokenTreasury, 10n ** 12n])
  await call(blocking, 'blockAddress', [stranger])
  driver = await driverFor(devnet.url)
  payouts = driver.payouts!
  const asset = (symbol: string) => driver.assets.find((a) => a.symbol === symbol)!
  eth = asset('ETH')
  usdt = asset('USDT')
  blk = asset('BLK')
}, 60_000)
afterAll(() => devnet.stop())

const check = (to: string, asset: AssetInfo, from: string = emptyTreasury, amount = 10n ** 6n) =>
  payouts.checkDestination!({ from, to, asset, amount })

describe('EVM checkDestination', () => {
  test('default: an ordinary account is fine for ETH and tokens, whatever the sender holds', async () => {
    expect(await check(stranger.toLowerCase(), eth, emptyTreasury, parseEther('1000'))).toEqual({ ok: true })
    expect(await check(devnet.payer.address, usdt)).toEqual({ ok: true })
    expect(await check(devnet.payer.address, blk, tokenTreasury)).toEqual({ ok: true })
  })

  test('default: a contract that accepts ETH is fine', async () => {
    expect(await check(acceptsEther, eth)).toEqual({ ok: true })
  })

  test('error: the zero address and 0x…dEaD are BURN_ADDRESS in every spelling and for every asset', async () => {
    for (const to of [
      '0x0000000000000000000000000000000000000000',
      '0x000000000000000000000000000000000000dEaD',
      '0x000000000000000000000000000000000000dead',
      '0x000000000000000000000000000000000000DEAD',
    ])
      for (const asset of [eth, usdt, blk])
        expect({ to, asset: asset.symbol, verdict: await check(to, asset) }).toMatchObject({
          to,
          asset: asset.symbol,
          verdict: { ok: false, code: 'BURN_ADDRESS' },
        })
  })

  test('error: a contract without a payable receive is DESTINATION_REJECTED for ETH', async () => {
    for (const to of [refusesEther, refusesEther.toLowerCase(), devnet.tokenAddress]) {
      const verdict = await check(to, eth)
      expect(verdict).toMatchObject({ ok: false, code: 'DESTINATION_REJECTED' })
      expect((verdict as { reason: string }).reason).toContain('reverts')
    }
  })

  test('error: a token sent to its own contract is DESTINATION_REJECTED', async () => {
    for (const [to, asset] of [
      [devnet.tokenAddress, usdt],
      [devnet.tokenAddress.toLowerCase(), usdt],
      [blocking, blk],
    ] as const)
      expect(await check(to, asset)).toMatchObject({ ok: false, code: 'DESTINATION_REJECTED' })
  })

  test('error: a token transfer the contract reverts (a blocked recipient) is DESTINATION_REJECTED', async () => {
    const verdict = await check(stranger, blk, tokenTreasury)
    expect(verdict).toMatchObject({ ok: false, code: 'DESTINATION_REJECTED' })
    expect((verdict as { reason: string }).reason).toContain('blocked recipient')
    // more than the sender holds is checked with what it holds: the recipient decides, not the balance
    expect(await check(devnet.payer.address, blk, tokenTreasury, 10n ** 15n)).toEqual({ ok: true })
  })

  test('behavior: with no tokens at the sender there is nothing to run, and the check does not refuse', async () => {
    expect(await check(stranger, blk, emptyTreasury)).toEqual({ ok: true })
  })

  test('error: a node that does not answer is a retryable DriverError, not a verdict', async () => {
    const down = await driverFor('http://127.0.0.1:1')
    const err = await down.payouts!.checkDestination!({
      from: emptyTreasury,
      to: refusesEther,
      asset: eth,
      amount: 1n,
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ retryable: true })
  })
})

describe('EVM build to a destination that reverts', () => {
  test('error: an ETH transfer to a contract that refuses it cannot be built, and retrying cannot help', async () => {
    await devnet.payNative(tokenTreasury, parseEther('1'))
    const err = await payouts
      .build({
        from: { address: tokenTreasury, path: "m/44'/60'/1'/0/0" },
        asset: eth,
        outputs: [{ to: refusesEther, amount: 1000n }],
        nonce: 0n,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ retryable: false })
  })
})
