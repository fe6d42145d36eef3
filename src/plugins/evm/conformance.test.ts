/**
 * The SDK's conformance suite against the EVM driver on a real anvil (automine off, so a broadcast payout waits
 * in the pool until `mine`, and re-broadcasting the same bytes meets a node that already has them).
 */
import { expect } from 'bun:test'
import { runDriverConformance } from '@tollgate/sdk/conformance'
import { createWalletClient, type Hex, http } from 'viem'
import {
  type Devnet,
  devnetChain,
  freePort,
  gatewayMnemonic,
  startDevnet,
  tokenAbi,
} from '../../../test/helpers/chain.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import definition from './index.ts'

const anvilAccount0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const chain = { id: 31337, name: 'Anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } }

let devnet: Devnet
let deadPort = 0

/** Sends from the devnet's payer, mines one block (automine is off) and returns the transaction hash. */
async function payAndMine(send: () => Promise<Hex>): Promise<string> {
  const hash = await send()
  await devnet.mine(1)
  const receipt = await devnet.client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') expect.unreachable(`funding transaction ${hash} reverted`)
  return hash
}

runDriverConformance(definition, {
  async setup() {
    devnet = await startDevnet()
    await devnet.test.setAutomine(false)
    deadPort = await freePort()
  },
  teardown: () => devnet?.stop(),
  get options() {
    return {
      chain,
      rpcUrls: [devnet.url],
      tokens: [{ symbol: 'USDT', address: devnet.tokenAddress, decimals: 6 }],
      timeoutMs: 2000,
    }
  },
  invalidOptions: [
    {},
    { chain, rpcUrls: [] },
    { chain, rpcUrls: ['ftp://127.0.0.1:8545'] },
    { chain: { ...chain, id: -1 }, rpcUrls: ['http://127.0.0.1:8545'] },
    { chain, rpcUrls: ['http://127.0.0.1:8545'], tokens: [{ symbol: 'X', address: '0x1234', decimals: 6 }] },
    { chain, rpcUrls: ['http://127.0.0.1:8545'], confirmations: 0 },
  ],
  get unreachableOptions() {
    return { chain, rpcUrls: [`http://127.0.0.1:${deadPort}`], timeoutMs: 500 }
  },
  // configured for Ethereum mainnet, pointed at the devnet (chain id 31337)
  get wrongNetworkOptions() {
    return { chain: { ...chain, id: 1 }, rpcUrls: [devnet.url], timeoutMs: 2000 }
  },
  signer: createSigner(gatewayMnemonic),
  validAddresses: [
    anvilAccount0,
    anvilAccount0.toLowerCase(),
    `0x${anvilAccount0.slice(2).toUpperCase()}`,
    `0x${'0'.repeat(40)}`,
  ],
  invalidAddresses: [
    // EIP-55 checksum broken: the first letter's case flipped
    anvilAccount0.replace('f39Fd', 'f39fd'),
    anvilAccount0.slice(2),
    `0X${anvilAccount0.slice(2)}`,
    `${anvilAccount0}00`,
    `0x${'ab'.repeat(32)}`,
    'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
    'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
  ],
  sameAddress: [[anvilAccount0, anvilAccount0.toLowerCase(), `0x${anvilAccount0.slice(2).toUpperCase()}`]],
  async fund(address, asset, amount) {
    const wallet = createWalletClient({
      account: devnet.payer,
      chain: { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } },
      transport: http(devnet.url),
    })
    if (asset.native) return payAndMine(() => wallet.sendTransaction({ to: address as Hex, value: amount }))
    return payAndMine(() =>
      wallet.writeContract({
        address: asset.contract as Hex,
        abi: tokenAbi,
        functionName: 'transfer',
        args: [address as Hex, amount],
      }),
    )
  },
  // fund sends from the devnet's payer (native and token alike)
  get payer() {
    return devnet.payer.address
  },
  async mine(blocks) {
    await devnet.mine(blocks)
  },
  get token() {
    return `eip155:31337/erc20:${devnet.tokenAddress.toLowerCase()}`
  },
  payouts: {},
  timeoutMs: 15_000,
})
