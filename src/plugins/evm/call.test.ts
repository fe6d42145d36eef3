import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { ChainDriver, DriverLogger } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { createWalletClient, decodeFunctionResult, encodeFunctionData, type Hex, http, parseAbi } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import compiled from '../../../test/contracts/SanctionsOracle.json'
import { type Devnet, devnetChain, startDevnet } from '../../../test/helpers/chain.ts'
import definition from './index.ts'

// Real anvil, real contracts (test/contracts/SanctionsOracle.sol): the driver's eth_call as a KYT oracle uses it.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const oracleAbi = parseAbi([
  'function isSanctioned(address addr) view returns (bool)',
  'function addToSanctionsList(address[] newSanctions)',
  'function name() view returns (string)',
])
// anvil's account 3 deploys the test contracts (accounts 0 and 1 are the devnet helper's)
const deployer = mnemonicToAccount('test test test test test test test test test test test junk', {
  addressIndex: 3,
})
/** On the SDN list (test/fixtures/kyt/ofac_sdn_ETH.txt, line 90). */
const listed: Hex = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const clean: Hex = '0x52908400098527886E0F7030069857D2E4169EE7'

let devnet: Devnet
let driver: ChainDriver
let oracle: Hex
let reverting: Hex

const wallet = () =>
  createWalletClient({
    account: deployer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })

async function deploy(name: keyof typeof compiled.contracts, args: unknown[] = []): Promise<Hex> {
  const c = compiled.contracts[name]
  const hash = await wallet().deployContract({ abi: c.abi as never, bytecode: c.bytecode as Hex, args })
  return (await devnet.client.waitForTransactionReceipt({ hash })).contractAddress as Hex
}

async function driverFor(rpcUrls: string[]): Promise<ChainDriver> {
  const result = await definition.options['~standard'].validate({
    chain: { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
    rpcUrls,
    timeoutMs: 2000,
  })
  if (result.issues) throw new Error(JSON.stringify(result.issues))
  return definition.create(result.value, { chain: 'devnet', log: silent })
}

const isSanctioned = (who: Hex) =>
  encodeFunctionData({ abi: oracleAbi, functionName: 'isSanctioned', args: [who] })

beforeAll(async () => {
  devnet = await startDevnet()
  oracle = await deploy('SanctionsOracle')
  reverting = await deploy('AlwaysReverts')
  driver = await driverFor([devnet.url])
}, 60_000)
afterAll(() => devnet.stop())

describe('EVM callContract', () => {
  test('default: answers the ABI-encoded result at the latest block, which changes with the chain', async () => {
    const before = await driver.callContract!({ to: oracle, data: isSanctioned(listed) })
    expect(before).toBe(`0x${'0'.repeat(64)}`)
    const hash = await wallet().writeContract({
      address: oracle,
      abi: oracleAbi,
      functionName: 'addToSanctionsList',
      args: [[listed]],
    })
    await devnet.client.waitForTransactionReceipt({ hash })
    const after = await driver.callContract!({ to: oracle.toLowerCase(), data: isSanctioned(listed) })
    expect(after).toBe(`0x${'0'.repeat(63)}1`)
    expect(await driver.callContract!({ to: oracle, data: isSanctioned(clean) })).toBe(before)
    const name = await driver.callContract!({
      to: oracle,
      data: encodeFunctionData({ abi: oracleAbi, functionName: 'name' }),
    })
    expect(decodeFunctionResult({ abi: oracleAbi, functionName: 'name', data: name as Hex })).toBe(
      'Sanctions oracle',
    )
  })

  test('behavior: an address without code answers empty bytes, not an error', async () => {
    expect(await driver.callContract!({ to: clean, data: isSanctioned(listed) })).toBe('0x')
  })

  test('behavior: a dead first RPC URL fails over to the next one', async () => {
    const failover = await driverFor(['http://127.0.0.1:1', devnet.url])
    expect(await failover.callContract!({ to: oracle, data: isSanctioned(clean) })).toBe(
      `0x${'0'.repeat(64)}`,
    )
  })

  test('error: a call the contract reverts is CALL_REVERTED, not retryable, with the reason', async () => {
    const err = await driverRejection(driver.callContract!({ to: reverting, data: isSanctioned(listed) }))
    expect(err).toMatchObject({ code: 'CALL_REVERTED', retryable: false })
    expect(err.message).toContain('no reads here')
    // a revert without a reason (a function the contract does not have, no fallback): the same
    const owner = await driverRejection(
      driver.callContract!({ to: devnet.tokenAddress, data: isSanctioned(listed) }),
    )
    expect(owner).toMatchObject({ code: 'CALL_REVERTED', retryable: false })
  })

  test('error: an OffchainLookup (CCIP-read) revert is CALL_REVERTED; the server it names is never asked', async () => {
    let asked = 0
    const server = Bun.serve({
      port: 0,
      fetch() {
        asked++
        return Response.json({ data: `0x${'0'.repeat(63)}0` })
      },
    })
    try {
      const offchain = await deploy('OffchainOracle', [`http://127.0.0.1:${server.port}/{sender}/{data}`])
      const err = await driverRejection(driver.callContract!({ to: offchain, data: isSanctioned(listed) }))
      expect(err).toMatchObject({ code: 'CALL_REVERTED', retryable: false })
      expect(asked).toBe(0)
    } finally {
      server.stop(true)
    }
  })

  test('error: a node that cannot be asked is a retryable RPC_ERROR', async () => {
    const down = await driverFor(['http://127.0.0.1:1'])
    expect(
      await driverRejection(down.callContract!({ to: oracle, data: isSanctioned(listed) })),
    ).toMatchObject({
      code: 'RPC_ERROR',
      retryable: true,
    })
    // a node that answers, but with an HTTP error (rate limited)
    const server = Bun.serve({ port: 0, fetch: () => new Response('slow down', { status: 429 }) })
    try {
      const limited = await driverFor([`http://127.0.0.1:${server.port}`])
      expect(
        await driverRejection(limited.callContract!({ to: oracle, data: isSanctioned(listed) })),
      ).toMatchObject({ code: 'RPC_ERROR', retryable: true })
    } finally {
      server.stop(true)
    }
  })

  test('error: an aborted call rejects with a retryable ABORTED, before or while the node is asked', async () => {
    const before = new AbortController()
    before.abort()
    expect(
      await driverRejection(driver.callContract!({ to: oracle, data: isSanctioned(listed) }, before.signal)),
    ).toMatchObject({ code: 'ABORTED', retryable: true })

    // a node that takes the request and never answers: the abort ends the wait
    const during = new AbortController()
    const server = Bun.serve({
      port: 0,
      fetch: () => {
        during.abort()
        return new Promise<Response>(() => {})
      },
    })
    try {
      const stalled = await driverFor([`http://127.0.0.1:${server.port}`])
      expect(
        await driverRejection(
          stalled.callContract!({ to: oracle, data: isSanctioned(listed) }, during.signal),
        ),
      ).toMatchObject({ code: 'ABORTED', retryable: true })
    } finally {
      server.stop(true)
    }
  })

  test('error: a `to` or `data` that is not an address or hex bytes is BAD_CALL, before any request', async () => {
    const down = await driverFor(['http://127.0.0.1:1'])
    const bad: unknown[] = [
      { to: '0x1234', data: '0x' },
      { to: `0x${'g'.repeat(40)}`, data: '0x' },
      { to: 42, data: '0x' },
      { to: oracle, data: '0x123' },
      { to: oracle, data: 'deadbeef' },
      { to: oracle, data: `0x${'zz'.repeat(4)}` },
      { to: oracle },
      null,
    ]
    for (const call of bad)
      expect(await driverRejection(down.callContract!(call as { to: string; data: string }))).toMatchObject({
        code: 'BAD_CALL',
        retryable: false,
      })
  })
})
