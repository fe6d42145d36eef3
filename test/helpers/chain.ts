import { createServer } from 'node:net'
import type { ChainDriver, WalletAddress } from '@tollgate/sdk'
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  parseAbi,
  publicActions,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import token from '../../contracts/TestToken.json'
import { createSigner } from '../../src/core/payouts/signer.ts'
import { roleAccountPath, type WalletRole } from '../../src/core/payouts/wallet-roles.ts'
import { type Anvil, startAnvil } from '../../src/devnet.ts'
import { deriveEvmAddress } from '../../src/plugins/evm/derive.ts'
import { createEvmDriver } from '../../src/plugins/evm/index.ts'
import { evmOptionsSchema } from '../../src/plugins/evm/options.ts'

export const devnetChain = defineChain({
  id: 31337,
  name: 'Anvil',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: ['http://127.0.0.1:8545'] } },
})

/** The gateway's seed in chain tests: not anvil's, so deposit addresses start empty. */
export const gatewayMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const anvilMnemonic = 'test test test test test test test test test test test junk'

/** The signer of gatewayMnemonic: what the gateway's signer holds in chain tests. */
export const gatewaySigner = createSigner(gatewayMnemonic)

/**
 * A gateway wallet on an EVM chain (treasury at m/44'/60'/1'/0/0, gas tank at m/44'/60'/2'/0/0), derived from
 * gatewayMnemonic as the gateway derives it.
 */
export function gatewayEvmWallet(role: WalletRole): WalletAddress {
  const accountPath = roleAccountPath("m/44'/60'/0'", role)
  return deriveEvmAddress(gatewaySigner.xpub(accountPath), accountPath, 0)
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

export const tokenAbi = parseAbi([
  'function mint(address to, uint256 value)',
  'function transfer(address to, uint256 value) returns (bool)',
  'function transferThenRevert(address to, uint256 value)',
  'function balanceOf(address) view returns (uint256)',
])

/**
 * A real anvil devnet with a funded payer (anvil's account 1) and helpers to pay, mine and reorganize.
 * The test token is deployed first by account 0, so it lands at 0x5FbDB2315678afecb367f032d93F642f64180aa3.
 */
export async function startDevnet(options: { blockTime?: number; chainId?: number } = {}) {
  const anvil: Anvil = await startAnvil({
    port: await freePort(),
    blockTime: options.blockTime,
    args: options.chainId ? ['--chain-id', String(options.chainId)] : [],
  })
  const chain = {
    ...devnetChain,
    id: options.chainId ?? devnetChain.id,
    rpcUrls: { default: { http: [anvil.url] } },
  }
  const deployer = mnemonicToAccount(anvilMnemonic, { addressIndex: 0 })
  const payer = mnemonicToAccount(anvilMnemonic, { addressIndex: 1 })
  const test = createTestClient({ mode: 'anvil', chain, transport: http(anvil.url) }).extend(publicActions)
  const wallet = (account = payer) => createWalletClient({ account, chain, transport: http(anvil.url) })
  const pub = createPublicClient({ chain, transport: http(anvil.url), pollingInterval: 50 })

  const deployHash = await wallet(deployer).deployContract({
    abi: [
      {
        type: 'constructor',
        inputs: [{ type: 'string' }, { type: 'string' }, { type: 'uint8' }],
        stateMutability: 'nonpayable',
      },
    ],
    bytecode: token.bytecode as Hex,
    args: ['Test USD', 'USDT', 6],
  })
  const receipt = await pub.waitForTransactionReceipt({ hash: deployHash })
  const tokenAddress = receipt.contractAddress as Hex
  await wallet(deployer).writeContract({
    address: tokenAddress,
    abi: tokenAbi,
    functionName: 'mint',
    args: [payer.address, 10n ** 15n],
  })

  return {
    anvil,
    url: anvil.url,
    tokenAddress,
    payer,
    client: pub,
    test,
    async payNative(to: string, wei: bigint) {
      const hash = await wallet().sendTransaction({ to: to as Hex, value: wei })
      return pub.waitForTransactionReceipt({ hash })
    },
    async payToken(to: string, units: bigint) {
      const hash = await wallet().writeContract({
        address: tokenAddress,
        abi: tokenAbi,
        functionName: 'transfer',
        args: [to as Hex, units],
      })
      return pub.waitForTransactionReceipt({ hash })
    },
    /** What `address` holds of the test token (USDT, 6 decimals). */
    tokenBalance: (address: string) =>
      pub.readContract({
        address: tokenAddress,
        abi: tokenAbi,
        functionName: 'balanceOf',
        args: [address as Hex],
      }),
    /** What `owner` allows `spender` to move of the test token. */
    tokenAllowance: (owner: string, spender: string) =>
      pub.readContract({
        address: tokenAddress,
        abi: parseAbi(['function allowance(address, address) view returns (uint256)']),
        functionName: 'allowance',
        args: [owner as Hex, spender as Hex],
      }),
    /** A token transfer inside a transaction that reverts (its Transfer event is rolled back with it). */
    async payTokenReverting(to: string, units: bigint) {
      const hash = await wallet().writeContract({
        address: tokenAddress,
        abi: tokenAbi,
        functionName: 'transferThenRevert',
        args: [to as Hex, units],
        gas: 200_000n,
      })
      return pub.waitForTransactionReceipt({ hash })
    },
    /** Signs a native payment offline; the raw bytes can be broadcast, or replayed into a reorg. */
    async signNative(to: string, wei: bigint): Promise<Hex> {
      const request = await wallet().prepareTransactionRequest({ to: to as Hex, value: wei })
      return wallet().signTransaction(request)
    },
    async broadcast(raw: Hex) {
      const hash = await wallet().sendRawTransaction({ serializedTransaction: raw })
      return pub.waitForTransactionReceipt({ hash })
    },
    /** Replaces the last `depth` blocks; `include` raw transactions go into the first new block. */
    reorgWith: (depth: number, include: Hex[]) =>
      test.request({
        method: 'anvil_reorg' as never,
        params: [depth, include.map((raw) => [raw, 0])] as never,
      }),
    mine: (blocks = 1) => test.mine({ blocks }),
    height: () => pub.getBlockNumber({ cacheTime: 0 }),
    /** Replaces the last `depth` blocks with empty ones (anvil_reorg). */
    reorg: (depth: number) => test.request({ method: 'anvil_reorg' as never, params: [depth, []] as never }),
    stop: () => anvil.stop(),
  }
}
export type Devnet = Awaited<ReturnType<typeof startDevnet>>

/**
 * The EVM driver on a devnet (its test token configured as USDT), through `url` (a proxy in front of the devnet,
 * say) with `extra` options on top.
 */
export function devnetDriver(
  devnet: Devnet,
  url = devnet.url,
  extra: Record<string, unknown> = {},
): ChainDriver {
  return createEvmDriver(
    evmOptionsSchema.parse({
      chain: { ...devnetChain, id: devnetChain.id },
      rpcUrls: [url],
      tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
      timeoutMs: 2000,
      ...extra,
    }),
    { chain: 'devnet', log: { debug() {}, info() {}, warn() {}, error() {} } },
  )
}
