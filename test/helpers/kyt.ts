import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type ChainSettings, type KytPolicyConfig, kyt, type TollgateConfig } from '@tollgate/sdk'
import { createWalletClient, getAddress, type Hex, http, parseAbi } from 'viem'
import { testConfig } from './app.ts'
import { type Devnet, devnetChain, tokenAbi } from './chain.ts'
import { sdnListAddresses, sdnListFile } from './kyt-list.ts'

/** The EVM addresses of one SDN list, in the list's order and spelling. */
export const sdnAddresses = (asset: 'ETH' | 'USDT'): string[] =>
  sdnListAddresses(asset).filter((l) => /^0x[0-9a-fA-F]{40}$/.test(l))

/** The sha256 (hex) of a list file's bytes: what the list's version names beside its date. */

export const sdnListSha256 = (asset: 'ETH' | 'USDT') =>
  createHash('sha256')
    .update(readFileSync(sdnListFile(asset)))
    .digest('hex')

/** The risk-API stand-in as a provider sees it. */
export type RiskApiEndpoint = { url: string; apiKey: string }

/**
 * The devnet config of `testConfig` with KYT screening on: the offline sanctions provider (`sanctions`) over the
 * real SDN ETH and USDT lists, the risk-API provider (`risk`) against the stand-in when given, and `policy` as
 * the gateway's `kytPolicy`.
 *
 * @example
 * const config = kytTestConfig(devnet.url, { riskApi: { url: api.url, apiKey: api.apiKey } })
 */
export function kytTestConfig(
  rpcUrl: string,
  options: {
    sanctions?: boolean
    riskApi?: RiskApiEndpoint & { timeoutMs?: number }
    policy?: KytPolicyConfig
    overrides?: Record<string, unknown>
    settings?: ChainSettings
  } = {},
): TollgateConfig {
  const base = testConfig(rpcUrl, { confirmations: 2, ...options.overrides }, options.settings)
  const providers: NonNullable<TollgateConfig['kyt']> = {}
  if (options.sanctions ?? true)
    providers.sanctions = kyt(() => import('../../src/plugins/kyt-sanctions/index.ts'), {
      lists: [
        { asset: 'ETH', file: sdnListFile('ETH') },
        { asset: 'USDT', file: sdnListFile('USDT') },
      ],
    })
  if (options.riskApi)
    providers.risk = kyt(() => import('../../src/plugins/kyt-risk-api/index.ts'), {
      baseUrl: options.riskApi.url,
      apiKey: options.riskApi.apiKey,
      // no pause between reads: the stand-in answers COMPLETE at once unless told otherwise
      inProgressPauseMs: 0,
      ...(options.riskApi.timeoutMs ? { timeoutMs: options.riskApi.timeoutMs } : {}),
    })
  return { ...base, kyt: providers, ...(options.policy ? { kytPolicy: options.policy } : {}) }
}

/**
 * Makes `address` (one nobody holds the key of, e.g. an SDN-listed one) able to send on the devnet: anvil
 * impersonates it and gives it 10 ETH for payments and gas.
 *
 * @example
 * await impersonate(devnet, sdnAddresses('ETH')[0])
 */
export async function impersonate(devnet: Devnet, address: string): Promise<void> {
  await devnet.test.impersonateAccount({ address: getAddress(address) })
  await devnet.test.setBalance({ address: getAddress(address), value: 10n ** 19n })
}

const walletOf = (devnet: Devnet, from: string) =>
  createWalletClient({
    account: getAddress(from),
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })

/**
 * Sends ETH from an impersonated address (see `impersonate`) and waits for its receipt.
 *
 * @example
 * await payNativeFrom(devnet, listed, payment.address, parseEther('0.5'))
 */
export async function payNativeFrom(devnet: Devnet, from: string, to: string, wei: bigint) {
  const hash = await walletOf(devnet, from).sendTransaction({ to: to as Hex, value: wei })
  return devnet.client.waitForTransactionReceipt({ hash })
}

/**
 * Sends the test token from an impersonated address (give it tokens first: `devnet.payToken(from, …)`) and
 * waits for its receipt.
 *
 * @example
 * await payTokenFrom(devnet, listed, payment.address, 25_000_000n)
 */
export async function payTokenFrom(devnet: Devnet, from: string, to: string, units: bigint) {
  const hash = await walletOf(devnet, from).writeContract({
    address: devnet.tokenAddress,
    abi: tokenAbi,
    functionName: 'transfer',
    args: [to as Hex, units],
  })
  return devnet.client.waitForTransactionReceipt({ hash })
}

/** A webhook as it reached the receiver: its parsed body. */
export type ReceivedHook = { type: string; data: { id: string; status?: string }; kyt?: unknown } & Record<
  string,
  unknown
>

/**
 * A webhook receiver on a free local port that answers 200 and keeps every body it gets, parsed.
 *
 * @example
 * const hooks = recordingWebhookReceiver()
 * await waitFor('held', () => hooks.of(paymentId).some((h) => h.type === 'payment.held'))
 */
export function recordingWebhookReceiver() {
  const received: ReceivedHook[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      received.push(JSON.parse(await req.text()))
      return new Response('ok')
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}/hooks`,
    received,
    /** The webhooks about one payment or withdrawal, in arrival order. */
    of: (id: string) => received.filter((h) => h.data?.id === id),
    stop: () => server.stop(true),
  }
}

const allowanceAbi = parseAbi([
  'function approve(address spender, uint256 value) returns (bool)',
  'function transferFrom(address from, address to, uint256 value) returns (bool)',
])

/**
 * Moves test tokens out of `owner` (impersonated) the way an exchange or a payment contract does: the owner
 * approves the devnet's payer, and the payer sends `transferFrom(owner, to, units)`. The transaction's sender is
 * the payer; the Transfer event's `from` is the owner.
 *
 * @example
 * await pullTokenFrom(devnet, listed, payment.address, 10_000_000n)
 */
export async function pullTokenFrom(devnet: Devnet, owner: string, to: string, units: bigint) {
  const approval = await walletOf(devnet, owner).writeContract({
    address: devnet.tokenAddress,
    abi: allowanceAbi,
    functionName: 'approve',
    args: [devnet.payer.address, units],
  })
  await devnet.client.waitForTransactionReceipt({ hash: approval })
  const spender = createWalletClient({
    account: devnet.payer,
    chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
    transport: http(devnet.url),
  })
  const hash = await spender.writeContract({
    address: devnet.tokenAddress,
    abi: allowanceAbi,
    functionName: 'transferFrom',
    args: [getAddress(owner), to as Hex, units],
  })
  return devnet.client.waitForTransactionReceipt({ hash })
}
