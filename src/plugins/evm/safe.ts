import { secp256k1 } from '@noble/curves/secp256k1.js'
import { validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import {
  type AssetInfo,
  DriverError,
  type MultisigDraft,
  type MultisigDriver,
  type MultisigExecution,
  type MultisigWallet,
} from '@tollgate/sdk'
import {
  BaseError,
  encodeFunctionData,
  getAddress,
  type Hex,
  hashTypedData,
  hexToBytes,
  keccak256,
  type PublicClient,
  parseAbi,
  zeroAddress,
} from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { validateEvmAddress } from './address.ts'
import { isRevert } from './batch.ts'
import { balance, rpcError } from './payouts.ts'

/** The parts of a Safe (1.3.0 and later, as published in @safe-global/safe-contracts) the gateway uses. */
export const safeAbi = parseAbi([
  'function nonce() view returns (uint256)',
  'function getThreshold() view returns (uint256)',
  'function getOwners() view returns (address[])',
  'function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) payable returns (bool success)',
])

const erc20 = parseAbi(['function transfer(address to, uint256 value) returns (bool)'])

/** The Safe's EIP-712 `SafeTx` type: what each owner signs (Safe ≥ 1.3.0: domain {chainId, verifyingContract}). */
export const safeTxTypes = {
  SafeTx: [
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'data', type: 'bytes' },
    { name: 'operation', type: 'uint8' },
    { name: 'safeTxGas', type: 'uint256' },
    { name: 'baseGas', type: 'uint256' },
    { name: 'gasPrice', type: 'uint256' },
    { name: 'gasToken', type: 'address' },
    { name: 'refundReceiver', type: 'address' },
    { name: 'nonce', type: 'uint256' },
  ],
} as const

/**
 * A Safe transaction while owners sign it, as the core stores it (JSON: integers as decimal strings). `signatures`
 * holds each owner's 65-byte signature (v 27/28) by checksummed owner address.
 */
export type SafePayload = {
  safe: Hex
  chainId: string
  to: Hex
  value: string
  data: Hex
  operation: string
  safeTxGas: string
  baseGas: string
  gasPrice: string
  gasToken: Hex
  refundReceiver: Hex
  nonce: string
  signatures: Record<string, Hex>
}

const invalidSignature = (message: string) =>
  new DriverError('INVALID_SIGNATURE', message, { retryable: false })

/**
 * The EIP-712 digest of a Safe transaction (`getTransactionHash` of the Safe contract): what owners sign.
 *
 * @example
 * const digest = safeTxHash(payload) // 0x…32 bytes
 */
export function safeTxHash(p: Omit<SafePayload, 'signatures'>): Hex {
  return hashTypedData({
    domain: { chainId: Number(p.chainId), verifyingContract: p.safe },
    types: safeTxTypes,
    primaryType: 'SafeTx',
    message: {
      to: p.to,
      value: BigInt(p.value),
      data: p.data,
      operation: Number(p.operation),
      safeTxGas: BigInt(p.safeTxGas),
      baseGas: BigInt(p.baseGas),
      gasPrice: BigInt(p.gasPrice),
      gasToken: p.gasToken,
      refundReceiver: p.refundReceiver,
      nonce: BigInt(p.nonce),
    },
  })
}

/** A stored payload read back, every field checked: the core hands it back as JSON. */
function readPayload(raw: Record<string, unknown>): SafePayload {
  const str = (k: string): string => {
    const v = raw[k]
    if (typeof v !== 'string')
      throw new DriverError('BAD_PAYLOAD', `Safe draft: ${k} missing`, { retryable: false })
    return v
  }
  const signatures = raw.signatures
  return {
    safe: str('safe') as Hex,
    chainId: str('chainId'),
    to: str('to') as Hex,
    value: str('value'),
    data: str('data') as Hex,
    operation: str('operation'),
    safeTxGas: str('safeTxGas'),
    baseGas: str('baseGas'),
    gasPrice: str('gasPrice'),
    gasToken: str('gasToken') as Hex,
    refundReceiver: str('refundReceiver') as Hex,
    nonce: str('nonce'),
    signatures:
      typeof signatures === 'object' && signatures !== null ? { ...(signatures as Record<string, Hex>) } : {},
  }
}

/**
 * A 65-byte `r‖s‖v` hex signature as the Safe checks it: v 27 or 28 (0 or 1 is taken as 27 or 28). Anything else
 * (an `eth_sign` signature with v 31/32, a contract signature, the wrong length) is refused.
 */
function normalizeSignature(signature: string): Hex {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature))
    throw invalidSignature('a Safe owner’s signature is 65 bytes of 0x-prefixed hex (r, s, v)')
  let v = Number.parseInt(signature.slice(130), 16)
  if (v === 0 || v === 1) v += 27
  if (v !== 27 && v !== 28)
    throw invalidSignature(`signature v must be 27 or 28 (an EIP-712 signature of the digest), got ${v}`)
  return `${signature.slice(0, 130).toLowerCase()}${v.toString(16)}` as Hex
}

/**
 * Who signed `hash` (synchronously: the core calls addSignature inside its database transaction). The Safe's
 * `ecrecover` takes high-s signatures too, and so does this; a signature that recovers no key is refused.
 */
function recoverSigner(hash: Hex, signature: Hex): Hex {
  try {
    const bytes = hexToBytes(signature)
    const sig = secp256k1.Signature.fromBytes(bytes.subarray(0, 64), 'compact').addRecoveryBit(
      (bytes[64] as number) - 27,
    )
    const key = sig.recoverPublicKey(hexToBytes(hash)).toBytes(false)
    return getAddress(`0x${keccak256(key.subarray(1)).slice(-40)}`)
  } catch (err) {
    throw new DriverError('INVALID_SIGNATURE', 'the signature recovers no key', {
      retryable: false,
      cause: err,
    })
  }
}

/**
 * A chain's Safe wallets: transfers out of a Safe drafted as SafeTx (operation CALL, no refund), signed by owners
 * over its EIP-712 digest, and executed by one of the gateway's wallets sending `execTransaction` with the
 * owners' signatures (the Safe pays no gas; the sender does).
 *
 * @example
 * const multisig = createEvmSafe(client, 31337)
 * const wallet = multisig.wallet({ address: safe, threshold: 2, owners })
 */
export function createEvmSafe(client: PublicClient, chainId: number): MultisigDriver {
  const read = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      throw rpcError(`Safe ${what}`, err)
    }
  }
  const nonceOf = (safe: Hex) =>
    read('nonce()', () => client.readContract({ address: safe, abi: safeAbi, functionName: 'nonce' }))

  function wallet(settings: {
    address?: string
    threshold: number
    owners: readonly string[]
  }): MultisigWallet {
    if (settings.address === undefined) throw new Error('address: the Safe’s address is required')
    const address = validateEvmAddress(settings.address)
    if (!address.ok) throw new Error(`address: ${address.reason}`)
    if (!Array.isArray(settings.owners) || settings.owners.length === 0)
      throw new Error('owners: a list of the Safe owners’ addresses')
    const owners = settings.owners.map((o, i) => {
      const checked =
        typeof o === 'string' ? validateEvmAddress(o) : { ok: false as const, reason: 'not a string' }
      if (!checked.ok) throw new Error(`owners[${i}]: ${checked.reason}`)
      return checked.normalized
    })
    if (new Set(owners).size !== owners.length) throw new Error('owners: an owner is listed twice')
    const { threshold } = settings
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > owners.length)
      throw new Error(`threshold: an integer from 1 to ${owners.length} (the number of owners)`)
    return { address: address.normalized, threshold, owners }
  }

  async function propose(a: {
    wallet: MultisigWallet
    to: string
    asset: AssetInfo
    amount: bigint
  }): Promise<MultisigDraft> {
    const safe = a.wallet.address as Hex
    const [nonce, threshold, owners] = await Promise.all([
      nonceOf(safe),
      read('getThreshold()', () =>
        client.readContract({ address: safe, abi: safeAbi, functionName: 'getThreshold' }),
      ),
      read('getOwners()', () =>
        client.readContract({ address: safe, abi: safeAbi, functionName: 'getOwners' }),
      ),
    ])
    // signatures of the configured owners must be what the Safe itself accepts
    const configured = [...a.wallet.owners].map((o) => o.toLowerCase()).sort()
    const onChain = owners.map((o) => o.toLowerCase()).sort()
    if (Number(threshold) !== a.wallet.threshold || configured.join() !== onChain.join())
      throw new DriverError(
        'MULTISIG_MISMATCH',
        `the Safe at ${safe} is ${threshold}-of-${owners.length} (${owners.join(', ')}), not the configured ${a.wallet.threshold}-of-${a.wallet.owners.length}`,
        { retryable: false },
      )
    if (a.amount <= 0n)
      throw new DriverError('BAD_AMOUNT', 'the amount must be positive', { retryable: false })
    const held = await balance(client, safe, a.asset)
    if (held < a.amount)
      throw new DriverError(
        'INSUFFICIENT_FUNDS',
        `the Safe holds ${held} base units of ${a.asset.symbol}, less than ${a.amount}`,
        { retryable: false },
      )
    const to = getAddress(a.to)
    const payload: SafePayload = {
      safe,
      chainId: String(chainId),
      to: a.asset.native ? to : (getAddress(a.asset.contract as string) as Hex),
      value: (a.asset.native ? a.amount : 0n).toString(),
      data: a.asset.native
        ? '0x'
        : encodeFunctionData({ abi: erc20, functionName: 'transfer', args: [to, a.amount] }),
      operation: '0',
      safeTxGas: '0',
      baseGas: '0',
      gasPrice: '0',
      gasToken: zeroAddress,
      refundReceiver: zeroAddress,
      nonce: nonce.toString(),
      signatures: {},
    }
    return { payload, toSign: safeTxHash(payload) }
  }

  function addSignature(a: { wallet: MultisigWallet; payload: Record<string, unknown>; signature: string }) {
    const payload = readPayload(a.payload)
    if (payload.safe.toLowerCase() !== a.wallet.address.toLowerCase() || payload.chainId !== String(chainId))
      throw invalidSignature('the draft is for another Safe or chain')
    const signature = normalizeSignature(a.signature)
    const digest = safeTxHash(payload)
    const signer = recoverSigner(digest, signature)
    const owner = a.wallet.owners.find((o) => o.toLowerCase() === signer.toLowerCase())
    if (!owner)
      throw invalidSignature(
        `the signature is by ${signer}, not an owner of the Safe (or it signs something other than ${digest})`,
      )
    payload.signatures[owner] = signature
    const signers = a.wallet.owners.filter((o) => payload.signatures[o] !== undefined)
    return { payload: payload as unknown as Record<string, unknown>, signers: [...signers] }
  }

  async function finalize(a: {
    wallet: MultisigWallet
    payload: Record<string, unknown>
  }): Promise<MultisigExecution> {
    const payload = readPayload(a.payload)
    const owners = new Set(a.wallet.owners.map((o) => o.toLowerCase()))
    const signed = Object.entries(payload.signatures)
      .filter(([owner]) => owners.has(owner.toLowerCase()))
      // the Safe checks signatures in ascending order of their owners' addresses
      .sort(([x], [y]) => (BigInt(x) < BigInt(y) ? -1 : 1))
    if (signed.length < a.wallet.threshold)
      throw new DriverError(
        'NOT_ENOUGH_SIGNATURES',
        `${signed.length} of ${a.wallet.threshold} owners signed`,
        { retryable: false },
      )
    const current = await nonceOf(payload.safe)
    if (current > BigInt(payload.nonce))
      throw new DriverError(
        'SAFE_NONCE_USED',
        `the Safe has executed another transaction with nonce ${payload.nonce}; this one can never execute`,
        { retryable: false },
      )
    if (current < BigInt(payload.nonce))
      throw new DriverError(
        'SAFE_NONCE_AHEAD',
        `the Safe is at nonce ${current}: the transactions before ${payload.nonce} must execute first`,
        { retryable: true },
      )
    const signatures = `0x${signed
      .slice(0, a.wallet.threshold)
      .map(([, s]) => s.slice(2))
      .join('')}` as Hex
    const data = encodeFunctionData({
      abi: safeAbi,
      functionName: 'execTransaction',
      args: [
        payload.to,
        BigInt(payload.value),
        payload.data,
        Number(payload.operation),
        BigInt(payload.safeTxGas),
        BigInt(payload.baseGas),
        BigInt(payload.gasPrice),
        payload.gasToken,
        payload.refundReceiver,
        signatures,
      ],
    })
    // run as the chain would: signatures the Safe refuses, a transfer that fails inside it, are refused here for
    // good (the proposal fails with the reason) instead of as a transaction that reverts
    try {
      await client.call({ to: payload.safe, data })
    } catch (err) {
      if (!isRevert(err)) throw rpcError('Safe execTransaction (simulated)', err)
      const why = err instanceof BaseError ? err.shortMessage : 'execution reverted'
      throw new DriverError('SAFE_REVERTS', `the Safe refuses to execute it: ${why}`, {
        retryable: false,
        cause: err,
      })
    }
    return { call: { to: payload.safe, data, value: 0n } }
  }

  return { wallet, propose, addSignature, finalize }
}

/**
 * An owner's signature of a SafeTx digest, as their wallet makes it with `eth_signTypedData` (the digest signed
 * as it is, v 27/28): from a private key, or from a BIP39 mnemonic at a derivation path. What
 * `tollgate multisig sign` prints. Throws an Error saying what is wrong with the input.
 *
 * @example
 * const signature = await signSafeDigest(proposal.toSign, { privateKey: '0x…' })
 */
export async function signSafeDigest(
  digest: string,
  key: { privateKey: string } | { mnemonic: string; path: string },
): Promise<{ signature: Hex; signer: Hex }> {
  if (!/^0x[0-9a-fA-F]{64}$/.test(digest)) throw new Error('the digest is 32 bytes of 0x-prefixed hex')
  let account: { sign(a: { hash: Hex }): Promise<Hex>; address: Hex }
  if ('privateKey' in key) {
    const hex = key.privateKey.startsWith('0x') ? key.privateKey : `0x${key.privateKey}`
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new Error('the key is 32 bytes of hex (a private key)')
    try {
      account = privateKeyToAccount(hex as Hex)
    } catch {
      throw new Error('the key is not a valid secp256k1 private key')
    }
  } else {
    const phrase = key.mnemonic.trim().split(/\s+/).join(' ').normalize('NFKD')
    if (!validateMnemonic(phrase, wordlist)) throw new Error('the mnemonic is not a valid BIP39 mnemonic')
    if (!/^m(\/\d+'?)+$/.test(key.path))
      throw new Error(`the path must look like m/44'/60'/0'/0/0 (got ${key.path})`)
    account = mnemonicToAccount(phrase, { path: key.path as `m/44'/60'/${string}` })
  }
  return { signature: await account.sign({ hash: digest as Hex }), signer: account.address }
}
