import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  type AssetInfo,
  type ChainDriver,
  DriverError,
  type MultisigDriver,
  type MultisigWallet,
  type WalletAddress,
} from '@tollgate/sdk'
import { getAddress, type Hex, parseAbi, parseEther, recoverAddress } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'
import { testConfig } from '../../../test/helpers/app.ts'
import {
  type Devnet,
  devnetDriver,
  gatewayEvmWallet,
  gatewaySigner as signer,
  startDevnet,
} from '../../../test/helpers/chain.ts'
import { deploySafe, ownerKeys, safeState } from '../../../test/helpers/safe.ts'
import { closeChains, loadChains } from '../registry.ts'
import { type SafePayload, safeTxTypes } from './safe.ts'

let devnet: Devnet
let driver: ChainDriver
let multisig: MultisigDriver
let native: AssetInfo
let usdt: AssetInfo
let wallet: MultisigWallet
const owners = ownerKeys(3)
const outsider = ownerKeys(1)[0]!
// the gateway wallet that sends execTransaction (the gas tank in production)
const sender: WalletAddress = gatewayEvmWallet('gas')
const recipient = privateKeyToAccount(`0x${'c1'.repeat(32)}`).address

const getTransactionHash = parseAbi([
  'function getTransactionHash(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, uint256 _nonce) view returns (bytes32)',
])

beforeAll(async () => {
  devnet = await startDevnet()
  driver = devnetDriver(devnet)
  multisig = driver.multisig!
  native = driver.nativeAsset
  usdt = driver.assets.find((a) => a.symbol === 'USDT')!
  const { safe } = await deploySafe(
    devnet,
    owners.map((o) => o.address),
    2,
  )
  // configured in lower case, as an operator may paste them
  wallet = multisig.wallet({
    address: safe.toLowerCase(),
    threshold: 2,
    owners: owners.map((o) => o.address.toLowerCase()),
  })
  await devnet.payNative(safe, parseEther('10'))
  await devnet.payToken(safe, 50_000_000n)
  await devnet.payNative(sender.address, parseEther('1'))
}, 30_000)
afterAll(() => devnet?.stop())

const ownerSign = (i: number, digest: string) =>
  sign({ hash: digest as Hex, privateKey: owners[i]!.key, to: 'hex' })

/** The code an addSignature/propose/finalize refusal carries (undefined when it did not throw). */
async function refusal(run: () => unknown): Promise<DriverError | undefined> {
  try {
    await run()
    return undefined
  } catch (err) {
    if (err instanceof DriverError) return err
    throw err
  }
}

/** Builds the execution's call from the sender, signs and sends it; the receipt. */
async function execute(call: { to: string; data: string; value: bigint }) {
  const payouts = driver.payouts!
  const nonce = BigInt(await devnet.client.getTransactionCount({ address: sender.address as Hex }))
  const built = await payouts.build({ from: sender, asset: native, outputs: [], call, nonce })
  expect(built.amounts).toEqual([])
  const signed = await payouts.sign(built, sender, signer)
  await payouts.broadcast(signed)
  return devnet.client.waitForTransactionReceipt({ hash: signed.hash as Hex })
}

describe('Safe wallets', () => {
  test('default: wallet() checksums the Safe and its owners; bad settings say what is wrong', () => {
    expect(wallet.address).toBe(getAddress(wallet.address))
    expect(wallet.address).not.toBe(wallet.address.toLowerCase())
    expect(wallet.owners).toEqual(owners.map((o) => o.address))
    expect(wallet.threshold).toBe(2)
    const base = { address: wallet.address, owners: owners.map((o) => o.address) }
    expect(() => multisig.wallet({ ...base, threshold: 0 })).toThrow('threshold')
    expect(() => multisig.wallet({ ...base, threshold: 4 })).toThrow('threshold')
    expect(() => multisig.wallet({ ...base, threshold: 1.5 })).toThrow('threshold')
    expect(() => multisig.wallet({ owners: base.owners, threshold: 2 })).toThrow('address')
    expect(() => multisig.wallet({ ...base, address: '0x1234', threshold: 2 })).toThrow('address')
    expect(() => multisig.wallet({ ...base, owners: [], threshold: 1 })).toThrow('owners')
    expect(() => multisig.wallet({ ...base, owners: [base.owners[0]!, 'nope'], threshold: 1 })).toThrow(
      'owners[1]',
    )
    expect(() =>
      multisig.wallet({ ...base, owners: [base.owners[0]!, base.owners[0]!.toLowerCase()], threshold: 1 }),
    ).toThrow('twice')
  })

  test('default: an ETH draft is the Safe’s own SafeTx hash; two owners’ signatures execute it from a gateway wallet', async () => {
    const draft = await multisig.propose({ wallet, to: recipient, asset: native, amount: parseEther('1.5') })
    const p = draft.payload as SafePayload
    expect(p).toMatchObject({
      safe: wallet.address,
      chainId: '31337',
      to: recipient,
      value: parseEther('1.5').toString(),
      data: '0x',
      operation: '0',
      safeTxGas: '0',
      baseGas: '0',
      gasPrice: '0',
      nonce: '0',
      signatures: {},
    })
    // the digest owners sign is the one the Safe contract computes itself
    const onChain = await devnet.client.readContract({
      address: wallet.address as Hex,
      abi: getTransactionHash,
      functionName: 'getTransactionHash',
      args: [recipient, parseEther('1.5'), '0x', 0, 0n, 0n, 0n, p.gasToken, p.refundReceiver, 0n],
    })
    expect(draft.toSign).toBe(onChain)

    // one owner signs as a wallet would (eth_signTypedData): the same bytes as a plain sign of the digest
    const typed = await privateKeyToAccount(owners[2]!.key).signTypedData({
      domain: { chainId: 31337, verifyingContract: wallet.address as Hex },
      types: safeTxTypes,
      primaryType: 'SafeTx',
      message: {
        to: recipient,
        value: parseEther('1.5'),
        data: '0x',
        operation: 0,
        safeTxGas: 0n,
        baseGas: 0n,
        gasPrice: 0n,
        gasToken: p.gasToken,
        refundReceiver: p.refundReceiver,
        nonce: 0n,
      },
    })
    expect(typed).toBe(await ownerSign(2, draft.toSign))
    const one = multisig.addSignature({ wallet, payload: draft.payload, signature: typed })
    expect(one.signers).toEqual([owners[2]!.address])
    // one is not enough
    const early = await refusal(() => multisig.finalize({ wallet, payload: one.payload }))
    expect(early?.code).toBe('NOT_ENOUGH_SIGNATURES')
    // the same owner again adds nobody
    expect(multisig.addSignature({ wallet, payload: one.payload, signature: typed }).signers).toEqual([
      owners[2]!.address,
    ])

    // v as 0/1 (some hardware wallets) is the same signature
    const raw = await ownerSign(0, draft.toSign)
    const v01 = `${raw.slice(0, 130)}${(Number.parseInt(raw.slice(130), 16) - 27).toString(16).padStart(2, '0')}`
    const two = multisig.addSignature({ wallet, payload: one.payload, signature: v01 })
    expect(two.signers).toEqual([owners[0]!.address, owners[2]!.address])
    expect((two.payload as SafePayload).signatures[owners[0]!.address]).toBe(raw)

    const execution = await multisig.finalize({ wallet, payload: two.payload })
    if (!('call' in execution)) throw new Error('a Safe execution is a call')
    expect(execution.call.to).toBe(wallet.address)
    expect(execution.call.value).toBe(0n)
    const before = await devnet.client.getBalance({ address: recipient })
    const safeBefore = await devnet.client.getBalance({ address: wallet.address as Hex })
    const receipt = await execute(execution.call)
    expect(receipt.status).toBe('success')
    expect(await devnet.client.getBalance({ address: recipient })).toBe(before + parseEther('1.5'))
    // the Safe pays the amount and no gas: the sender does
    expect(await devnet.client.getBalance({ address: wallet.address as Hex })).toBe(
      safeBefore - parseEther('1.5'),
    )
    expect((await safeState(devnet, wallet.address as Hex)).nonce).toBe(1n)
    // the proxy's owners are what the wallet says
    expect((await safeState(devnet, wallet.address as Hex)).owners.sort()).toEqual(
      owners.map((o) => o.address).sort(),
    )
  }, 30_000)

  test('default: a USDT draft is an ERC-20 transfer the Safe makes; signatures in any order are sorted by owner', async () => {
    const draft = await multisig.propose({ wallet, to: recipient, asset: usdt, amount: 12_345_678n })
    const p = draft.payload as SafePayload
    expect(p.to).toBe(usdt.contract as Hex)
    expect(p.value).toBe('0')
    expect(p.nonce).toBe('1')
    let payload = draft.payload
    for (const i of [2, 1])
      payload = multisig.addSignature({
        wallet,
        payload,
        signature: await ownerSign(i, draft.toSign),
      }).payload
    const execution = await multisig.finalize({ wallet, payload })
    if (!('call' in execution)) throw new Error('a Safe execution is a call')
    const receipt = await execute(execution.call)
    expect(receipt.status).toBe('success')
    const usdtOf = (a: string) => devnet.tokenBalance(a)
    expect(await usdtOf(recipient)).toBe(12_345_678n)
    expect(await usdtOf(wallet.address)).toBe(50_000_000n - 12_345_678n)
  }, 30_000)

  test('error: a non-owner’s signature, one over another digest, and malformed ones are INVALID_SIGNATURE, not retryable', async () => {
    const draft = await multisig.propose({ wallet, to: recipient, asset: native, amount: 1n })
    const other = await multisig.propose({ wallet, to: recipient, asset: native, amount: 2n })
    const stranger = await sign({ hash: draft.toSign as Hex, privateKey: outsider.key, to: 'hex' })
    const elsewhere = await ownerSign(0, other.toSign)
    const good = await ownerSign(0, draft.toSign)
    const attempts = [
      stranger,
      elsewhere,
      'garbage',
      '0x',
      `${good.slice(0, 128)}`, // 64 bytes
      `${good}00`, // 66 bytes
      `${good.slice(0, 130)}1f`, // v 31: an eth_sign signature, not this one
      `0x${'00'.repeat(64)}1b`, // r = s = 0 recovers no key
      `0x${'zz'.repeat(65)}`,
    ]
    for (const signature of attempts) {
      const err = await refusal(() => multisig.addSignature({ wallet, payload: draft.payload, signature }))
      expect(err?.code).toBe('INVALID_SIGNATURE')
      expect(err?.retryable).toBe(false)
    }
    const byStranger = await refusal(() =>
      multisig.addSignature({ wallet, payload: draft.payload, signature: stranger }),
    )
    expect(byStranger?.message).toContain(outsider.address)
    // the signature recovered says who it is: viem agrees with the driver's recovery
    expect(await recoverAddress({ hash: draft.toSign as Hex, signature: stranger })).toBe(outsider.address)
    // a draft of another Safe is not this wallet's
    const foreign = { ...draft.payload, safe: recipient }
    expect(
      (await refusal(() => multisig.addSignature({ wallet, payload: foreign, signature: good })))?.code,
    ).toBe('INVALID_SIGNATURE')
    // nothing was added to the draft by the refusals
    expect((draft.payload as SafePayload).signatures).toEqual({})
  }, 30_000)

  test('error: a draft whose Safe nonce another execution used can never execute: finalize refuses it for good', async () => {
    const first = await multisig.propose({ wallet, to: recipient, asset: native, amount: 3n })
    const second = await multisig.propose({ wallet, to: recipient, asset: native, amount: 4n })
    expect((first.payload as SafePayload).nonce).toBe((second.payload as SafePayload).nonce)
    const signed = async (d: typeof first) => {
      let payload = d.payload
      for (const i of [0, 1])
        payload = multisig.addSignature({ wallet, payload, signature: await ownerSign(i, d.toSign) }).payload
      return payload
    }
    const [a, b] = [await signed(first), await signed(second)]
    const execution = await multisig.finalize({ wallet, payload: a })
    if (!('call' in execution)) throw new Error('a Safe execution is a call')
    expect((await execute(execution.call)).status).toBe('success')
    const stale = await refusal(() => multisig.finalize({ wallet, payload: b }))
    expect(stale?.code).toBe('SAFE_NONCE_USED')
    expect(stale?.retryable).toBe(false)
  }, 30_000)

  test('error: a Safe that is not the configured one, or short of funds, is refused before any owner signs', async () => {
    const mismatch = multisig.wallet({ address: wallet.address, threshold: 1, owners: wallet.owners })
    const err = await refusal(() =>
      multisig.propose({ wallet: mismatch, to: recipient, asset: native, amount: 1n }),
    )
    expect(err?.code).toBe('MULTISIG_MISMATCH')
    expect(err?.retryable).toBe(false)
    const short = await refusal(() =>
      multisig.propose({ wallet, to: recipient, asset: usdt, amount: 10n ** 12n }),
    )
    expect(short?.code).toBe('INSUFFICIENT_FUNDS')
  }, 30_000)

  test('error: signatures the Safe itself refuses (an owner it does not have) fail finalize for good, before anything is sent', async () => {
    // the configuration lists someone the Safe does not know as an owner: the driver takes the signature, the Safe would not
    const misconfigured = multisig.wallet({
      address: wallet.address,
      threshold: 2,
      owners: [owners[0]!.address, outsider.address, owners[1]!.address],
    })
    const draft = await multisig.propose({ wallet, to: recipient, asset: native, amount: 5n })
    let payload = draft.payload
    payload = multisig.addSignature({
      wallet: misconfigured,
      payload,
      signature: await ownerSign(0, draft.toSign),
    }).payload
    const stranger = await sign({ hash: draft.toSign as Hex, privateKey: outsider.key, to: 'hex' })
    payload = multisig.addSignature({ wallet: misconfigured, payload, signature: stranger }).payload
    const nonceBefore = (await safeState(devnet, wallet.address as Hex)).nonce
    const err = await refusal(() => multisig.finalize({ wallet: misconfigured, payload }))
    expect(err?.code).toBe('SAFE_REVERTS')
    expect(err?.retryable).toBe(false)
    expect((await safeState(devnet, wallet.address as Hex)).nonce).toBe(nonceBefore)
  }, 30_000)

  test('error: a chain configured with a bad Safe cold wallet does not load, and says which setting is wrong', async () => {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} }
    const load = (multisig: { threshold: number; owners: string[] }, address?: string) =>
      loadChains(
        testConfig(
          devnet.url,
          {},
          { cold: { ...(address ? { address } : {}), multisig, float: { ETH: '1' } } },
        ),
        quiet,
      )
    const owners = wallet.owners as string[]
    await expect(load({ threshold: 4, owners }, wallet.address)).rejects.toThrow('cold.multisig: threshold')
    await expect(load({ threshold: 2, owners })).rejects.toThrow('cold.multisig: address')
    await expect(load({ threshold: 2, owners: [owners[0]!, '0xnope'] }, wallet.address)).rejects.toThrow(
      'cold.multisig: owners[1]',
    )
    const chains = await load(
      { threshold: 2, owners: owners.map((o) => o.toLowerCase()) },
      wallet.address.toLowerCase(),
    )
    try {
      expect(chains.get('devnet')?.settings.cold?.multisig).toEqual(wallet)
      expect(chains.get('devnet')?.settings.cold?.address).toBe(wallet.address)
    } finally {
      await closeChains(chains)
    }
  })
})
