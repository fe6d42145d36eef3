import { keccak_256 } from '@noble/hashes/sha3.js'
import { base58FromHex41, hex41FromBase58 } from './address.ts'
import {
  type Block,
  type Chain,
  type ChainParams,
  ContractValidateError,
  createChain,
  defaultParams,
  hex,
  NodeRejection,
  type StoredTx,
  txIdOf,
  unhex,
} from './chain.ts'
import {
  type ContractTypeName,
  decodeDelegate,
  decodeTransaction,
  decodeTransfer,
  decodeTrigger,
  encodeDelegate,
  encodeRaw,
  encodeTransfer,
  encodeTrigger,
  type RawTransaction,
} from './proto.ts'

/** The real mainnet USDT (TRC-20) contract. */
export const USDT_MAINNET = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'

export type TronNodeOptions = {
  /** TRC-20 contracts the node knows (base58); default: USDT at its mainnet address, 6 decimals. */
  tokens?: Array<{ address: string; symbol: string; name?: string; decimals: number }>
  /** Blocks the solidity node lags behind the head (java-tron: 19 = 2/3 of 27 SRs + 1). */
  solidityLag?: number
  /** Mine a block every `blockIntervalMs` of wall time; off by default (tests call `mine`). */
  autoMine?: boolean
  /** Blocks to produce at start (so TAPOS and the solidity view have history). Default 30. */
  initialBlocks?: number
  params?: Partial<ChainParams>
  /**
   * Which network's genesis block id block 0 carries (default mainnet's, as a real mainnet node answers it), or
   * any other 64-hex id (a private network).
   */
  genesis?: 'mainnet' | 'shasta' | 'nile' | string
}

/** The real genesis block ids (block 0) of the public Tron networks. */
export const tronGenesisBlockIds = {
  mainnet: '00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc',
  shasta: '0000000000000000de1aa88295e1fcf982742f773e0419c5a9c134c994a9059e',
  nile: '0000000000000000d698d4192c56cb6be724a558448e2684802de4d6cd8690dc',
} as const

export type TronNode = {
  url: string
  chain: Chain
  /** Produces `n` blocks (pending transactions go into the first); returns the new head number. */
  mine(n?: number): number
  /** Credits TRX (sun) to an address (base58 or hex), creating the account. */
  fund(address: string, sun: bigint): void
  /** Credits TRC-20 base units of `token` (base58) to `to`. */
  mint(token: string, to: string, amount: bigint): void
  /** Grants resource units outright (as if staked): `energy` and `bandwidth` are units, not sun. */
  stake(
    address: string,
    r: { energy?: bigint; bandwidth?: bigint; frozenEnergySun?: bigint; frozenBandwidthSun?: bigint },
  ): void
  setSolidityLag(blocks: number): void
  /** Every request whose path starts with `pathPrefix` (or `*`) waits `ms` before being answered; 0 clears. */
  setDelay(pathPrefix: string, ms: number): void
  /** Every request whose path starts with `pathPrefix` (or `*`) gets HTTP `status`; undefined clears. */
  setFailure(pathPrefix: string, status: number | undefined): void
  /** Paths asked so far, in order (for failover assertions). */
  requests: string[]
  head(): number
  stop(): Promise<void>
}

const toHex41 = (address: string): string => {
  if (/^(0x)?41[0-9a-fA-F]{40}$/.test(address)) return address.replace(/^0x/, '').toLowerCase()
  const hex41 = hex41FromBase58(address)
  if (!hex41) throw new ContractValidateError(`Invalid address: ${address}`)
  return hex41
}
const showAddress = (hex41: string, visible: boolean) => (visible ? base58FromHex41(hex41) : hex41)
const num = (v: bigint | number) => Number(v)

/**
 * Starts the stand-in java-tron HTTP node on a random port.
 *
 * @example
 * const node = await startTronNode()
 * node.fund('TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH', 100_000_000n)
 * node.mine()
 */
export async function startTronNode(options: TronNodeOptions = {}): Promise<TronNode> {
  const params = { ...defaultParams, ...options.params }
  const tokens = (
    options.tokens ?? [{ address: USDT_MAINNET, symbol: 'USDT', name: 'Tether USD', decimals: 6 }]
  ).map((t) => ({
    address: toHex41(t.address),
    symbol: t.symbol,
    name: t.name ?? t.symbol,
    decimals: t.decimals,
  }))
  const initial = options.initialBlocks ?? 30
  const genesisTime =
    Math.floor(Date.now() / params.blockIntervalMs) * params.blockIntervalMs -
    initial * params.blockIntervalMs
  const genesis = options.genesis ?? 'mainnet'
  const genesisBlockId = tronGenesisBlockIds[genesis as keyof typeof tronGenesisBlockIds] ?? genesis
  const chain = createChain(params, tokens, genesisTime, genesisBlockId)
  chain.mine(initial)
  let solidityLag = options.solidityLag ?? 19
  const delays = new Map<string, number>()
  const failures = new Map<string, number>()
  const requests: string[] = []
  let lastTimestamp = 0

  const matching = (m: Map<string, number>, path: string) => {
    for (const [prefix, v] of m) if (prefix === '*' || path.startsWith(prefix)) return v
    return undefined
  }
  const solidHead = () => Math.max(0, chain.head().number - solidityLag)

  function rawJson(raw: RawTransaction, visible: boolean): Record<string, unknown> {
    const type = raw.contract.type as ContractTypeName
    let value: Record<string, unknown>
    if (type === 'TransferContract') {
      const t = decodeTransfer(raw.contract.value)
      value = {
        amount: num(t.amount),
        owner_address: showAddress(hex(t.owner), visible),
        to_address: showAddress(hex(t.to), visible),
      }
    } else if (type === 'TriggerSmartContract') {
      const c = decodeTrigger(raw.contract.value)
      value = {
        data: hex(c.data),
        owner_address: showAddress(hex(c.owner), visible),
        contract_address: showAddress(hex(c.contract), visible),
        ...(c.callValue ? { call_value: num(c.callValue) } : {}),
      }
    } else {
      const d = decodeDelegate(raw.contract.value)
      value = {
        balance: num(d.balance),
        ...(d.resource === 1 ? { resource: 'ENERGY' } : {}),
        receiver_address: showAddress(hex(d.receiver), visible),
        owner_address: showAddress(hex(d.owner), visible),
        ...(d.lock ? { lock: true } : {}),
      }
    }
    return {
      ...(raw.data ? { data: hex(raw.data) } : {}),
      contract: [
        {
          parameter: { value, type_url: raw.contract.typeUrl },
          type,
          ...(raw.contract.permissionId ? { Permission_id: raw.contract.permissionId } : {}),
        },
      ],
      ref_block_bytes: hex(raw.refBlockBytes),
      ref_block_hash: hex(raw.refBlockHash),
      expiration: num(raw.expiration),
      ...(raw.feeLimit ? { fee_limit: num(raw.feeLimit) } : {}),
      timestamp: num(raw.timestamp),
    }
  }

  function txJson(tx: StoredTx, visible: boolean) {
    return {
      ret: [{ contractRet: tx.contractRet }],
      signature: tx.signature,
      txID: tx.txID,
      raw_data: rawJson(tx.raw, visible),
      raw_data_hex: tx.rawHex,
    }
  }

  function blockJson(b: Block, visible: boolean, detail = true) {
    return {
      blockID: b.blockID,
      block_header: {
        raw_data: {
          number: b.number,
          txTrieRoot: b.txTrieRoot,
          witness_address: showAddress(chain.params.witness, visible),
          parentHash: b.parentHash,
          version: 31,
          timestamp: b.timestamp,
        },
        witness_signature: b.witnessSignature,
      },
      ...(detail && b.txs.length ? { transactions: b.txs.map((t) => txJson(t, visible)) } : {}),
    }
  }

  const infoJson = (tx: StoredTx) => jsonSafe(tx.info)

  /** An unsigned transaction as the node hands it out: ref block = head, expiration = head time + 60 s. */
  function unsigned(
    type: ContractTypeName,
    value: Uint8Array,
    visible: boolean,
    extra: { feeLimit?: bigint; data?: string } = {},
  ) {
    const h = chain.head()
    lastTimestamp = Math.max(lastTimestamp + 1, Date.now())
    const raw: RawTransaction = {
      refBlockBytes: unhex((h.number & 0xffff).toString(16).padStart(4, '0')),
      refBlockHash: unhex(h.blockID.slice(16, 32)),
      expiration: BigInt(h.timestamp + 60_000),
      ...(extra.data ? { data: unhex(extra.data) } : {}),
      timestamp: BigInt(lastTimestamp),
      feeLimit: extra.feeLimit ?? 0n,
      contract: { type, typeUrl: `type.googleapis.com/protocol.${type}`, value, permissionId: 0 },
    }
    const rawHex = hex(encodeRaw(raw))
    return { visible, txID: txIdOf(rawHex), raw_data: rawJson(raw, visible), raw_data_hex: rawHex }
  }

  const message = (text: string, visible: boolean) => (visible ? text : Buffer.from(text).toString('hex'))

  function accountJson(address: string, visible: boolean) {
    const a = chain.account(address)
    if (!a) return {}
    chain.recover(a, chain.head().timestamp)
    const frozenV2 = [
      ...(a.frozenNet ? [{ amount: num(a.frozenNet) }] : [{}]),
      { type: 'ENERGY', ...(a.frozenEnergy ? { amount: num(a.frozenEnergy) } : {}) },
      { type: 'TRON_POWER' },
    ]
    return {
      address: showAddress(a.address, visible),
      ...(a.balance ? { balance: num(a.balance) } : {}),
      create_time: a.createTime,
      ...(a.freeNetUsed ? { free_net_usage: num(a.freeNetUsed) } : {}),
      ...(a.netUsed ? { net_usage: num(a.netUsed) } : {}),
      latest_consume_free_time: a.lastUse,
      net_window_size: 28800,
      net_window_optimized: true,
      account_resource: {
        ...(a.energyUsed ? { energy_usage: num(a.energyUsed) } : {}),
        latest_consume_time_for_energy: a.lastUse,
        energy_window_size: 28800,
        energy_window_optimized: true,
        ...(a.delegatedEnergy ? { delegated_frozenV2_balance_for_energy: num(a.delegatedEnergy) } : {}),
        ...(a.acquiredEnergy
          ? { acquired_delegated_frozenV2_balance_for_energy: num(a.acquiredEnergy) }
          : {}),
      },
      ...(a.delegatedNet ? { delegated_frozenV2_balance_for_bandwidth: num(a.delegatedNet) } : {}),
      ...(a.acquiredNet ? { acquired_delegated_frozenV2_balance_for_bandwidth: num(a.acquiredNet) } : {}),
      frozenV2,
    }
  }

  function resourceJson(address: string) {
    const a = chain.account(address)
    // mainnet limits; the weights (staked TRX network-wide) chosen so that java-tron's per-account formula
    // floor(stakedTrx × TotalLimit / TotalWeight) gives the stand-in's energyPerTrx / netPerTrx
    const total = {
      TotalNetLimit: 43_200_000_000,
      TotalNetWeight: Math.floor(43_200_000_000 / num(chain.params.netPerTrx)),
      TotalEnergyLimit: 180_000_000_000,
      TotalEnergyWeight: Math.floor(180_000_000_000 / num(chain.params.energyPerTrx)),
    }
    if (!a) return { freeNetLimit: num(chain.params.freeNetLimit), ...total }
    chain.recover(a, chain.head().timestamp)
    const netLimit = chain.netLimit(a)
    const energyLimit = chain.energyLimit(a)
    return {
      ...(a.freeNetUsed ? { freeNetUsed: num(a.freeNetUsed) } : {}),
      freeNetLimit: num(chain.params.freeNetLimit),
      ...(a.netUsed ? { NetUsed: num(a.netUsed) } : {}),
      ...(netLimit ? { NetLimit: num(netLimit) } : {}),
      TotalNetLimit: total.TotalNetLimit,
      TotalNetWeight: total.TotalNetWeight,
      ...(energyLimit ? { tronPowerLimit: num((a.frozenEnergy + a.frozenNet) / 1_000_000n) } : {}),
      ...(a.energyUsed ? { EnergyUsed: num(a.energyUsed) } : {}),
      ...(energyLimit ? { EnergyLimit: num(energyLimit) } : {}),
      TotalEnergyLimit: total.TotalEnergyLimit,
      TotalEnergyWeight: total.TotalEnergyWeight,
    }
  }

  function triggerData(body: Record<string, any>): string {
    if (body.data) return String(body.data).replace(/^0x/, '')
    const selector = String(body.function_selector ?? '').replace(/\s/g, '')
    if (!selector) throw new ContractValidateError('function_selector is not set')
    return hex(keccak_256(new TextEncoder().encode(selector))).slice(0, 8) + String(body.parameter ?? '')
  }

  async function route(path: string, body: Record<string, any>): Promise<unknown> {
    const visible = body.visible === true || body.visible === 'true'
    const solidity = path.startsWith('/walletsolidity/')
    const name = path.replace(/^\/wallet(solidity)?\//, '')
    const top = solidity ? solidHead() : chain.head().number
    const blockAt = (n: number) => (n >= 0 && n <= top ? chain.blocks[n] : undefined)
    switch (name) {
      case 'getnowblock':
        return blockJson(blockAt(top) as Block, visible)
      case 'getblock': {
        const idOrNum = body.id_or_num
        const detail = body.detail === true || body.detail === 'true'
        let b: Block | undefined = blockAt(top)
        if (idOrNum !== undefined && idOrNum !== '')
          b = /^\d+$/.test(String(idOrNum))
            ? blockAt(Number(idOrNum))
            : chain.blocks.find((x) => x.blockID === idOrNum && x.number <= top)
        return b ? blockJson(b, visible, detail) : {}
      }
      case 'getblockbynum': {
        const b = blockAt(Number(body.num))
        return b ? blockJson(b, visible) : {}
      }
      case 'getblockbyid': {
        const b = chain.blocks.find((x) => x.blockID === body.value && x.number <= top)
        return b ? blockJson(b, visible) : {}
      }
      case 'gettransactioninfobyblocknum': {
        const b = blockAt(Number(body.num))
        return b ? b.txs.map(infoJson) : []
      }
      case 'gettransactioninfobyid':
      case 'gettransactionbyid': {
        const tx = chain.txs.get(String(body.value ?? '').toLowerCase())
        if (!tx || tx.block === undefined || tx.block > top) return {}
        return name === 'gettransactionbyid' ? txJson(tx, visible) : infoJson(tx)
      }
      case 'getaccount':
        return accountJson(toHex41(String(body.address)), visible)
      case 'getaccountresource':
        return resourceJson(toHex41(String(body.address)))
      case 'createtransaction': {
        try {
          const owner = toHex41(String(body.owner_address))
          const to = toHex41(String(body.to_address))
          const amount = BigInt(body.amount ?? 0)
          const a = chain.account(owner)
          if (!a) throw new ContractValidateError('Validate TransferContract error, no OwnerAccount.')
          if (amount <= 0n) throw new ContractValidateError('Amount must be greater than 0.')
          if (owner === to) throw new ContractValidateError('Cannot transfer TRX to yourself.')
          if (a.balance < amount)
            throw new ContractValidateError('Validate TransferContract error, balance is not sufficient.')
          const value = encodeTransfer({ owner: unhex(owner), to: unhex(to), amount })
          return unsigned('TransferContract', value, visible, { data: body.extra_data || undefined })
        } catch (err) {
          return {
            Error: `class org.tron.core.exception.ContractValidateException : ${(err as Error).message}`,
          }
        }
      }
      case 'triggersmartcontract':
      case 'triggerconstantcontract': {
        const constant = name === 'triggerconstantcontract'
        try {
          if (!body.contract_address)
            throw new Error("class java.security.InvalidParameterException : contract_address isn't set.")
          const owner = toHex41(String(body.owner_address ?? '410000000000000000000000000000000000000000'))
          const contract = toHex41(String(body.contract_address))
          const data = triggerData(body)
          const token = chain.tokens.get(contract)
          if (!token) throw new ContractValidateError('No contract or not a smart contract')
          const value = encodeTrigger({
            owner: unhex(owner),
            contract: unhex(contract),
            callValue: BigInt(body.call_value ?? 0),
            data: unhex(data),
          })
          const tx = unsigned('TriggerSmartContract', value, visible, {
            feeLimit: constant ? 0n : BigInt(body.fee_limit ?? 0),
            data: body.extra_data || undefined,
          })
          if (!constant) return { result: { result: true }, transaction: tx }
          const run = chain.runToken(token, owner, data, true)
          return {
            result: { result: true },
            energy_used: num(run.energy),
            constant_result: [run.output],
            ...(run.ok
              ? {}
              : {
                  result: { code: 'CONTRACT_EXE_ERROR', message: message('REVERT opcode executed', visible) },
                }),
            transaction: { ret: [{}], ...tx },
          }
        } catch (err) {
          const text = (err as Error).message
          const code = err instanceof ContractValidateError ? 'CONTRACT_VALIDATE_ERROR' : 'OTHER_ERROR'
          return {
            result: {
              code,
              message: code === 'OTHER_ERROR' ? text : message(`Contract validate error : ${text}`, visible),
            },
          }
        }
      }
      case 'delegateresource':
      case 'undelegateresource': {
        try {
          const type = name === 'delegateresource' ? 'DelegateResourceContract' : 'UnDelegateResourceContract'
          const value = encodeDelegate({
            owner: unhex(toHex41(String(body.owner_address))),
            resource: body.resource === 'ENERGY' ? 1 : 0,
            balance: BigInt(body.balance ?? 0),
            receiver: unhex(toHex41(String(body.receiver_address))),
            lock: name === 'delegateresource' && body.lock === true,
          })
          if (!chain.account(toHex41(String(body.owner_address))))
            throw new ContractValidateError('Account does not exist')
          return unsigned(type, value, visible)
        } catch (err) {
          return {
            Error: `class org.tron.core.exception.ContractValidateException : ${(err as Error).message}`,
          }
        }
      }
      case 'broadcasthex': {
        // java-tron's BroadcastHexServlet: the serialized Transaction; the answer carries `code` always and the
        // message as text (not hex)
        let rawHex = ''
        let sigs: string[] = []
        try {
          const decoded = decodeTransaction(unhex(String(body.transaction ?? '')))
          rawHex = decoded.rawHex
          sigs = decoded.signatures
        } catch (err) {
          return {
            Error: `class com.google.protobuf.InvalidProtocolBufferException : ${(err as Error).message}`,
          }
        }
        const txid = txIdOf(rawHex)
        try {
          chain.broadcast(rawHex, sigs)
          return {
            result: true,
            code: 'SUCCESS',
            txid,
            message: '',
            transaction: JSON.stringify({ raw_data_hex: rawHex, signature: sigs }),
          }
        } catch (err) {
          if (!(err instanceof NodeRejection)) throw err
          return {
            result: false,
            code: err.code,
            txid,
            message: err.message,
            transaction: JSON.stringify({ raw_data_hex: rawHex, signature: sigs }),
          }
        }
      }
      case 'gettransactionfrompending': {
        const tx = chain.pending().find((t) => t.txID === String(body.value ?? '').toLowerCase())
        return tx ? txJson(tx, visible) : {}
      }
      case 'getchainparameters':
        return {
          chainParameter: [
            { key: 'getMaintenanceTimeInterval', value: 21_600_000 },
            { key: 'getCreateAccountFee', value: num(chain.params.createAccountNetFee) },
            { key: 'getTransactionFee', value: num(chain.params.bandwidthPrice) },
            { key: 'getCreateNewAccountFeeInSystemContract', value: num(chain.params.createAccountFee) },
            { key: 'getCreateNewAccountBandwidthRate', value: 1 },
            { key: 'getEnergyFee', value: num(chain.params.energyPrice) },
            { key: 'getFreeNetLimit', value: num(chain.params.freeNetLimit) },
            { key: 'getTotalEnergyLimit', value: 180_000_000_000 },
            { key: 'getMaxFeeLimit', value: 15_000_000_000 },
            { key: 'getAllowTvmFreezeV2', value: 1 },
            { key: 'getUnfreezeDelayDays', value: 14 },
          ],
        }
      case 'getdelegatedresourcev2': {
        const from = toHex41(String(body.fromAddress))
        const to = toHex41(String(body.toAddress))
        const d = chain.delegations.get(`${from}|${to}`)
        if (!d) return {}
        return {
          delegatedResource: [
            {
              from: showAddress(from, visible),
              to: showAddress(to, visible),
              ...(d.net ? { frozen_balance_for_bandwidth: num(d.net) } : {}),
              ...(d.energy ? { frozen_balance_for_energy: num(d.energy) } : {}),
            },
          ],
        }
      }
      case 'broadcasttransaction': {
        const sigs: string[] = Array.isArray(body.signature)
          ? body.signature.map((s: string) => s.replace(/^0x/, ''))
          : []
        const rawHex = String(body.raw_data_hex ?? '')
          .replace(/^0x/, '')
          .toLowerCase()
        const txid = rawHex ? txIdOf(rawHex) : String(body.txID ?? '')
        try {
          if (!rawHex) throw new NodeRejection('OTHER_ERROR', 'Error: raw_data_hex is required by this node')
          chain.broadcast(rawHex, sigs, body.txID ? String(body.txID).toLowerCase() : undefined)
          return { result: true, txid }
        } catch (err) {
          if (!(err instanceof NodeRejection)) throw err
          return { code: err.code, txid, message: Buffer.from(err.message).toString('hex') }
        }
      }
      default:
        return undefined
    }
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url)
      const path = url.pathname
      requests.push(path)
      const delay = matching(delays, path)
      if (delay) await Bun.sleep(delay)
      const status = matching(failures, path)
      if (status) return new Response('{"Error":"stand-in failure"}', { status })
      let body: Record<string, any> = Object.fromEntries(url.searchParams)
      if (req.method === 'POST') {
        const text = await req.text()
        if (text.trim()) {
          try {
            body = { ...body, ...JSON.parse(text) }
          } catch {
            return Response.json({ Error: 'class com.alibaba.fastjson.JSONException : syntax error' })
          }
        }
      }
      try {
        const out = await route(path, body)
        if (out === undefined) return new Response('Not Found', { status: 404 })
        return new Response(JSON.stringify(out), { headers: { 'content-type': 'application/json' } })
      } catch (err) {
        return Response.json({
          Error: `class java.lang.IllegalArgumentException : ${(err as Error).message}`,
        })
      }
    },
  })

  const timer = options.autoMine ? setInterval(() => chain.mine(1), params.blockIntervalMs) : undefined

  return {
    url: `http://127.0.0.1:${server.port}`,
    chain,
    requests,
    mine: (n = 1) => chain.mine(n).number,
    fund: (address, sun) => chain.fund(toHex41(address), sun),
    mint: (token, to, amount) => chain.mint(toHex41(token), toHex41(to), amount),
    stake: (address, r) => {
      const hex41 = toHex41(address)
      const a = chain.account(hex41) ?? chain.createAccount(hex41, chain.head().timestamp)
      a.grantedEnergy += r.energy ?? 0n
      a.grantedNet += r.bandwidth ?? 0n
      a.frozenEnergy += r.frozenEnergySun ?? 0n
      a.frozenNet += r.frozenBandwidthSun ?? 0n
    },
    setSolidityLag: (n) => {
      solidityLag = n
    },
    setDelay: (p, ms) => (ms ? delays.set(p, ms) : delays.delete(p)),
    setFailure: (p, s) => (s ? failures.set(p, s) : failures.delete(p)),
    head: () => chain.head().number,
    stop: async () => {
      if (timer) clearInterval(timer)
      await server.stop(true)
    },
  }
}

/** bigints → JSON numbers (java-tron prints int64 as numbers). */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(jsonSafe)
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]))
  return v
}
