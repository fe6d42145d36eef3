import { type Abi, createWalletClient, encodeFunctionData, type Hex, http } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import compiled from '../contracts/ContractWallets.json'
import { type Devnet, devnetChain } from './chain.ts'

const anvilMnemonic = 'test test test test test test test test test test test junk'

/** The test contracts of ContractWallets.sol, as compiled. */
export const walletContracts = compiled.contracts as unknown as Record<
  'Forwarder' | 'OwnedWallet' | 'PaysThenReverts' | 'Departing',
  { abi: Abi; bytecode: Hex }
>

/**
 * Contracts that move ETH by internal transfers on a devnet, deployed and driven by anvil's account `accountIndex`
 * (the wallet's owner): a forwarder to `forwardTo`, a Safe-like wallet funded with `walletFunds`, a contract that
 * pays then reverts, and one holding ETH until it self-destructs.
 *
 * @example
 * const w = await deployContractWallets(devnet, { forwardTo: deposit, walletFunds: 10n ** 18n })
 * await w.payThroughForwarder(5n)
 */
export async function deployContractWallets(
  devnet: Devnet,
  options: { forwardTo: Hex; walletFunds: bigint; accountIndex?: number },
) {
  const owner = mnemonicToAccount(anvilMnemonic, { addressIndex: options.accountIndex ?? 3 })
  const chain = { ...devnetChain, rpcUrls: { default: { http: [devnet.url] } } }
  const wallet = createWalletClient({ account: owner, chain, transport: http(devnet.url) })
  const receiptOf = (hash: Hex) => devnet.client.waitForTransactionReceipt({ hash })
  const deploy = async (name: keyof typeof walletContracts, args: unknown[] = [], value = 0n) => {
    const { abi, bytecode } = walletContracts[name]
    const receipt = await receiptOf(await wallet.deployContract({ abi, bytecode, args, value }))
    if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deploying ${name} failed`)
    return receipt.contractAddress
  }
  const forwarder = await deploy('Forwarder', [options.forwardTo])
  const ownedWallet = await deploy('OwnedWallet', [], options.walletFunds)
  const reverter = await deploy('PaysThenReverts')
  const abiOf = (name: keyof typeof walletContracts) => walletContracts[name].abi

  return {
    owner,
    forwarder,
    ownedWallet,
    reverter,
    /** The owner pays the forwarder, which forwards the value to `forwardTo` in the same call. */
    payThroughForwarder: async (value: bigint) =>
      receiptOf(await wallet.sendTransaction({ to: forwarder, value })),
    /** The Safe-like wallet pays `to` from its own balance: `execute(to, value, 0x)` sent by its owner. */
    executeFromWallet: async (to: Hex, value: bigint, gas?: bigint) =>
      receiptOf(
        await wallet.writeContract({
          address: ownedWallet,
          abi: abiOf('OwnedWallet'),
          functionName: 'execute',
          args: [to, value, '0x'],
          gas,
        }),
      ),
    /**
     * A successful transaction in which the wallet has the reverter pay `to` and then revert: `tryExecute`
     * swallows the failed call, so the payment to `to` is undone while the transaction succeeds.
     */
    paymentUndoneInSuccessfulTx: async (to: Hex, value: bigint) =>
      receiptOf(
        await wallet.writeContract({
          address: ownedWallet,
          abi: abiOf('OwnedWallet'),
          functionName: 'tryExecute',
          args: [reverter, value, payThenRevertData(to)],
          gas: 300_000n,
        }),
      ),
    /** A failed transaction: the owner calls the reverter, which pays `to` and reverts at the top level. */
    paymentInFailedTx: async (to: Hex, value: bigint) =>
      receiptOf(
        await wallet.writeContract({
          address: reverter,
          abi: abiOf('PaysThenReverts'),
          functionName: 'payThenRevert',
          args: [to],
          value,
          gas: 300_000n,
        }),
      ),
    /** Deploys a contract holding `value` and self-destructs it in favour of `beneficiary`. */
    selfDestructTo: async (beneficiary: Hex, value: bigint) => {
      const departing = await deploy('Departing', [], value)
      return receiptOf(
        await wallet.writeContract({
          address: departing,
          abi: abiOf('Departing'),
          functionName: 'depart',
          args: [beneficiary],
        }),
      )
    },
  }
}

const payThenRevertData = (to: Hex): Hex =>
  encodeFunctionData({ abi: walletContracts.PaysThenReverts.abi, functionName: 'payThenRevert', args: [to] })
