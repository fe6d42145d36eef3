import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { base58FromHex41 } from './address.ts'
import {
  type ContractTypeName,
  decodeDelegate,
  decodeRaw,
  decodeTransfer,
  decodeTrigger,
  type RawTransaction,
} from './proto.ts'

/**
 * The state machine behind the stand-in java-tron node: accounts (TRX balance, bandwidth, energy, stake),
 * TRC-20 balances of configured token contracts, blocks and transaction infos. It validates what is broadcast
 * the way java-tron's `Wallet.broadcastTransaction` → `Manager.pushTransaction` does (signature, TAPOS,
 * expiration, duplicates, bandwidth, contract validation), executes accepted transactions at once against the
 * live state (as java-tron does on its pending state) and packs them into the next block on `mine()`.
 *
 * Fee model (mainnet values, configurable): bandwidth 1000 sun/byte, energy 210 sun/unit, 600 free bandwidth
 * per account per day (linear recovery over 24 h of block time), creating an account by a TRX transfer costs
 * 1 TRX plus 0.1 TRX bandwidth (or staked bandwidth) — the `fee: 1100000, receipt.net_fee: 100000` of the
 * recorded activation. A TRC-20 `transfer` costs 29,650 energy to an address holding none of the token and
 * 14,650 otherwise; `fee_limit` caps the energy (staked included), and running out is `OUT_OF_ENERGY`: the
 * transaction is included, failed, its energy burned, nothing transferred.
 */

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
export const unhex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'))
const utf8Hex = (s: string) => Buffer.from(s, 'utf8').toString('hex')

/** keccak256("Transfer(address,address,uint256)") */
export const TRANSFER_TOPIC = 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'
const SELECTOR_TRANSFER = 'a9059cbb'
const SELECTOR_BALANCE_OF = '70a08231'
const SELECTOR_DECIMALS = '313ce567'

export type ChainParams = {
  /** sun per burned bandwidth byte (mainnet 1000). */
  bandwidthPrice: bigint
  /** sun per burned energy unit (mainnet 210 when the fixtures were recorded). */
  energyPrice: bigint
  freeNetLimit: bigint
  /** TRX burned by the actuator when a transfer creates an account. */
  createAccountFee: bigint
  /** bandwidth-part fee of an account-creating transfer without enough staked bandwidth. */
  createAccountNetFee: bigint
  /** Energy units one staked TRX gives (mainnet ≈ 11 at recording time). */
  energyPerTrx: bigint
  /** Bandwidth units one staked TRX gives (mainnet ≈ 1.5; 1 here). */
  netPerTrx: bigint
  blockIntervalMs: number
  witness: string
  /** The most an expiration may lie past the head block's time (java-tron: 24 h). */
  maxExpirationMs: number
}

export const defaultParams: ChainParams = {
  bandwidthPrice: 1000n,
  energyPrice: 210n,
  freeNetLimit: 600n,
  createAccountFee: 1_000_000n,
  createAccountNetFee: 100_000n,
  energyPerTrx: 11n,
  netPerTrx: 1n,
  blockIntervalMs: 3000,
  witness: '41d42e593de3cee8156934cc2182ef4d107e9291f0',
  maxExpirationMs: 24 * 3600 * 1000,
}

const DAY_MS = 86_400_000

export type Account = {
  /** 21-byte hex, `41…` */
  address: string
  balance: bigint
  createTime: number
  freeNetUsed: bigint
  netUsed: bigint
  energyUsed: bigint
  /** block time of the last use, for the 24 h linear recovery */
  lastUse: number
  /** sun staked for each resource (Stake 2.0 frozenV2) */
  frozenEnergy: bigint
  frozenNet: bigint
  /** sun delegated to others / acquired from others */
  delegatedEnergy: bigint
  delegatedNet: bigint
  acquiredEnergy: bigint
  acquiredNet: bigint
  /** units granted outright by the `stake` control on top of the frozen ones */
  grantedEnergy: bigint
  grantedNet: bigint
}

export type Token = {
  address: string
  symbol: string
  name: string
  decimals: number
  balances: Map<string, bigint>
}

export type StoredTx = {
  txID: string
  rawHex: string
  raw: RawTransaction
  signature: string[]
  contractRet: string
  info: Record<string, unknown>
  block?: number
}

export type Block = {
  number: number
  blockID: string
  parentHash: string
  timestamp: number
  txTrieRoot: string
  witnessSignature: string
  txs: StoredTx[]
}

/** A broadcast refusal as java-tron's `GrpcAPI.Return` gives it. */
export class NodeRejection extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** A build-time refusal (`createtransaction` and friends answer `{"Error": "class …Exception : …"}`). */
export class ContractValidateError extends Error {}

function word(n: bigint): string {
  return n.toString(16).padStart(64, '0')
}

export function txIdOf(rawHex: string): string {
  return hex(sha256(unhex(rawHex)))
}

/** Recovers the `41…` address that signed `txID` with a 65-byte r‖s‖v signature (v = 0/1 or 27/28). */
export function recoverSigner(txID: string, signatureHex: string): string | undefined {
  const sig = unhex(signatureHex)
  if (sig.length !== 65) return undefined
  let v = sig[64] as number
  if (v >= 27) v -= 27
  if (v > 3) return undefined
  try {
    const s = secp256k1.Signature.fromBytes(sig.subarray(0, 64), 'compact').addRecoveryBit(v)
    const pub = s.recoverPublicKey(unhex(txID)).toBytes(false)
    return `41${hex(keccak_256(pub.subarray(1)).subarray(12))}`
  } catch {
    return undefined
  }
}

/** Bytes java-tron charges for a transaction: its serialized form without `ret`, plus 64 (MAX_RESULT_SIZE_IN_TX). */
export function transactionBytes(rawHex: string, signatures: string[]): bigint {
  const lenBytes = (n: number) => (n < 128 ? 1 : n < 16384 ? 2 : 3)
  const rawLen = rawHex.length / 2
  let size = 1 + lenBytes(rawLen) + rawLen
  for (const s of signatures) size += 1 + lenBytes(s.length / 2) + s.length / 2
  return BigInt(size + 64)
}

export function createChain(
  params: ChainParams,
  tokens: Array<Omit<Token, 'balances'>>,
  genesisTime: number,
  /** Block 0's id, as the real network answers it (java-tron's genesis is configured, not computed). */
  genesisBlockId?: string,
) {
  const accounts = new Map<string, Account>()
  const tokenMap = new Map<string, Token>(tokens.map((t) => [t.address, { ...t, balances: new Map() }]))
  const blocks: Block[] = []
  const txs = new Map<string, StoredTx>()
  let pending: StoredTx[] = []
  /** Stake 2.0 delegations by `${owner}|${receiver}` (41-hex), sun per resource, as `getdelegatedresourcev2` lists them. */
  const delegations = new Map<string, { energy: bigint; net: bigint }>()

  const head = () => blocks[blocks.length - 1] as Block

  function makeBlock(number: number, parentHash: string, timestamp: number, included: StoredTx[]): Block {
    const txTrieRoot =
      included.length === 0 ? '0'.repeat(64) : hex(sha256(unhex(included.map((t) => t.txID).join(''))))
    const header = `${number}|${parentHash}|${timestamp}|${txTrieRoot}|${params.witness}`
    const digest = hex(sha256(new TextEncoder().encode(header)))
    const blockID = number.toString(16).padStart(16, '0') + digest.slice(16)
    return {
      number,
      blockID,
      parentHash,
      timestamp,
      txTrieRoot,
      witnessSignature: `${hex(sha256(unhex(digest))).repeat(2)}00`,
      txs: included,
    }
  }
  const genesis = makeBlock(0, '0'.repeat(64), genesisTime, [])
  blocks.push(genesisBlockId ? { ...genesis, blockID: genesisBlockId } : genesis)

  function account(address: string): Account | undefined {
    return accounts.get(address)
  }

  function createAccount(address: string, time: number): Account {
    const a: Account = {
      address,
      balance: 0n,
      createTime: time,
      freeNetUsed: 0n,
      netUsed: 0n,
      energyUsed: 0n,
      lastUse: time,
      frozenEnergy: 0n,
      frozenNet: 0n,
      delegatedEnergy: 0n,
      delegatedNet: 0n,
      acquiredEnergy: 0n,
      acquiredNet: 0n,
      grantedEnergy: 0n,
      grantedNet: 0n,
    }
    accounts.set(address, a)
    return a
  }

  /** Linear 24 h recovery of used resources, in block time. */
  function recover(a: Account, now: number) {
    const elapsed = BigInt(Math.max(0, now - a.lastUse))
    const decay = (used: bigint) =>
      elapsed >= DAY_MS ? 0n : (used * (BigInt(DAY_MS) - elapsed)) / BigInt(DAY_MS)
    a.freeNetUsed = decay(a.freeNetUsed)
    a.netUsed = decay(a.netUsed)
    a.energyUsed = decay(a.energyUsed)
    a.lastUse = now
  }

  const energyLimit = (a: Account) =>
    ((a.frozenEnergy - a.delegatedEnergy + a.acquiredEnergy) / 1_000_000n) * params.energyPerTrx +
    a.grantedEnergy
  const netLimit = (a: Account) =>
    ((a.frozenNet - a.delegatedNet + a.acquiredNet) / 1_000_000n) * params.netPerTrx + a.grantedNet

  type NetCharge = { net_usage?: bigint; net_fee?: bigint; actuatorFee: bigint }

  /** Who pays the bandwidth, without charging it (BANDWITH_ERROR when nobody can). */
  function planBandwidth(owner: Account, bytes: bigint, createsAccount: boolean, now: number): NetCharge {
    recover(owner, now)
    const stakedLeft = netLimit(owner) - owner.netUsed
    if (createsAccount) {
      if (stakedLeft >= bytes) return { net_usage: bytes, actuatorFee: params.createAccountFee }
      if (owner.balance < params.createAccountNetFee)
        throw new NodeRejection('BANDWITH_ERROR', 'Account resource insufficient error.')
      return { net_fee: params.createAccountNetFee, actuatorFee: params.createAccountFee }
    }
    if (stakedLeft >= bytes) return { net_usage: bytes, actuatorFee: 0n }
    if (params.freeNetLimit - owner.freeNetUsed >= bytes) return { net_usage: bytes, actuatorFee: 0n }
    const fee = bytes * params.bandwidthPrice
    if (owner.balance < fee) throw new NodeRejection('BANDWITH_ERROR', 'Account resource insufficient error.')
    return { net_fee: fee, actuatorFee: 0n }
  }

  function chargeBandwidth(owner: Account, plan: NetCharge, bytes: bigint) {
    if (plan.net_fee !== undefined) owner.balance -= plan.net_fee
    else if (netLimit(owner) - owner.netUsed >= bytes) owner.netUsed += bytes
    else owner.freeNetUsed += bytes
  }

  /** TAPOS: ref_block_bytes are the low 2 bytes of a recent block's number, ref_block_hash bytes 8..16 of its id. */
  function checkTapos(raw: RawTransaction) {
    const refNum = (raw.refBlockBytes[0] ?? 0) * 256 + (raw.refBlockBytes[1] ?? 0)
    const refHash = hex(raw.refBlockHash)
    const found = blocks
      .slice(-65536)
      .some((b) => (b.number & 0xffff) === refNum && b.blockID.slice(16, 32) === refHash)
    if (!found || raw.refBlockBytes.length !== 2 || raw.refBlockHash.length !== 8)
      throw new NodeRejection('TAPOS_ERROR', 'Tapos check error.')
  }

  function checkExpiration(raw: RawTransaction) {
    const headTime = head().timestamp
    const exp = Number(raw.expiration)
    if (exp <= headTime || exp > headTime + params.maxExpirationMs)
      throw new NodeRejection('TRANSACTION_EXPIRATION_ERROR', 'Transaction expired')
  }

  const contractError = (msg: string) =>
    new NodeRejection('CONTRACT_VALIDATE_ERROR', `Contract validate error : ${msg}`)

  function baseInfo(txID: string): Record<string, unknown> {
    return { id: txID }
  }

  /** Validates and executes a signed transaction; returns its txID. Throws `NodeRejection`. */
  function broadcast(rawHex: string, sigs: string[], claimedTxId?: string): string {
    const signatures = sigs.map((s) => s.replace(/^0x/, '').toLowerCase())
    const txID = txIdOf(rawHex)
    let raw: RawTransaction
    try {
      raw = decodeRaw(unhex(rawHex))
    } catch (err) {
      throw new NodeRejection('OTHER_ERROR', `Error: ${(err as Error).message}`)
    }
    const ownerHex = ownerOf(raw)
    // java-tron recomputes the id from raw_data; a signature over any other id cannot recover to the owner
    if (signatures.length === 0)
      throw new NodeRejection('SIGERROR', 'Validate signature error: miss sig or contract')
    for (const sig of signatures) {
      // a txID that is not sha256(raw_data) is refused like a signature over the wrong hash
      const signer = recoverSigner(claimedTxId ?? txID, sig)
      if (!signer || signer !== ownerHex || (claimedTxId !== undefined && claimedTxId !== txID))
        throw new NodeRejection(
          'SIGERROR',
          `Validate signature error: ${sig} is signed by ${signer ? base58FromHex41(signer) : 'nobody'} but it is not contained of permission.`,
        )
    }
    checkTapos(raw)
    checkExpiration(raw)
    if (txs.has(txID)) throw new NodeRejection('DUP_TRANSACTION_ERROR', 'Dup transaction.')
    const stored = execute(txID, rawHex, raw, signatures)
    txs.set(txID, stored)
    pending.push(stored)
    return txID
  }

  function ownerOf(raw: RawTransaction): string {
    const v = raw.contract.value
    switch (raw.contract.type) {
      case 'TransferContract':
        return hex(decodeTransfer(v).owner)
      case 'TriggerSmartContract':
        return hex(decodeTrigger(v).owner)
      case 'DelegateResourceContract':
      case 'UnDelegateResourceContract':
        return hex(decodeDelegate(v).owner)
      default:
        throw new NodeRejection(
          'CONTRACT_VALIDATE_ERROR',
          `Contract validate error : contract type ${raw.contract.type} is not supported by this node`,
        )
    }
  }

  function execute(txID: string, rawHex: string, raw: RawTransaction, signatures: string[]): StoredTx {
    const now = head().timestamp + params.blockIntervalMs
    const bytes = transactionBytes(rawHex, signatures)
    const type = raw.contract.type as ContractTypeName
    const info = baseInfo(txID)
    const done = (contractRet: string): StoredTx => ({
      txID,
      rawHex,
      raw,
      signature: signatures,
      contractRet,
      info,
    })

    if (type === 'TransferContract') {
      const t = decodeTransfer(raw.contract.value)
      const owner = account(hex(t.owner))
      if (!owner) throw contractError('Validate TransferContract error, no OwnerAccount.')
      if (t.amount <= 0n) throw contractError('Amount must be greater than 0.')
      if (hex(t.owner) === hex(t.to)) throw contractError('Cannot transfer TRX to yourself.')
      const to = account(hex(t.to))
      const plan = planBandwidth(owner, bytes, !to, now)
      if (owner.balance < t.amount + plan.actuatorFee + (plan.net_fee ?? 0n))
        throw contractError('Validate TransferContract error, balance is not sufficient.')
      chargeBandwidth(owner, plan, bytes)
      owner.balance -= t.amount + plan.actuatorFee
      ;(to ?? createAccount(hex(t.to), now)).balance += t.amount
      const fee = plan.actuatorFee + (plan.net_fee ?? 0n)
      if (fee > 0n) info.fee = fee
      info.contractResult = ['']
      info.receipt = plan.net_fee !== undefined ? { net_fee: plan.net_fee } : { net_usage: plan.net_usage }
      return done('SUCCESS')
    }

    if (type === 'DelegateResourceContract' || type === 'UnDelegateResourceContract') {
      const d = decodeDelegate(raw.contract.value)
      const owner = account(hex(d.owner))
      if (!owner) throw contractError('Account does not exist')
      const receiver = account(hex(d.receiver))
      if (!receiver) throw contractError(`Account[${hex(d.receiver)}] not exists`)
      if (d.balance < 1_000_000n)
        throw contractError('delegateBalance must be greater than or equal to 1 TRX')
      const energy = d.resource === 1
      const plan = planBandwidth(owner, bytes, false, now)
      const pairKey = `${hex(d.owner)}|${hex(d.receiver)}`
      const pair = delegations.get(pairKey) ?? { energy: 0n, net: 0n }
      if (type === 'DelegateResourceContract') {
        const available = energy
          ? owner.frozenEnergy - owner.delegatedEnergy
          : owner.frozenNet - owner.delegatedNet
        if (d.balance > available)
          throw contractError(`delegateBalance must be less than or equal to available FreezeV2 balance`)
        chargeBandwidth(owner, plan, bytes)
        if (energy) {
          owner.delegatedEnergy += d.balance
          receiver.acquiredEnergy += d.balance
          pair.energy += d.balance
        } else {
          owner.delegatedNet += d.balance
          receiver.acquiredNet += d.balance
          pair.net += d.balance
        }
        delegations.set(pairKey, pair)
      } else {
        // java-tron takes back only what this owner delegated to this receiver
        const delegated = energy ? pair.energy : pair.net
        if (d.balance > delegated) throw contractError('insufficient delegatedFrozenBalance')
        if (energy) pair.energy -= d.balance
        else pair.net -= d.balance
        if (pair.energy === 0n && pair.net === 0n) delegations.delete(pairKey)
        else delegations.set(pairKey, pair)
        chargeBandwidth(owner, plan, bytes)
        if (energy) {
          owner.delegatedEnergy -= d.balance
          receiver.acquiredEnergy -= d.balance
        } else {
          owner.delegatedNet -= d.balance
          receiver.acquiredNet -= d.balance
        }
      }
      if (plan.net_fee) info.fee = plan.net_fee
      info.contractResult = ['']
      info.receipt = plan.net_fee !== undefined ? { net_fee: plan.net_fee } : { net_usage: plan.net_usage }
      return done('SUCCESS')
    }

    // TriggerSmartContract
    const c = decodeTrigger(raw.contract.value)
    const owner = account(hex(c.owner))
    if (!owner) throw contractError('Validate InternalTransfer error, no OwnerAccount.')
    const token = tokenMap.get(hex(c.contract))
    if (!token) throw contractError('No contract or not a smart contract')
    if (raw.feeLimit < 0n || raw.feeLimit > 15_000_000_000n)
      throw contractError('feeLimit must be >= 0 and <= 15000000000')
    const plan = planBandwidth(owner, bytes, false, now)
    chargeBandwidth(owner, plan, bytes)
    const call = runToken(token, hex(c.owner), hex(c.data), false)
    // energy: staked first, then burned TRX; fee_limit caps the total
    recover(owner, now)
    const stakedLeft = energyLimit(owner) - owner.energyUsed > 0n ? energyLimit(owner) - owner.energyUsed : 0n
    const limit = min(stakedLeft + owner.balance / params.energyPrice, raw.feeLimit / params.energyPrice)
    const outOfEnergy = call.energy > limit
    const used = outOfEnergy ? limit : call.energy
    const fromStake = min(stakedLeft, used)
    const energyFee = (used - fromStake) * params.energyPrice
    owner.energyUsed += fromStake
    owner.balance -= energyFee
    const result = outOfEnergy ? 'OUT_OF_ENERGY' : call.ok ? 'SUCCESS' : 'REVERT'
    if (result === 'SUCCESS') call.commit()
    const fee = energyFee + (plan.net_fee ?? 0n)
    if (fee > 0n) info.fee = fee
    info.contractResult = [result === 'SUCCESS' ? call.output : result === 'REVERT' ? call.output : '']
    info.contract_address = hex(c.contract)
    const receipt: Record<string, unknown> = {}
    if (fromStake > 0n) receipt.energy_usage = fromStake
    if (energyFee > 0n) receipt.energy_fee = energyFee
    receipt.energy_usage_total = used
    if (plan.net_fee !== undefined) receipt.net_fee = plan.net_fee
    else receipt.net_usage = plan.net_usage
    receipt.result = result
    info.receipt = receipt
    if (result === 'SUCCESS' && call.logs.length) info.log = call.logs
    if (result !== 'SUCCESS') {
      info.result = 'FAILED'
      info.resMessage = utf8Hex(
        outOfEnergy
          ? `Not enough energy for 'SSTORE' operation executing: curInvokeEnergyLimit[${limit}], curOpEnergy[20000], usedEnergy[${used}]`
          : 'REVERT opcode executed',
      )
    }
    return done(result)
  }

  /** Runs a call against a TRC-20 contract: `transfer`, `balanceOf`, `decimals`; anything else reverts. */
  function runToken(token: Token, caller: string, data: string, constant: boolean) {
    const selector = data.slice(0, 8)
    const args = data.slice(8)
    const noop = () => {}
    const revert = { ok: false, energy: 400n, output: '', logs: [] as unknown[], commit: noop }
    if (selector === SELECTOR_BALANCE_OF && args.length >= 64) {
      const who = `41${args.slice(24, 64)}`
      return { ok: true, energy: 535n, output: word(token.balances.get(who) ?? 0n), logs: [], commit: noop }
    }
    if (selector === SELECTOR_DECIMALS)
      return { ok: true, energy: 253n, output: word(BigInt(token.decimals)), logs: [], commit: noop }
    if (selector !== SELECTOR_TRANSFER || args.length < 128) return revert
    const to = `41${args.slice(24, 64)}`
    const amount = BigInt(`0x${args.slice(64, 128)}`)
    const have = token.balances.get(caller) ?? 0n
    if (have < amount) return { ...revert, energy: 2_300n }
    const fresh = (token.balances.get(to) ?? 0n) === 0n && to !== caller
    return {
      ok: true,
      energy: fresh ? 29_650n : 14_650n,
      output: word(1n),
      logs: [
        {
          address: token.address.slice(2),
          topics: [TRANSFER_TOPIC, word(BigInt(`0x${caller.slice(2)}`)), word(BigInt(`0x${to.slice(2)}`))],
          data: word(amount),
        },
      ],
      commit: constant
        ? noop
        : () => {
            token.balances.set(caller, have - amount)
            token.balances.set(to, (token.balances.get(to) ?? 0n) + amount)
          },
    }
  }

  /** Packs the pending transactions into a new block (the first of `n`); returns the new head. */
  function mine(n = 1): Block {
    for (let i = 0; i < n; i++) {
      const parent = head()
      const included = pending
      pending = []
      const block = makeBlock(
        parent.number + 1,
        parent.blockID,
        parent.timestamp + params.blockIntervalMs,
        included,
      )
      for (const tx of included) {
        tx.block = block.number
        tx.info.blockNumber = block.number
        tx.info.blockTimeStamp = block.timestamp
      }
      blocks.push(block)
    }
    return head()
  }

  function fund(address: string, sun: bigint) {
    const a = account(address) ?? createAccount(address, head().timestamp)
    a.balance += sun
  }

  function mint(tokenAddress: string, to: string, amount: bigint) {
    const t = tokenMap.get(tokenAddress)
    if (!t) throw new Error(`no token ${tokenAddress}`)
    t.balances.set(to, (t.balances.get(to) ?? 0n) + amount)
  }

  return {
    params,
    blocks,
    txs,
    tokens: tokenMap,
    accounts,
    delegations,
    head,
    account,
    createAccount,
    energyLimit,
    netLimit,
    recover,
    broadcast,
    mine,
    fund,
    mint,
    runToken,
    pending: () => pending,
  }
}

const min = (a: bigint, b: bigint) => (a < b ? a : b)

export type Chain = ReturnType<typeof createChain>
