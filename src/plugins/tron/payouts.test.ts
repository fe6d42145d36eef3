import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  type AssetInfo,
  type ChainDriver,
  DriverError,
  type PayoutDriver,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import trongrid from '../../../test/fixtures/chain-data/tron/trongrid_v1/ledger_v1_accounts_TL24LCps_transactions_trc20_SUBSET.json'
import { TronWeb } from '../../../test/helpers/tronweb.ts'
import { recoverSigner, transactionBytes } from '../../../test/tron-node/chain.ts'
import {
  decodeRaw,
  decodeTransaction,
  decodeTrigger,
  encodeRaw,
  encodeTransfer,
} from '../../../test/tron-node/proto.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../../../test/tron-node/server.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import { broadcastOutcome, nodeMessage } from './errors.ts'
import { createTronDriver } from './index.ts'
import { int64Of } from './numbers.ts'
import { tronOptionsSchema } from './options.ts'
import type { TronPayload } from './payload.ts'
import { encodeTransferContract } from './proto.ts'
import { energyDelegationSun } from './resources.ts'
import { buildRawTransaction, transactionBandwidth } from './transaction.ts'

const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const signer = createSigner(mnemonic)
const xpub = signer.xpub("m/44'/195'/0'")
const log = { debug() {}, info() {}, warn() {}, error() {} }
const usdtToken = { symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))
const grid = (trongrid as any).TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre.data as any[]
const realUsdt = grid.find((t) => t.transaction_id.startsWith('0130dfde'))!.detail

let node: TronNode
let driver: ChainDriver
let payouts: PayoutDriver
let trx: AssetInfo
let usdt: AssetInfo
let treasury: WalletAddress
let gasTank: WalletAddress

const makeDriver = (extra: Record<string, unknown> = {}) =>
  createTronDriver(
    tronOptionsSchema.parse({
      fullHosts: [node.url],
      tokens: [usdtToken],
      retryRounds: 1,
      backoffMs: 0,
      ...extra,
    }),
    { chain: 'tron', log },
  )
const wallet = (index: number): WalletAddress => driver.deriveAddress({ xpub, index })
const post = async (path: string, body: unknown = {}) =>
  (await fetch(`${node.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>
const trxOf = async (address: string) =>
  BigInt((await post('/wallet/getaccount', { address, visible: true })).balance ?? 0)
const usdtOf = (address: string) =>
  node.chain.tokens.get(hex41(USDT_MAINNET))?.balances.get(hex41(address)) ?? 0n
const hex41 = (address: string) => driver.addressKey(address)
const payloadOf = (tx: UnsignedTx) => tx.payload as TronPayload

/** Signs with the key of `from`, broadcasts, mines one block; returns the hash. */
async function send(p: PayoutDriver, tx: UnsignedTx, from: WalletAddress): Promise<string> {
  const signed = await p.sign(tx, { path: from.path }, signer)
  await p.broadcast(signed)
  node.mine()
  return signed.hash
}

beforeAll(async () => {
  node = await startTronNode()
  driver = makeDriver()
  payouts = driver.payouts as PayoutDriver
  ;[trx, usdt] = driver.assets as [AssetInfo, AssetInfo]
  treasury = wallet(0)
  gasTank = wallet(1)
  node.fund(treasury.address, 10_000_000_000n)
  node.mint(USDT_MAINNET, treasury.address, 1_000_000_000n)
  node.fund(gasTank.address, 1_000_000_000n)
})
afterAll(() => node.stop())

describe('building offline', () => {
  test('default: a TRX payout is built from the head block, not by the node; tronweb decodes the request back', async () => {
    const to = wallet(2).address
    node.requests.length = 0
    const tx = await payouts.build({ from: treasury, asset: trx, outputs: [{ to, amount: 2_500_000n }] })
    expect(node.requests.filter((p) => /create|trigger(smart)?contract$/.test(p))).toEqual([])
    const p = payloadOf(tx)
    const head = await post('/wallet/getnowblock')
    const number = head.block_header.raw_data.number as number
    const raw = decodeRaw(unhex(p.raw_data_hex))
    expect(hex(raw.refBlockBytes)).toBe((number & 0xffff).toString(16).padStart(4, '0'))
    expect(hex(raw.refBlockHash)).toBe(head.blockID.slice(16, 32))
    expect(raw.expiration).toBe(BigInt(head.block_header.raw_data.timestamp + 60_000))
    expect(raw.feeLimit).toBe(0n)
    expect(p.txID).toBe(hex(sha256(unhex(p.raw_data_hex))))
    const tw = new TronWeb({ fullHost: node.url })
    const decoded = tw.utils.deserializeTx.deserializeTransaction('TransferContract', p.raw_data_hex) as any
    const value = decoded.contract[0].parameter.value
    expect(value.amount).toBe(2_500_000)
    expect(TronWeb.address.fromHex(value.owner_address)).toBe(treasury.address)
    expect(TronWeb.address.fromHex(value.to_address)).toBe(to)
    // JSON-safe, and what the core needs to know
    expect(JSON.parse(JSON.stringify(tx.payload))).toEqual(tx.payload)
    expect(p).toMatchObject({ type: 'TransferContract', owner: treasury.address, to, amount: '2500000' })
    expect(tx.amounts).toEqual([2_500_000n])
    // the recipient does not exist: 1 TRX creation fee + 0.1 TRX bandwidth
    expect(tx.maxFee).toBe(1_100_000n)
  })

  test('behavior: deterministic — the same reference block, clock and contract give the same bytes as the stand-in encoder', () => {
    const ref = {
      number: 0x1234_5678n,
      id: `${'00'.repeat(8)}0123456789abcdef${'11'.repeat(16)}`,
      timestamp: 1_700_000_000_000,
    }
    const owner = unhex(hex41(treasury.address))
    const to = unhex(hex41(gasTank.address))
    const args = {
      ref,
      expirationMs: 90_000,
      timestamp: 1_700_000_000_123,
      feeLimit: 0n,
      contract: {
        type: 'TransferContract' as const,
        value: encodeTransferContract({ owner, to, amount: 7n }),
      },
    }
    const a = buildRawTransaction(args)
    expect(buildRawTransaction(args)).toEqual(a)
    const reference = encodeRaw({
      refBlockBytes: unhex('5678'),
      refBlockHash: unhex('0123456789abcdef'),
      expiration: 1_700_000_090_000n,
      timestamp: 1_700_000_000_123n,
      feeLimit: 0n,
      contract: {
        type: 'TransferContract',
        typeUrl: 'type.googleapis.com/protocol.TransferContract',
        value: encodeTransfer({ owner, to, amount: 7n }),
        permissionId: 0,
      },
    })
    expect(a.rawHex).toBe(hex(reference))
    expect(a.expiration).toBe(1_700_000_090_000)
  })

  test('default: the bandwidth formula gives the recorded 345 bytes of a real USDT transfer', () => {
    expect(transactionBandwidth(realUsdt.raw_data_hex.length / 2, realUsdt.signature.length)).toBe(345n)
    expect(realUsdt.net_usage).toBe(345)
  })

  test('error: two outputs, the sender as recipient and a bad address are refused before any node call', async () => {
    const two = await driverRejection(
      payouts.build({
        from: treasury,
        asset: trx,
        outputs: [
          { to: gasTank.address, amount: 1n },
          { to: gasTank.address, amount: 1n },
        ],
      }),
    )
    expect(two.code).toBe('TOO_MANY_OUTPUTS')
    const self = await driverRejection(
      payouts.build({ from: treasury, asset: trx, outputs: [{ to: treasury.address, amount: 1n }] }),
    )
    expect(self.code).toBe('INVALID_OUTPUT')
    const bad = await driverRejection(
      payouts.build({ from: treasury, asset: trx, outputs: [{ to: 'Tnope', amount: 1n }] }),
    )
    expect(bad).toMatchObject({ code: 'INVALID_ADDRESS', retryable: false })
  })
})

describe('TRX payouts', () => {
  test('default: built, signed, broadcast, mined — status gives the block and the exact fee, the recipient has the TRX', async () => {
    const to = wallet(3).address
    const before = await trxOf(treasury.address)
    const tx = await payouts.build({ from: treasury, asset: trx, outputs: [{ to, amount: 3_000_000n }] })
    const hash = payloadOf(tx).txID
    expect(await payouts.status(hash)).toEqual({ state: 'unknown' })
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    expect(signed.hash).toBe(hash)
    await payouts.broadcast(signed)
    expect(await payouts.status(hash)).toEqual({ state: 'pending' })
    const height = BigInt(node.mine())
    const info = await post('/wallet/gettransactioninfobyid', { value: hash })
    expect(info.fee).toBe(1_100_000)
    expect(await payouts.status(hash)).toEqual({
      state: 'mined',
      success: true,
      blockHeight: height,
      fee: 1_100_000n,
    })
    expect(await payouts.balance(to, trx)).toBe(3_000_000n)
    expect(await trxOf(treasury.address)).toBe(before - 3_000_000n - 1_100_000n)

    // to an existing account with free bandwidth left: nothing burned
    const again = await payouts.build({ from: treasury, asset: trx, outputs: [{ to, amount: 1_000_000n }] })
    const bytes = transactionBandwidth(payloadOf(again).raw_data_hex.length / 2)
    expect(again.maxFee).toBe(bytes * 1000n)
    const second = await send(payouts, again, treasury)
    expect(await payouts.status(second)).toMatchObject({ state: 'mined', success: true, fee: 0n })
    expect(await payouts.balance(to, trx)).toBe(4_000_000n)
  })

  test("default: the signature is tronweb's r‖s over the txID with v = 0/1 (as recorded on mainnet), recovering to the sender", async () => {
    const tx = await payouts.build({
      from: treasury,
      asset: trx,
      outputs: [{ to: gasTank.address, amount: 1n }],
    })
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    const p = payloadOf(tx)
    const sig = signed.raw.slice(-130)
    // raw is the serialized Transaction broadcasthex takes: the stored raw_data and one signature
    expect(decodeTransaction(unhex(signed.raw))).toEqual({ rawHex: p.raw_data_hex, signatures: [sig] })
    expect(['00', '01']).toContain(sig.slice(128))
    expect(recoverSigner(p.txID, sig)).toBe(hex41(treasury.address))
    const key = TronWeb.fromMnemonic(mnemonic, treasury.path).privateKey.replace(/^0x/, '')
    const tw = new TronWeb({ fullHost: node.url })
    const theirs = tw.utils.crypto.ECKeySign(unhex(p.txID), unhex(key)) as string
    expect(sig.slice(0, 128)).toBe(theirs.slice(0, 128).toLowerCase())
    expect(Number.parseInt(theirs.slice(128), 16) - 27).toBe(Number.parseInt(sig.slice(128), 16))
    // the bandwidth the node charges for these bytes is what the driver computes
    expect(transactionBytes(p.raw_data_hex, [sig])).toBe(transactionBandwidth(p.raw_data_hex.length / 2))
  })

  test('error: the wrong key and a payload whose txID does not match its bytes are refused at signing', async () => {
    const tx = await payouts.build({
      from: treasury,
      asset: trx,
      outputs: [{ to: gasTank.address, amount: 1n }],
    })
    expect(await driverRejection(payouts.sign(tx, { path: gasTank.path }, signer))).toMatchObject({
      code: 'WRONG_KEY',
      retryable: false,
    })
    const p = payloadOf(tx)
    const forged = { ...tx, payload: { ...p, raw_data_hex: p.raw_data_hex.replace(/..$/, '00') } }
    expect(await driverRejection(payouts.sign(forged, { path: treasury.path }, signer))).toMatchObject({
      code: 'BAD_PAYLOAD',
      retryable: false,
    })
  })

  test('behavior: sweepAll with free bandwidth sends the whole balance; without, the balance less the burned bandwidth — 0 left', async () => {
    const deposit = wallet(10)
    node.fund(deposit.address, 12_345_678n)
    const all = await payouts.build({
      from: deposit,
      asset: trx,
      outputs: [{ to: treasury.address, amount: 0n }],
      sweepAll: true,
    })
    expect(all.amounts).toEqual([12_345_678n])
    expect(all.maxFee).toBe(0n)
    const hash = await send(payouts, all, deposit)
    expect(await payouts.status(hash)).toMatchObject({ state: 'mined', success: true, fee: 0n })
    expect(await payouts.balance(deposit.address, trx)).toBe(0n)

    // free bandwidth used up today: the sweep pays bytes × 1000 sun out of the balance
    const busy = wallet(11)
    node.fund(busy.address, 98_765_432n)
    const account = node.chain.account(hex41(busy.address))!
    account.freeNetUsed = 600n
    account.lastUse = node.chain.head().timestamp
    const tx = await payouts.build({
      from: busy,
      asset: trx,
      outputs: [{ to: treasury.address, amount: 0n }],
      sweepAll: true,
    })
    const bytes = transactionBandwidth(payloadOf(tx).raw_data_hex.length / 2)
    expect(tx.maxFee).toBe(bytes * 1000n)
    expect(tx.amounts).toEqual([98_765_432n - bytes * 1000n])
    const swept = await send(payouts, tx, busy)
    expect(await payouts.status(swept)).toMatchObject({ state: 'mined', success: true, fee: bytes * 1000n })
    expect(await payouts.balance(busy.address, trx)).toBe(0n)
    expect(await post('/wallet/getaccount', { address: busy.address, visible: true })).not.toHaveProperty(
      'balance',
    )

    const empty = await driverRejection(
      payouts.build({
        from: busy,
        asset: trx,
        outputs: [{ to: treasury.address, amount: 0n }],
        sweepAll: true,
      }),
    )
    expect(empty).toMatchObject({ code: 'NOTHING_TO_SWEEP', retryable: false })
  })
})

describe('TRC-20 payouts', () => {
  test('default: fee_limit = estimated energy × energy price × 1.2; mined, the recipient has the tokens, the fee is what burned', async () => {
    const to = wallet(4).address
    const before = await trxOf(treasury.address)
    node.requests.length = 0
    const tx = await payouts.build({ from: treasury, asset: usdt, outputs: [{ to, amount: 5_000_000n }] })
    expect(node.requests).toContain('/wallet/triggerconstantcontract')
    expect(node.requests).toContain('/wallet/getchainparameters')
    const p = payloadOf(tx)
    const raw = decodeRaw(unhex(p.raw_data_hex))
    // a first transfer to a non-holder: 29,650 energy on the stand-in, 210 sun each
    expect(raw.feeLimit).toBe(7_471_800n)
    expect(p.fee_limit).toBe('7471800')
    const call = decodeTrigger(raw.contract.value)
    expect(hex(call.contract)).toBe(hex41(USDT_MAINNET))
    expect(hex(call.data)).toBe(
      `a9059cbb${hex41(to).slice(2).padStart(64, '0')}${(5_000_000).toString(16).padStart(64, '0')}`,
    )
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    const bytes = transactionBytes(p.raw_data_hex, [signed.raw.slice(-130)])
    expect(tx.maxFee).toBe(7_471_800n + bytes * 1000n)
    await payouts.broadcast(signed)
    node.mine()
    const status = await payouts.status(signed.hash)
    const info = await post('/wallet/gettransactioninfobyid', { value: signed.hash })
    expect(info.receipt.energy_usage_total).toBe(29_650)
    expect(status).toMatchObject({ state: 'mined', success: true, fee: BigInt(info.fee) })
    expect(BigInt(info.fee)).toBe(29_650n * 210n + BigInt(info.receipt.net_fee ?? 0))
    expect(await trxOf(treasury.address)).toBe(before - BigInt(info.fee))
    expect(await payouts.balance(to, usdt)).toBe(5_000_000n)
    expect(usdtOf(to)).toBe(5_000_000n)
  })

  test('behavior: re-broadcasting the same bytes succeeds (DUP_TRANSACTION_ERROR) before and after mining, and pays once', async () => {
    const to = wallet(5).address
    const tx = await payouts.build({ from: treasury, asset: usdt, outputs: [{ to, amount: 1_000_000n }] })
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    await payouts.broadcast(signed)
    await payouts.broadcast(signed)
    expect(node.chain.pending().filter((t) => t.txID === signed.hash)).toHaveLength(1)
    node.mine()
    await payouts.broadcast(signed)
    node.mine()
    expect(await payouts.balance(to, usdt)).toBe(1_000_000n)
    expect(await payouts.status(signed.hash)).toMatchObject({ state: 'mined', success: true })
  })

  test('error: a tampered signature is refused as SIGERROR, not retryable', async () => {
    const tx = await payouts.build({
      from: treasury,
      asset: usdt,
      outputs: [{ to: gasTank.address, amount: 1n }],
    })
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    const at = signed.raw.length - 20
    const flipped = (Number.parseInt(signed.raw.slice(at, at + 2), 16) ^ 0xff).toString(16).padStart(2, '0')
    const tampered = { ...signed, raw: signed.raw.slice(0, at) + flipped + signed.raw.slice(at + 2) }
    const err = await driverRejection(payouts.broadcast(tampered))
    expect(err).toMatchObject({ code: 'SIGERROR', retryable: false })
    expect(err.message).toContain('Validate signature error')
    expect(await payouts.status(signed.hash)).toEqual({ state: 'unknown' })
  })

  test('error: an expired transaction and one referring to an unknown block are EXPIRED, not retryable; a replacement waits for the expiry', async () => {
    const tx = await payouts.build({
      from: treasury,
      asset: trx,
      outputs: [{ to: gasTank.address, amount: 5n }],
    })
    const signed = await payouts.sign(tx, { path: treasury.path }, signer)
    const request = {
      from: treasury,
      asset: trx,
      outputs: [{ to: gasTank.address, amount: 5n }],
      replaces: tx,
    }
    // still includable: replacing it now could pay twice
    expect(await driverRejection(payouts.build(request))).toMatchObject({
      code: 'NOT_EXPIRED',
      retryable: true,
    })
    node.mine(21) // 63 s of block time > the 60 s window
    const err = await driverRejection(payouts.broadcast(signed))
    expect(err).toMatchObject({ code: 'EXPIRED', retryable: false })
    expect(err.message).toContain('TRANSACTION_EXPIRATION_ERROR')
    const replacement = await payouts.build(request)
    expect(payloadOf(replacement).txID).not.toBe(signed.hash)
    const replaced = await send(payouts, replacement, treasury)
    expect(await payouts.status(replaced)).toMatchObject({ state: 'mined' })
    // one that was mined needs no replacement, even after its expiration
    node.mine(21)
    const again = await driverRejection(payouts.build({ ...request, replaces: replacement }))
    expect(again).toMatchObject({ code: 'REPLACED_TX_MINED', retryable: true })

    // TAPOS: built against another chain's block
    const other = await startTronNode()
    try {
      other.fund(treasury.address, 1_000_000_000n)
      other.mine(3)
      const elsewhere = makeDriver({ fullHosts: [other.url] }).payouts as PayoutDriver
      const foreign = await elsewhere.build({
        from: treasury,
        asset: trx,
        outputs: [{ to: gasTank.address, amount: 1n }],
      })
      const tapos = await driverRejection(
        payouts.broadcast(await payouts.sign(foreign, { path: treasury.path }, signer)),
      )
      expect(tapos).toMatchObject({ code: 'EXPIRED', retryable: false })
      expect(tapos.message).toContain('TAPOS_ERROR')
    } finally {
      await other.stop()
    }
  })

  test('error: a fee_limit above maxFeeLimit is FEE_TOO_HIGH (retryable); a transfer of more than the balance is refused at estimation', async () => {
    const capped = makeDriver({ maxFeeLimit: 5_000_000 }).payouts as PayoutDriver
    const err = await driverRejection(
      capped.build({ from: treasury, asset: usdt, outputs: [{ to: wallet(6).address, amount: 1n }] }),
    )
    expect(err).toMatchObject({ code: 'FEE_TOO_HIGH', retryable: true })
    expect(err.message).toContain('7471800')
    // a configured energy price lowers the fee_limit under the cap
    const cheap = makeDriver({ maxFeeLimit: 5_000_000, energyPrice: 100 }).payouts as PayoutDriver
    const tx = await cheap.build({
      from: treasury,
      asset: usdt,
      outputs: [{ to: wallet(6).address, amount: 1n }],
    })
    expect(payloadOf(tx).fee_limit).toBe(String(Math.ceil(29_650 * 100 * 1.2)))
    const tooMuch = await driverRejection(
      payouts.build({ from: treasury, asset: usdt, outputs: [{ to: gasTank.address, amount: 10n ** 15n }] }),
    )
    expect(tooMuch).toMatchObject({ code: 'CALL_FAILED', retryable: false })
  })

  test('error: no TRX for the bandwidth is INSUFFICIENT_FUNDS (retryable); a node that fails is a retryable RPC_ERROR', async () => {
    const poor = wallet(30)
    node.fund(poor.address, 50_000n) // less than the 0.1 TRX an account-creating transfer burns
    const tx = await payouts.build({
      from: poor,
      asset: trx,
      outputs: [{ to: wallet(31).address, amount: 10_000n }],
    })
    const signed = await payouts.sign(tx, { path: poor.path }, signer)
    const err = await driverRejection(payouts.broadcast(signed))
    expect(err).toMatchObject({ code: 'INSUFFICIENT_FUNDS', retryable: true })
    expect(err.message).toContain('BANDWITH_ERROR')
    node.setFailure('/wallet/broadcasthex', 503)
    try {
      expect(await driverRejection(payouts.broadcast(signed))).toMatchObject({
        code: 'RPC_ERROR',
        retryable: true,
      })
    } finally {
      node.setFailure('/wallet/broadcasthex', undefined)
    }
  })
})

describe('broadcast answers', () => {
  test('default: every java-tron response code maps to success, EXPIRED, INSUFFICIENT_FUNDS or its own code with the right retryability', () => {
    const text = (s: string) => Buffer.from(s).toString('hex')
    expect(broadcastOutcome({ result: true, code: 'SUCCESS', message: '' })).toBeNull()
    expect(broadcastOutcome({ result: true, txid: 'ab' })).toBeNull()
    expect(broadcastOutcome({ code: 'DUP_TRANSACTION_ERROR', message: text('Dup transaction.') })).toBeNull()
    const cases: Array<[string, string, string, boolean]> = [
      ['SIGERROR', 'Validate signature error: x', 'SIGERROR', false],
      [
        'CONTRACT_VALIDATE_ERROR',
        'Contract validate error : No contract or not a smart contract',
        'CONTRACT_VALIDATE_ERROR',
        false,
      ],
      [
        'CONTRACT_VALIDATE_ERROR',
        'Contract validate error : Validate TransferContract error, balance is not sufficient.',
        'INSUFFICIENT_FUNDS',
        true,
      ],
      ['CONTRACT_EXE_ERROR', 'REVERT opcode executed', 'CONTRACT_EXE_ERROR', false],
      ['TAPOS_ERROR', 'Tapos check error.', 'EXPIRED', false],
      ['TRANSACTION_EXPIRATION_ERROR', 'Transaction expired', 'EXPIRED', false],
      ['BANDWITH_ERROR', 'Account resource insufficient error.', 'INSUFFICIENT_FUNDS', true],
      ['SERVER_BUSY', 'Server busy.', 'SERVER_BUSY', true],
      ['NO_CONNECTION', 'No connection.', 'NO_CONNECTION', true],
      ['NOT_ENOUGH_EFFECTIVE_CONNECTION', 'x', 'NOT_ENOUGH_EFFECTIVE_CONNECTION', true],
      ['OTHER_ERROR', 'x', 'OTHER_ERROR', true],
    ]
    for (const [code, message, mapped, retryable] of cases)
      for (const form of [message, text(message)]) {
        const err = broadcastOutcome({ result: false, code, message: form })
        expect(err).toBeInstanceOf(DriverError)
        expect(err).toMatchObject({ code: mapped, retryable })
        expect(err?.message).toContain(message)
      }
    expect(nodeMessage('5461706f7320636865636b206572726f722e')).toBe('Tapos check error.')
    expect(nodeMessage('cafe')).toBe('cafe')
  })

  test('error: JSON numbers beyond 2^53 are refused rather than rounded', () => {
    expect(int64Of(9_007_199_254_740_991, 'x')).toBe(9_007_199_254_740_991n)
    expect(int64Of('12345678901234567890', 'x')).toBe(12_345_678_901_234_567_890n)
    expect(int64Of(undefined, 'x')).toBe(0n)
    // what JSON.parse makes of a balance of 2^53 + 1 sun: already rounded, so refused
    const parsed = JSON.parse('{"balance": 9007199254740993}').balance
    expect(() => int64Of(parsed, 'balance')).toThrow(/not an exact integer/)
    expect(() => int64Of(1.5, 'x')).toThrow(DriverError)
  })
})

describe('balances', () => {
  test('default: TRX from getaccount (0 for an address that does not exist), tokens from balanceOf', async () => {
    const fresh = wallet(40).address
    expect(await payouts.balance(fresh, trx)).toBe(0n)
    expect(await payouts.balance(fresh, usdt)).toBe(0n)
    node.mint(USDT_MAINNET, fresh, 42n)
    expect(await payouts.balance(fresh, usdt)).toBe(42n)
    expect(await payouts.balance(treasury.address, trx)).toBe(await trxOf(treasury.address))
    // receiving a token does not create the account
    expect(await post('/wallet/getaccount', { address: fresh, visible: true })).toEqual({})
  })
})

describe('sweep funding', () => {
  test('default (burn): an address holding only USDT is not activated; the gas tank sends the TRX it burns, the sweep empties it to the treasury', async () => {
    const deposit = wallet(20)
    node.mint(USDT_MAINNET, deposit.address, 7_000_000n)
    expect(await post('/wallet/getaccount', { address: deposit.address, visible: true })).toEqual({})
    const ask = { address: deposit.address, asset: usdt, amount: 7_000_000n, to: treasury.address }
    const need = await payouts.sweepNeed?.(ask)
    // the treasury holds USDT: 14,650 energy; the account to be created gets the free 600 bytes
    expect(need).toEqual({ native: 3_691_800n, resources: { energy: 14_650n, bandwidth: 0n } })
    const funding = await payouts.buildFunding?.({ from: gasTank, to: deposit.address, need: need! })
    expect(payloadOf(funding!)).toMatchObject({
      type: 'TransferContract',
      owner: gasTank.address,
      amount: '3691800',
    })
    expect(funding!.maxFee).toBe(1_100_000n) // creates the account
    const tankBefore = await trxOf(gasTank.address)
    const funded = await send(payouts, funding!, gasTank)
    expect(await payouts.status(funded)).toMatchObject({ state: 'mined', success: true, fee: 1_100_000n })
    expect(await trxOf(gasTank.address)).toBe(tankBefore - 3_691_800n - 1_100_000n)
    expect(await payouts.sweepNeed?.(ask)).toBeNull()

    const treasuryUsdt = usdtOf(treasury.address)
    const sweep = await payouts.build({
      from: deposit,
      asset: usdt,
      outputs: [{ to: treasury.address, amount: 0n }],
      sweepAll: true,
    })
    expect(sweep.amounts).toEqual([7_000_000n])
    const swept = await send(payouts, sweep, deposit)
    expect(await payouts.status(swept)).toMatchObject({ state: 'mined', success: true, fee: 14_650n * 210n })
    expect(await payouts.balance(deposit.address, usdt)).toBe(0n)
    expect(usdtOf(treasury.address)).toBe(treasuryUsdt + 7_000_000n)
    expect(await trxOf(deposit.address)).toBe(3_691_800n - 14_650n * 210n)
    expect(await payouts.buildDefunding?.({ from: gasTank, to: deposit.address, need: need! })).toBeNull()
    // TRX needs no funding
    expect(await payouts.sweepNeed?.({ ...ask, asset: trx })).toBeNull()
  })

  test('behavior (delegate): falls back to a TRX transfer for an address that does not exist, then delegates energy, sweeps, and undelegates it all back', async () => {
    const delegating = makeDriver({ funding: 'delegate' }).payouts as PayoutDriver
    const tank = wallet(50)
    node.fund(tank.address, 100_000_000n)
    node.stake(tank.address, { frozenEnergySun: 100_000_000_000n }) // 100,000 TRX frozen for energy
    const tankEnergy = async () =>
      (await post('/wallet/getaccountresource', { address: tank.address, visible: true })).EnergyLimit
    expect(await tankEnergy()).toBe(1_100_000)
    const deposit = wallet(21)

    // first deposit: the address does not exist, so nothing can be delegated to it
    node.mint(USDT_MAINNET, deposit.address, 3_000_000n)
    const ask = { address: deposit.address, asset: usdt, amount: 3_000_000n, to: treasury.address }
    const first = await delegating.sweepNeed?.(ask)
    const activation = await delegating.buildFunding?.({ from: tank, to: deposit.address, need: first! })
    expect(payloadOf(activation!)).toMatchObject({
      type: 'TransferContract',
      amount: first!.native.toString(),
    })
    await send(delegating, activation!, tank)
    const sweep1 = await delegating.build({
      from: deposit,
      asset: usdt,
      outputs: [{ to: treasury.address, amount: 0n }],
      sweepAll: true,
    })
    expect(await delegating.status(await send(delegating, sweep1, deposit))).toMatchObject({ success: true })
    expect(await delegating.buildDefunding?.({ from: tank, to: deposit.address, need: first! })).toBeNull()

    // second deposit: the address exists; its free bandwidth is used up by the first sweep, its TRX pays it
    node.mint(USDT_MAINNET, deposit.address, 4_000_000n)
    const need = await delegating.sweepNeed?.({ ...ask, amount: 4_000_000n })
    expect(need?.resources?.energy).toBe(14_650n)
    const leftover = await trxOf(deposit.address)
    expect(leftover).toBeGreaterThanOrEqual((need!.resources?.bandwidth ?? 0n) * 1000n)
    const funding = await delegating.buildFunding?.({ from: tank, to: deposit.address, need: need! })
    const p = payloadOf(funding!)
    // ceil(14,650 × 1.2) = 17,580 energy at 11 energy/TRX (the stand-in's TotalEnergyLimit / TotalEnergyWeight)
    const res = await post('/wallet/getaccountresource', { address: tank.address, visible: true })
    const sun = energyDelegationSun(17_580n, BigInt(res.TotalEnergyLimit), BigInt(res.TotalEnergyWeight))
    expect(sun).toBe(1_600_000_000n)
    expect(p).toMatchObject({
      type: 'DelegateResourceContract',
      resource: 'ENERGY',
      amount: String(sun),
      to: deposit.address,
    })
    expect(funding!.amounts).toEqual([0n])
    await send(delegating, funding!, tank)
    const got = await post('/wallet/getaccountresource', { address: deposit.address, visible: true })
    expect(got.EnergyLimit).toBe(1600 * 11)
    expect(await tankEnergy()).toBe((100_000 - 1600) * 11)
    expect(await delegating.sweepNeed?.({ ...ask, amount: 4_000_000n })).toBeNull()

    const treasuryUsdt = usdtOf(treasury.address)
    const sweep = await delegating.build({
      from: deposit,
      asset: usdt,
      outputs: [{ to: treasury.address, amount: 0n }],
      sweepAll: true,
    })
    const swept = await send(delegating, sweep, deposit)
    const info = await post('/wallet/gettransactioninfobyid', { value: swept })
    // the energy came from the delegation: only the bandwidth was burned
    expect(info.receipt).toMatchObject({ energy_usage: 14_650, result: 'SUCCESS' })
    expect(info.receipt.energy_fee).toBeUndefined()
    expect(await delegating.status(swept)).toMatchObject({ success: true, fee: BigInt(info.receipt.net_fee) })
    expect(usdtOf(treasury.address)).toBe(treasuryUsdt + 4_000_000n)
    expect(usdtOf(deposit.address)).toBe(0n)

    const defunding = await delegating.buildDefunding?.({ from: tank, to: deposit.address, need: need! })
    expect(payloadOf(defunding!)).toMatchObject({ type: 'UnDelegateResourceContract', amount: String(sun) })
    expect(await delegating.status(await send(delegating, defunding!, tank))).toMatchObject({ success: true })
    expect(await tankEnergy()).toBe(1_100_000)
    const tankAccount = await post('/wallet/getaccount', { address: tank.address, visible: true })
    expect(tankAccount.account_resource.delegated_frozenV2_balance_for_energy).toBeUndefined()
    expect(
      await post('/wallet/getdelegatedresourcev2', { fromAddress: tank.address, toAddress: deposit.address }),
    ).toEqual({})
    expect(await delegating.buildDefunding?.({ from: tank, to: deposit.address, need: need! })).toBeNull()
  })

  test('error (delegate): a gas tank without enough frozen TRX is INSUFFICIENT_FUNDS, retryable', async () => {
    const delegating = makeDriver({ funding: 'delegate' }).payouts as PayoutDriver
    const tank = wallet(51)
    node.fund(tank.address, 10_000_000n)
    const deposit = wallet(22)
    node.fund(deposit.address, 1_000_000n)
    node.mint(USDT_MAINNET, deposit.address, 1_000_000n)
    const need = await delegating.sweepNeed?.({
      address: deposit.address,
      asset: usdt,
      amount: 1_000_000n,
      to: treasury.address,
    })
    expect(
      await driverRejection(delegating.buildFunding!({ from: tank, to: deposit.address, need: need! })),
    ).toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      retryable: true,
    })
  })
})
