import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type ChainDriver, type DriverLogger, isDriverError, SDK_API_VERSION } from '@tollgate/sdk'
import { createSigner } from '../../core/payouts/signer.ts'
import { type Anvil, startAnvil } from '../../devnet.ts'
import { validateEvmAddress } from './address.ts'
import { evmAssets } from './assets.ts'
import definition from './index.ts'
import { type EvmOptionsInput, evmOptionsSchema } from './options.ts'
import { evmPaymentUri } from './uri.ts'

const anvilMnemonic = 'test test test test test test test test test test test junk'
const anvilAccount0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const token = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
/** CAIP-19: chain_id "/" asset_namespace ":" asset_reference. */
const caip19 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\/[-a-z0-9]{3,8}:[-.%a-zA-Z0-9]{1,128}$/

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }

function optionsInput(overrides: Partial<EvmOptionsInput> = {}): EvmOptionsInput {
  return {
    chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls: ['http://127.0.0.1:1'],
    tokens: [{ symbol: 'USDT', address: token.toLowerCase(), decimals: 6 }],
    ...overrides,
  }
}

/** Makes a driver the way the registry does: validate through Standard Schema, then `create`. */
async function driverFrom(input: unknown): Promise<ChainDriver> {
  const result = await definition.options['~standard'].validate(input)
  if (result.issues) expect.unreachable(`options refused: ${JSON.stringify(result.issues)}`)
  return definition.create(result.value, { chain: 'devnet', log: silent })
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

async function rpc(url: string, method: string, params: unknown[] = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  return ((await res.json()) as { result: unknown }).result
}

describe('validateEvmAddress', () => {
  test('default: a correct EIP-55 address is accepted as is', () => {
    expect(validateEvmAddress(anvilAccount0)).toEqual({ ok: true, normalized: anvilAccount0 })
  })

  test('args: all-lowercase and all-uppercase addresses are accepted and normalized to the checksum', () => {
    expect(validateEvmAddress(anvilAccount0.toLowerCase())).toEqual({ ok: true, normalized: anvilAccount0 })
    expect(validateEvmAddress(`0x${anvilAccount0.slice(2).toUpperCase()}`)).toEqual({
      ok: true,
      normalized: anvilAccount0,
    })
    expect(validateEvmAddress(`0x${'0'.repeat(40)}`)).toEqual({ ok: true, normalized: `0x${'0'.repeat(40)}` })
  })

  test('error: mixed case with a wrong checksum is refused', () => {
    // flip the case of the first letter of a valid checksummed address
    const at = anvilAccount0.slice(2).search(/[a-fA-F]/) + 2
    const c = anvilAccount0[at]!
    const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()
    const typo = `${anvilAccount0.slice(0, at)}${flipped}${anvilAccount0.slice(at + 1)}`
    expect(typo).not.toBe(anvilAccount0)
    const result = validateEvmAddress(typo)
    expect(result.ok).toBe(false)
    expect(!result.ok && result.reason).toMatch(/checksum/)
  })

  const malformed: Array<[label: string, input: string]> = [
    ['too short', anvilAccount0.slice(0, 41)],
    ['too long', `${anvilAccount0}0`],
    ['missing 0x', anvilAccount0.slice(2)],
    ['0X prefix', `0X${anvilAccount0.slice(2)}`],
    ['non-hex', `0x${'g'.repeat(40)}`],
    ['spaces', ` ${anvilAccount0}`],
    ['empty', ''],
    ['32-byte hex', `0x${'ab'.repeat(32)}`],
  ]
  for (const [label, input] of malformed) {
    test(`error: ${label} is refused`, () => {
      const result = validateEvmAddress(input)
      expect(result.ok).toBe(false)
      expect(!result.ok && result.reason).toMatch(/20-byte hex address/)
    })
  }
})

describe('evmPaymentUri', () => {
  const options = evmOptionsSchema.parse(optionsInput({ chain: { ...optionsInput().chain, id: 1 } }))
  const { native, all } = evmAssets(options)
  const usdt = all[1]!

  test('default: the native coin is an EIP-681 value transfer in wei', () => {
    expect(evmPaymentUri(1, { address: anvilAccount0, asset: native, amount: 50_000_000_000_000_000n })).toBe(
      `ethereum:${anvilAccount0}@1?value=50000000000000000`,
    )
  })

  test('behavior: a token is an EIP-681 transfer call on the checksummed contract', () => {
    expect(evmPaymentUri(1, { address: anvilAccount0, asset: usdt, amount: 12_500_000n })).toBe(
      `ethereum:${token}@1/transfer?address=${anvilAccount0}&uint256=12500000`,
    )
  })

  test('behavior: amounts beyond 2^64 are written exactly', () => {
    const amount = 123456789123456789123456789n
    expect(evmPaymentUri(137, { address: anvilAccount0, asset: native, amount })).toBe(
      `ethereum:${anvilAccount0}@137?value=123456789123456789123456789`,
    )
  })
})

describe('evmAssets', () => {
  test('default: ids are CAIP-19 (slip44:60 native, erc20:<lowercase contract> tokens)', () => {
    const { native, all } = evmAssets(evmOptionsSchema.parse(optionsInput()))
    expect(all).toHaveLength(2)
    expect(all[0]).toBe(native)
    expect(native).toEqual({
      id: 'eip155:31337/slip44:60',
      symbol: 'ETH',
      name: 'Ether',
      decimals: 18,
      native: true,
    })
    expect(all[1]).toEqual({
      id: `eip155:31337/erc20:${token.toLowerCase()}`,
      symbol: 'USDT',
      name: 'USDT',
      decimals: 6,
      native: false,
      contract: token,
      confirmations: undefined,
    })
    for (const a of all) expect(a.id).toMatch(caip19)
  })

  test('args: a token given in checksummed form gets the same lowercase id, its name and confirmations', () => {
    const { all } = evmAssets(
      evmOptionsSchema.parse(
        optionsInput({
          tokens: [{ symbol: 'USDC', name: 'USD Coin', address: token, decimals: 6, confirmations: 20 }],
        }),
      ),
    )
    expect(all[1]).toMatchObject({
      id: `eip155:31337/erc20:${token.toLowerCase()}`,
      name: 'USD Coin',
      contract: token,
      confirmations: 20,
    })
  })
})

describe('EVM driver definition', () => {
  test('default: the definition speaks this SDK version and makes a driver for eip155:<id>', async () => {
    expect(definition.apiVersion).toBe(SDK_API_VERSION)
    expect(definition.name).toBe('evm')
    const driver = await driverFrom(optionsInput())
    expect(driver.chainId).toBe('eip155:31337')
    expect(driver.accountPath).toBe("m/44'/60'/0'")
    expect(driver.confirmations).toBe(12)
    expect(driver.finalityDepth).toBe(64)
    expect(driver.maxOutputs).toBe(1)
    expect(driver.nativeAsset.id).toBe('eip155:31337/slip44:60')
    expect(driver.assets.map((a) => a.symbol)).toEqual(['ETH', 'USDT'])
  })

  test("args: account 3 gives m/44'/60'/3', and chain id 1 gives eip155:1", async () => {
    const driver = await driverFrom(
      optionsInput({ account: 3, chain: { ...optionsInput().chain, id: 1 }, confirmations: 5 }),
    )
    expect(driver.accountPath).toBe("m/44'/60'/3'")
    expect(driver.chainId).toBe('eip155:1')
    expect(driver.confirmations).toBe(5)
  })

  test("behavior: deriveAddress turns the account xpub into anvil's account 0 and names the path", async () => {
    const driver = await driverFrom(optionsInput())
    const xpub = createSigner(anvilMnemonic).xpub(driver.accountPath)
    expect(driver.deriveAddress({ xpub, index: 0 })).toEqual({
      address: anvilAccount0,
      path: "m/44'/60'/0'/0/0",
    })
    expect(driver.validateAddress(anvilAccount0.toLowerCase())).toEqual({
      ok: true,
      normalized: anvilAccount0,
    })
    expect(driver.paymentUri({ address: anvilAccount0, asset: driver.nativeAsset, amount: 1n })).toBe(
      `ethereum:${anvilAccount0}@31337?value=1`,
    )
  })

  test('error: options are validated with field paths', async () => {
    const result = await definition.options['~standard'].validate({
      ...optionsInput(),
      rpcUrls: ['ftp://example.com'],
      chain: { ...optionsInput().chain, id: -1 },
    })
    expect(result.issues).toBeDefined()
    const paths = (result.issues ?? []).map((i) => (i.path ?? []).map((p) => String(p)).join('.'))
    expect(paths).toContain('chain.id')
    expect(paths).toContain('rpcUrls.0')
    const empty = await definition.options['~standard'].validate({ ...optionsInput(), rpcUrls: [] })
    expect(empty.issues?.[0]?.message).toMatch(/at least one RPC URL/)
  })
})

describe('EVM driver against anvil', () => {
  let anvil: Anvil
  let driver: ChainDriver
  beforeAll(async () => {
    anvil = await startAnvil({ port: await freePort() })
    driver = await driverFrom(optionsInput({ rpcUrls: [anvil.url], timeoutMs: 2000 }))
  })
  afterAll(async () => {
    await driver?.close?.()
    await anvil?.stop()
  })

  test('default: getTip reports the current head with its hash, parent and time', async () => {
    const tip = await driver.getTip()
    expect(typeof tip.height).toBe('bigint')
    expect(tip.hash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(tip.parentHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(Number.isInteger(tip.time)).toBe(true)
    expect(Math.abs(tip.time - Date.now() / 1000)).toBeLessThan(3600)
    expect(await driver.getBlockRef(tip.height)).toEqual(tip)
  })

  test('behavior: after mining, the tip advances and blocks chain by parent hash', async () => {
    const before = await driver.getTip()
    await rpc(anvil.url, 'anvil_mine', ['0x3'])
    const after = await driver.getTip()
    expect(after.height).toBe(before.height + 3n)
    const refs = await Promise.all([0n, 1n, 2n, 3n].map((d) => driver.getBlockRef(before.height + d)))
    for (let i = 1; i < refs.length; i++) expect(refs[i]!.parentHash).toBe(refs[i - 1]!.hash)
    expect(refs[3]).toEqual(after)
    const viaRpc = (await rpc(anvil.url, 'eth_getBlockByNumber', [
      `0x${after.height.toString(16)}`,
      false,
    ])) as {
      hash: string
    }
    expect(after.hash).toBe(viaRpc.hash)
  })

  test('error: getBlockRef past the tip is a retryable BLOCK_NOT_FOUND DriverError', async () => {
    const tip = await driver.getTip()
    const err = await driver.getBlockRef(tip.height + 1000n).catch((e: unknown) => e)
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ name: 'DriverError', code: 'BLOCK_NOT_FOUND', retryable: true })
  })
})

describe('EVM driver against a dead node', () => {
  test('error: getTip throws a retryable DriverError naming the call', async () => {
    const port = await freePort()
    const driver = await driverFrom(optionsInput({ rpcUrls: [`http://127.0.0.1:${port}`], timeoutMs: 1000 }))
    const err = await driver.getTip().catch((e: unknown) => e)
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ name: 'DriverError', code: 'RPC_ERROR', retryable: true })
    expect((err as Error).message).toMatch(/^getBlock\(latest\): /)
  })
})

describe('EVM driver against a node answering a pending block', () => {
  test('error: a block without number or hash is a retryable PENDING_BLOCK naming the call', async () => {
    const node = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async (req) => {
        const { id } = (await req.json()) as { id: number }
        const pending = { number: null, hash: null, parentHash: `0x${'11'.repeat(32)}`, timestamp: '0x1' }
        return Response.json({ jsonrpc: '2.0', id, result: pending })
      },
    })
    try {
      const driver = await driverFrom(
        optionsInput({ rpcUrls: [`http://127.0.0.1:${node.port}`], timeoutMs: 1000 }),
      )
      const err = await driver.getTip().catch((e: unknown) => e)
      expect(isDriverError(err)).toBe(true)
      expect(err).toMatchObject({
        code: 'PENDING_BLOCK',
        retryable: true,
        message: 'getBlock(latest): pending block returned',
      })
    } finally {
      await node.stop(true)
    }
  })
})
