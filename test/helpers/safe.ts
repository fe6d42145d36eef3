import factoryArtifact from '@safe-global/safe-contracts/build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json'
import safeArtifact from '@safe-global/safe-contracts/build/artifacts/contracts/Safe.sol/Safe.json'
import {
  type Abi,
  createWalletClient,
  encodeFunctionData,
  type Hex,
  http,
  parseEventLogs,
  zeroAddress,
} from 'viem'
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { testMnemonic } from './app.ts'
import { type Devnet, devnetChain } from './chain.ts'

const safeAbi = safeArtifact.abi as Abi
const factoryAbi = factoryArtifact.abi as Abi

/** Three owner keys of their own (never anvil's, so nothing else signs with them), sorted by nothing in particular. */
export function ownerKeys(n = 3) {
  return Array.from({ length: n }, () => {
    const key = generatePrivateKey()
    return { key, address: privateKeyToAccount(key).address }
  })
}

/**
 * The Safe singleton (Safe 1.4.1, as published in @safe-global/safe-contracts) and its proxy factory deployed on
 * a devnet by anvil's account 9, then a Safe proxy of `owners` with `threshold`, set up as the Safe web app does
 * (no modules, no fallback handler, no payment). Returns the proxy's address.
 *
 * @example
 * const owners = ownerKeys()
 * const safe = await deploySafe(devnet, owners.map((o) => o.address), 2)
 */
export async function deploySafe(devnet: Devnet, owners: readonly Hex[], threshold: number) {
  const chain = { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } }
  const account = mnemonicToAccount(testMnemonic, { addressIndex: 9 })
  const wallet = createWalletClient({ account, chain, transport: http(devnet.url) })
  const deployed = async (hash: Hex) => {
    const receipt = await devnet.client.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') throw new Error(`Safe deployment ${hash} reverted`)
    return receipt
  }
  const singleton = (
    await deployed(await wallet.deployContract({ abi: safeAbi, bytecode: safeArtifact.bytecode as Hex }))
  ).contractAddress as Hex
  const factory = (
    await deployed(
      await wallet.deployContract({ abi: factoryAbi, bytecode: factoryArtifact.bytecode as Hex }),
    )
  ).contractAddress as Hex
  const setup = encodeFunctionData({
    abi: safeAbi,
    functionName: 'setup',
    args: [owners, BigInt(threshold), zeroAddress, '0x', zeroAddress, zeroAddress, 0n, zeroAddress],
  })
  const receipt = await deployed(
    await wallet.writeContract({
      address: factory,
      abi: factoryAbi,
      functionName: 'createProxyWithNonce',
      args: [singleton, setup, 0n],
    }),
  )
  const [created] = parseEventLogs({ abi: factoryAbi, logs: receipt.logs, eventName: 'ProxyCreation' })
  const proxy = (created?.args as { proxy?: Hex } | undefined)?.proxy
  if (!proxy) throw new Error('the Safe proxy factory created no proxy')
  return { safe: proxy, singleton, factory }
}

/** A Safe's owners and threshold as the contract reports them. */
export async function safeState(devnet: Devnet, safe: Hex) {
  const read = (functionName: string) =>
    devnet.client.readContract({ address: safe, abi: safeAbi, functionName }) as Promise<unknown>
  const [owners, threshold, nonce] = await Promise.all([
    read('getOwners'),
    read('getThreshold'),
    read('nonce'),
  ])
  return { owners: owners as Hex[], threshold: threshold as bigint, nonce: nonce as bigint }
}
