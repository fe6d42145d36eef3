import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  type ChainDriver,
  checkKytAnswer,
  isDriverError,
  type KytChain,
  type KytContext,
  type KytRequest,
} from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { createWalletClient, getAddress, type Hex, http, parseAbi } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import compiled from '../../../test/contracts/SanctionsOracle.json'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import evm from '../evm/index.ts'
import tron from '../tron/index.ts'
import oracleProvider, { createOracleProvider } from './index.ts'
import { oracleOptionsSchema } from './options.ts'

// A real anvil with the oracle contract (test/contracts/SanctionsOracle.sol, the public oracle's ABI), asked
// through the real EVM driver's callContract, as the gateway hands it to providers.

const log = { debug() {}, info() {}, warn() {}, error() {} }
const offline = 'http://127.0.0.1:1'
const fixtures = resolve(import.meta.dir, '../../../test/fixtures/kyt')
const sdnEth = readFileSync(resolve(fixtures, 'ofac_sdn_ETH.txt'), 'utf8').split('\n')
/** A real SDN-listed address (Tornado Cash), as the list spells it. */
const listed = sdnEth.find((l) => l.trim() === '0x8589427373D6D84E98730D7795D8f6f8731FDA16') as string
const clean = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' // anvil's first account
const adminAbi = parseAbi([
  'function addToSanctionsList(address[] newSanctions)',
  'function removeFromSanctionsList(address[] removeSanctions)',
  'function setAnswer(bytes raw)',
])
// anvil's account 3 deploys the test contracts (accounts 0 and 1 are the devnet helper's)
const deployer = mnemonicToAccount('test test test test test test test test test test test junk', {
  addressIndex: 3,
})

let devnet: Devnet
let anvilDriver: ChainDriver
let ethereum: ChainDriver
let tronMain: ChainDriver
let oracle: Hex
let rawAnswer: Hex
let alwaysReverts: Hex
let ctx: KytContext

/** A chain as the gateway hands it to providers (registry.ts): name, id, addressKey, and callContract if any. */
const asKytChain = (name: string, d: ChainDriver, withCall = true): KytChain => ({
  name,
  chainId: d.chainId,
  addressKey: (a) => d.addressKey(a),
  ...(withCall && d.callContract ? { callContract: d.callContract } : {}),
})
const provider = (options: unknown, context: KytContext = ctx) =>
  createOracleProvider(oracleOptionsSchema.parse(options), context)
const on = (d: ChainDriver, address: string): KytRequest => ({
  chain: d.chainId,
  address,
  addressKey: d.addressKey(address),
  direction: 'inbound',
})

async function driver(plugin: typeof evm | typeof tron, options: unknown): Promise<ChainDriver> {
  const validated = await plugin.options['~standard'].validate(options)
  if (validated.issues) throw new Error(JSON.stringify(validated.issues))
  return (plugin.create as (o: unknown, c: unknown) => Promise<ChainDriver>)(validated.value, {
    chain: 'test',
    log,
  })
}
const anvilOptions = (rpcUrls: string[]) => ({
  chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
  rpcUrls,
  timeoutMs: 2000,
})

const wallet = () =>
  createWalletClient({
    account: deployer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
async function deploy(name: keyof typeof compiled.contracts): Promise<Hex> {
  const c = compiled.contracts[name]
  const hash = await wallet().deployContract({ abi: c.abi as never, bytecode: c.bytecode as Hex })
  return (await devnet.client.waitForTransactionReceipt({ hash })).contractAddress as Hex
}
async function send(
  to: Hex,
  functionName: 'addToSanctionsList' | 'removeFromSanctionsList' | 'setAnswer',
  arg: unknown,
) {
  const hash = await wallet().writeContract({
    address: to,
    abi: adminAbi,
    functionName,
    args: [arg],
  } as never)
  await devnet.client.waitForTransactionReceipt({ hash })
}

beforeAll(async () => {
  devnet = await startDevnet()
  oracle = getAddress(await deploy('SanctionsOracle'))
  rawAnswer = await deploy('RawAnswer')
  alwaysReverts = await deploy('AlwaysReverts')
  await send(oracle, 'addToSanctionsList', [listed])
  anvilDriver = await driver(evm, anvilOptions([devnet.url]))
  // loaded but without an oracle; its node is offline, so asking it would fail the test
  ethereum = await driver(evm, { preset: 'ethereum', rpcUrls: [offline] })
  tronMain = await driver(tron, { preset: 'tron', fullHosts: [offline] })
  ctx = {
    name: 'oracle',
    log,
    chains: [
      asKytChain('devnet', anvilDriver),
      asKytChain('ethereum', ethereum),
      asKytChain('tron', tronMain),
    ],
  }
}, 60_000)
afterAll(async () => {
  for (const d of [anvilDriver, ethereum, tronMain]) await d?.close?.()
  await devnet.stop()
})

describe('screening through the on-chain oracle', () => {
  test('default: an SDN-listed address is blocked, severe, sanctions, naming the oracle, its chain and the call', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } } })
    const answer = await kyt.screen(on(anvilDriver, listed))
    expect(answer).toEqual({
      verdict: 'block',
      risk: 'severe',
      categories: ['sanctions'],
      reasons: [`${listed} is listed by the on-chain sanctions oracle at ${oracle} on devnet`],
      source: { provider: 'oracle', version: `eip155:31337:${oracle}@latest` },
    })
    expect(checkKytAnswer(answer)).toBe(answer)
  })

  test('default: an address the oracle does not list is allowed, with the oracle as the source', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } } })
    const answer = await kyt.screen(on(anvilDriver, clean))
    expect(answer).toEqual({
      verdict: 'allow',
      categories: [],
      reasons: [],
      source: { provider: 'oracle', version: `eip155:31337:${oracle}@latest` },
    })
    expect(checkKytAnswer(answer)).toBe(answer)
  })

  test('behavior: a listed address is blocked whatever its spelling, and for either direction', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle.toLowerCase() } } })
    for (const address of [listed, listed.toLowerCase(), `0x${listed.slice(2).toUpperCase()}`])
      for (const direction of ['inbound', 'outbound'] as const)
        expect((await kyt.screen({ ...on(anvilDriver, address), direction })).verdict).toBe('block')
  })

  test('behavior: a chain without an oracle is allowed, saying so, and no node is asked', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } } })
    for (const [chain, address] of [
      [ethereum, listed],
      [tronMain, 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'],
    ] as const) {
      const answer = await kyt.screen(on(chain, address))
      expect(answer).toEqual({
        verdict: 'allow',
        categories: [],
        reasons: [`the oracle does not cover ${chain.chainId}`],
        source: { provider: 'oracle' },
      })
      expect(checkKytAnswer(answer)).toBe(answer)
    }
  })

  test('behavior: listing and unlisting count from the next screening on (nothing is cached)', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } } })
    const newcomer = '0x52908400098527886E0F7030069857D2E4169EE7'
    expect((await kyt.screen(on(anvilDriver, newcomer))).verdict).toBe('allow')
    await send(oracle, 'addToSanctionsList', [newcomer])
    expect((await kyt.screen(on(anvilDriver, newcomer))).verdict).toBe('block')
    await send(oracle, 'removeFromSanctionsList', [newcomer])
    expect((await kyt.screen(on(anvilDriver, newcomer))).verdict).toBe('allow')
    expect((await kyt.screen(on(anvilDriver, listed))).verdict).toBe('block')
  })

  test('args: verdict review answers review for a listed address, allow for a clean one', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } }, verdict: 'review' })
    expect(await kyt.screen(on(anvilDriver, listed))).toMatchObject({
      verdict: 'review',
      risk: 'severe',
      categories: ['sanctions'],
    })
    expect((await kyt.screen(on(anvilDriver, clean))).verdict).toBe('allow')
  })
})

describe('an oracle that cannot answer', () => {
  test('error: a dead node is a retryable error with the driver’s code, naming the oracle', async () => {
    const down = await driver(evm, anvilOptions([offline]))
    const kyt = provider(
      { chains: { devnet: { address: oracle } } },
      { ...ctx, chains: [asKytChain('devnet', down)] },
    )
    const err = await driverRejection(kyt.screen(on(down, listed)))
    expect(err).toMatchObject({ code: 'RPC_ERROR', retryable: true })
    expect(err.message).toContain(`sanctions oracle at ${oracle} on devnet (eip155:31337)`)
  })

  test('error: a node that does not answer within timeoutMs is a retryable KYT_TIMEOUT; a caller’s abort ABORTED', async () => {
    const stalled = new Set<() => void>()
    let onRequest = () => {}
    const server = Bun.serve({
      port: 0,
      fetch: () => {
        onRequest()
        return new Promise<Response>((done) => stalled.add(() => done(new Response('late'))))
      },
    })
    try {
      const slow = await driver(evm, anvilOptions([`http://127.0.0.1:${server.port}`]))
      const context = { ...ctx, chains: [asKytChain('devnet', slow)] }
      const kyt = provider({ chains: { devnet: { address: oracle } }, timeoutMs: 1 }, context)
      const timedOut = await driverRejection(kyt.screen(on(slow, listed)))
      expect(timedOut).toMatchObject({ code: 'KYT_TIMEOUT', retryable: true })
      expect(timedOut.message).toContain(`sanctions oracle at ${oracle} on devnet`)

      // the caller gives up while the node holds the request, or before it is sent
      const patient = provider({ chains: { devnet: { address: oracle } }, timeoutMs: 60_000 }, context)
      const during = new AbortController()
      onRequest = () => during.abort()
      expect(await driverRejection(patient.screen(on(slow, listed), during.signal))).toMatchObject({
        code: 'ABORTED',
        retryable: true,
      })
      expect(await driverRejection(patient.screen(on(slow, listed), during.signal))).toMatchObject({
        code: 'ABORTED',
        retryable: true,
      })
    } finally {
      for (const release of stalled) release()
      server.stop(true)
    }
  })

  test('error: an address that is not the oracle is a non-retryable error saying so', async () => {
    const notOracles: Array<[string, string]> = [
      [clean, 'KYT_BAD_ANSWER'], // an account without code answers nothing
      [devnet.tokenAddress, 'CALL_REVERTED'], // a contract without isSanctioned
      [alwaysReverts, 'CALL_REVERTED'],
    ]
    for (const [address, code] of notOracles) {
      const kyt = provider({ chains: { devnet: { address } } })
      const err = await driverRejection(kyt.screen(on(anvilDriver, listed)))
      expect({ address, ...err }).toMatchObject({ address, code, retryable: false })
      expect(err.message).toContain(`at ${address} on devnet`)
      expect(err.message).toContain("is it the oracle's address?")
    }
  })

  test('error: an answer that is not exactly one ABI-encoded bool is KYT_BAD_ANSWER', async () => {
    const kyt = provider({ chains: { devnet: { address: rawAnswer } } })
    const word = (n: number) => n.toString(16).padStart(64, '0')
    const garbage = [
      `0x${word(2)}`, // not a bool
      `0x${'f'.repeat(64)}`,
      `0x${word(1)}${word(1)}`, // two words
      `0x${word(1).slice(2)}`, // 31 bytes
      '0x01',
    ]
    for (const raw of garbage) {
      await send(rawAnswer, 'setAnswer', raw)
      expect({ raw, ...(await driverRejection(kyt.screen(on(anvilDriver, listed)))) }).toMatchObject({
        raw,
        code: 'KYT_BAD_ANSWER',
        retryable: false,
      })
    }
    // the same contract answering a proper bool is understood: the refusals above are about the answers
    await send(rawAnswer, 'setAnswer', `0x${word(1)}`)
    expect((await kyt.screen(on(anvilDriver, clean))).verdict).toBe('block')
  })

  test('error: a driver that breaks its contract (throws a plain Error, answers a non-string) is refused, never a verdict', async () => {
    const broken = (callContract: KytChain['callContract']): KytContext => ({
      ...ctx,
      chains: [{ ...asKytChain('devnet', anvilDriver, false), callContract }],
    })
    const throwing = provider(
      { chains: { devnet: { address: oracle } } },
      broken(async () => {
        throw new TypeError('fetch failed')
      }),
    )
    expect(await driverRejection(throwing.screen(on(anvilDriver, listed)))).toMatchObject({
      code: 'KYT_CALL_FAILED',
      retryable: true,
    })
    const lying = provider(
      { chains: { devnet: { address: oracle } } },
      broken(async () => 1 as unknown as string),
    )
    expect(await driverRejection(lying.screen(on(anvilDriver, listed)))).toMatchObject({
      code: 'KYT_BAD_ANSWER',
      retryable: false,
    })
  })
})

describe('hostile input and configuration', () => {
  test('error: hostile requests are KYT_BAD_REQUEST before any call; the provider keeps answering', async () => {
    const kyt = provider({ chains: { devnet: { address: oracle } } })
    const good = on(anvilDriver, listed)
    const hostile: unknown[] = [
      { ...good, address: '', addressKey: '' },
      { ...good, address: 'a'.repeat(10_000), addressKey: 'a'.repeat(10_000) },
      { ...good, address: 42, addressKey: 42 },
      { ...good, addressKey: ['0x'] },
      { ...good, chain: 'devnet' },
      { ...good, direction: 'sideways' },
      { ...good, amount: -1n },
      null,
      'not a request',
      // well-formed, but not an EVM address, or a key that is not the address's
      {
        ...good,
        address: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
        addressKey: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
      },
      { ...good, address: `${listed}00`, addressKey: `${listed.toLowerCase()}00` },
      { ...good, address: clean, addressKey: listed.toLowerCase() },
      { ...good, addressKey: clean.toLowerCase() },
    ]
    for (const request of hostile)
      expect(await driverRejection(kyt.screen(request as KytRequest))).toMatchObject({
        code: 'KYT_BAD_REQUEST',
        retryable: false,
      })
    expect((await kyt.screen(good)).verdict).toBe('block')
  })

  test('error: a configured chain that is not loaded, not EVM, cannot call contracts, or is named twice is KYT_CONFIG at create', async () => {
    const refused: Array<[unknown, KytContext, string]> = [
      [{ chains: { polygon: { address: oracle } } }, ctx, 'chains.polygon: no chain named polygon is loaded'],
      [
        { chains: { tron: { address: oracle } } },
        ctx,
        `chains.tron: ${tronMain.chainId} is not an EVM chain`,
      ],
      [
        { chains: { devnet: { address: oracle } } },
        { ...ctx, chains: [asKytChain('devnet', anvilDriver, false)] },
        'chains.devnet: the driver of eip155:31337 cannot call contracts',
      ],
      [
        { chains: { devnet: { address: oracle }, 'devnet-b': { address: oracle } } },
        { ...ctx, chains: [asKytChain('devnet', anvilDriver), asKytChain('devnet-b', anvilDriver)] },
        'chains.devnet-b: eip155:31337 already has an oracle, under chains.devnet',
      ],
    ]
    for (const [options, context, message] of refused) {
      let err: unknown
      try {
        provider(options, context)
      } catch (e) {
        err = e
      }
      expect(isDriverError(err)).toBe(true)
      expect(err).toMatchObject({ code: 'KYT_CONFIG', retryable: false })
      expect((err as Error).message).toContain(message)
    }
  })

  test('error: invalid options are refused with the path of the field', async () => {
    const refused: Array<[unknown, Array<string | number>]> = [
      [{}, ['chains']],
      [{ chains: {} }, ['chains']],
      [{ chains: { devnet: {} } }, ['chains', 'devnet', 'address']],
      [{ chains: { devnet: { address: '0x1234' } } }, ['chains', 'devnet', 'address']],
      // EIP-55 mixed case with one letter's case flipped
      [
        { chains: { devnet: { address: '0x40c57923924B5c5c5455c48D93317139ADDaC8fb' } } },
        ['chains', 'devnet', 'address'],
      ],
      [{ chains: { devnet: { address: `0x${'0'.repeat(40)}` } } }, ['chains', 'devnet', 'address']],
      [{ chains: { devnet: { address: oracle, extra: 1 } } }, ['chains', 'devnet']],
      [{ chains: { Devnet: { address: oracle } } }, ['chains', 'Devnet']],
      [{ chains: { devnet: { address: oracle } }, verdict: 'allow' }, ['verdict']],
      [{ chains: { devnet: { address: oracle } }, timeoutMs: 0 }, ['timeoutMs']],
      [{ chains: { devnet: { address: oracle } }, timeoutMs: 1.5 }, ['timeoutMs']],
      [{ chains: { devnet: { address: oracle } }, unknown: true }, []],
    ]
    for (const [options, path] of refused) {
      const result = await oracleProvider.options['~standard'].validate(options)
      expect({ options, paths: (result.issues ?? []).map((i) => i.path ?? []) }).toMatchObject({
        options,
        paths: [path],
      })
    }
  })

  test('default: the module is the kyt-oracle provider; verdict block and a 5 s timeout unless set', async () => {
    expect(oracleProvider).toMatchObject({ apiVersion: 1, name: 'kyt-oracle' })
    const result = await oracleProvider.options['~standard'].validate({
      chains: { ethereum: { address: '0x40C57923924B5c5c5455c48D93317139ADDaC8fb' } },
    })
    expect(result.issues).toBeUndefined()
    expect((result as { value: unknown }).value).toEqual({
      chains: { ethereum: { address: '0x40C57923924B5c5c5455c48D93317139ADDaC8fb' } },
      verdict: 'block',
      timeoutMs: 5000,
    })
    const kyt = await oracleProvider.create(
      oracleOptionsSchema.parse({ chains: { devnet: { address: oracle } } }),
      ctx,
    )
    expect((await kyt.screen(on(anvilDriver, listed))).verdict).toBe('block')
  })
})
