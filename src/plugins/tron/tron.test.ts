import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { HDKey } from '@scure/bip32'
import { mnemonicToSeedSync } from '@scure/bip39'
import { isDriverError } from '@tollgate/sdk'
import type { TronWeb as TronWebClient } from 'tronweb'
import trongrid from '../../../test/fixtures/chain-data/tron/trongrid_v1/ledger_v1_accounts_TL24LCps_transactions_trc20_SUBSET.json'
import infos from '../../../test/fixtures/chain-data/tron/wallet_http/ledger_gettransactioninfobyid_mainnet_SUBSET.json'
import { TronWeb } from '../../../test/helpers/tronweb.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from '../../../test/tron-node/server.ts'
import { tronHexToBase58 } from './address.ts'
import { createTronClient } from './http.ts'
import { createTronDriver, tronAddressKey } from './index.ts'
import { tronOptionsSchema } from './options.ts'
import { decodeTransactionInfo, type TronTxInfo } from './scan.ts'

const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const xpub = HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic)).derive("m/44'/195'/0'").publicExtendedKey
const log = { debug() {}, info() {}, warn() {}, error() {} }
const ctx = { chain: 'tron', log }
const usdtToken = { symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }
const driverFor = (fullHosts: string[], extra: Record<string, unknown> = {}) =>
  createTronDriver(tronOptionsSchema.parse({ fullHosts, tokens: [usdtToken], ...extra }), ctx)
const info = (id: string) => (infos as Record<string, TronTxInfo>)[id] as TronTxInfo
const grid = (trongrid as any).TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre.data as any[]

describe('addresses', () => {
  const driver = driverFor(['http://127.0.0.1:1'])

  test("default: m/44'/195'/0'/0/i from the xpub equals tronweb's fromMnemonic", () => {
    expect(driver.accountPath).toBe("m/44'/195'/0'")
    expect(driver.deriveAddress({ xpub, index: 0 })).toEqual({
      address: 'TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH',
      path: "m/44'/195'/0'/0/0",
    })
    for (const i of [1, 2, 7, 1000])
      expect(driver.deriveAddress({ xpub, index: i }).address).toBe(
        TronWeb.fromMnemonic(mnemonic, `m/44'/195'/0'/0/${i}`).address,
      )
  })

  test('default: base58 and hex forms validate and normalize to base58; the key is lowercase 41-hex', () => {
    const b58 = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'
    const hex = '41a614f803b6fd780986a42c78ec9c7f77e6ded13c'
    expect(driver.validateAddress(b58)).toEqual({ ok: true, normalized: b58 })
    expect(driver.validateAddress(hex.toUpperCase().replace(/^41/, '41'))).toEqual({
      ok: true,
      normalized: b58,
    })
    expect(driver.validateAddress(`0x${hex}`)).toEqual({ ok: true, normalized: b58 })
    expect(TronWeb.address.toHex(b58).toLowerCase()).toBe(hex)
    expect(driver.addressKey(b58)).toBe(hex)
    expect(driver.addressKey(hex.toUpperCase())).toBe(hex)
    expect(tronAddressKey(`0x${hex}`)).toBe(hex)
  })

  test('error: bad checksum, wrong prefix, EVM address and junk are refused', () => {
    expect(driver.validateAddress('TR7NHqjeKQxGTCi8q8ZY4pxL7dSU6Vqj6t')).toEqual({
      ok: false,
      reason: 'bad base58check checksum',
    })
    for (const bad of [
      '0xa614f803b6fd780986a42c78ec9c7f77e6ded13c',
      '42a614f803b6fd780986a42c78ec9c7f77e6ded13c',
      'T1',
      '',
    ])
      expect(driver.validateAddress(bad).ok).toBe(false)
    expect(() =>
      tronOptionsSchema.parse({
        fullHosts: ['http://x'],
        tokens: [{ ...usdtToken, address: 'TR7NHqjeKQxGTCi8q8ZY4pxL7dSU6Vqj6t' }],
      }),
    ).toThrow()
  })

  test('default: tron: payment URIs in whole units, with the contract for tokens; CAIP ids', () => {
    const [trx, usdt] = driver.assets
    expect(driver.chainId).toBe('tron:0x2b6653dc')
    expect(trx?.id).toBe('tron:0x2b6653dc/slip44:195')
    expect(usdt?.id).toBe(`tron:0x2b6653dc/trc20:${USDT_MAINNET}`)
    const to = 'TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH'
    expect(driver.paymentUri({ address: to, asset: trx!, amount: 1_500_000n })).toBe(`tron:${to}?amount=1.5`)
    expect(driver.paymentUri({ address: to, asset: usdt!, amount: 12_000_001n })).toBe(
      `tron:${to}?contract=${USDT_MAINNET}&amount=12.000001`,
    )
    expect(driver.confirmations).toBe(19)
  })

  test('error: keys and base58 of addresses that are not Tron ones are non-retryable INVALID_ADDRESS', () => {
    const refusals = [
      () => tronAddressKey('0xa614f803b6fd780986a42c78ec9c7f77e6ded13c'),
      () => tronAddressKey('TR7NHqjeKQxGTCi8q8ZY4pxL7dSU6Vqj6t'),
      () => driver.addressKey('junk'),
      () => tronHexToBase58('42a614f803b6fd780986a42c78ec9c7f77e6ded13c'),
      () => tronHexToBase58('41a614'),
    ]
    for (const refuse of refusals) {
      let err: unknown
      try {
        refuse()
      } catch (e) {
        err = e
      }
      expect(isDriverError(err), String(refuse)).toBe(true)
      expect(err).toMatchObject({ code: 'INVALID_ADDRESS', retryable: false })
    }
  })
})

describe('java-tron HTTP failures', () => {
  /** One stand-in full node per path prefix: `/s500` answers HTTP 500, `/error` a java-tron `Error`. */
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => {
      const prefix = new URL(req.url).pathname.split('/')[1]
      if (prefix === 'error') return Response.json({ Error: 'class java.lang.NullPointerException : null' })
      if (prefix === 'ok') return Response.json({ blockID: '00' })
      return new Response('refused', { status: Number(prefix?.slice(1)) })
    },
  })
  afterAll(() => server.stop(true))
  const host = (prefix: string) => `http://127.0.0.1:${server.port}/${prefix}`
  const client = (...prefixes: string[]) =>
    createTronClient({ fullHosts: prefixes.map(host), timeoutMs: 1000, retryRounds: 1, backoffMs: 1 })
  const failure = async (...prefixes: string[]) => {
    const err = await client(...prefixes)
      .call('/wallet/getnowblock', {})
      .catch((e: unknown) => e)
    expect(isDriverError(err)).toBe(true)
    expect(err).toMatchObject({ code: 'RPC_ERROR', retryable: true })
    return (err as Error).cause
  }

  test('error: HTTP 500 and 429 from every node: RPC_ERROR caused by a retryable RPC_HTTP_ERROR', async () => {
    for (const status of [500, 503, 429]) {
      const cause = await failure(`s${status}`)
      expect(isDriverError(cause)).toBe(true)
      expect(cause).toMatchObject({
        code: 'RPC_HTTP_ERROR',
        retryable: true,
        message: `HTTP ${status}: refused`,
      })
    }
  })

  test('error: HTTP 400 from every node: RPC_ERROR caused by a non-retryable RPC_HTTP_ERROR', async () => {
    const cause = await failure('s400')
    expect(isDriverError(cause)).toBe(true)
    expect(cause).toMatchObject({ code: 'RPC_HTTP_ERROR', retryable: false })
  })

  test('error: a java-tron Error answer from every node: RPC_ERROR caused by a NODE_ERROR', async () => {
    const cause = await failure('error')
    expect(isDriverError(cause)).toBe(true)
    expect(cause).toMatchObject({
      code: 'NODE_ERROR',
      retryable: true,
      message: 'node error: class java.lang.NullPointerException : null',
    })
  })

  test('behavior: an HTTP error status or an Error answer still fails over to the next node', async () => {
    for (const first of ['s500', 's400', 's429', 'error'])
      expect(await client(first, 'ok').call('/wallet/getnowblock', {})).toEqual({ blockID: '00' })
  })
})

describe('decodeTransactionInfo on recorded mainnet bodies', () => {
  test('default: a USDT transfer: amount, from/to, contract, fee, energy — and the TronGrid page agrees', () => {
    const d = decodeTransactionInfo(info('0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99'))
    expect(d).toEqual({
      txHash: '0130dfde9281a48378109039ef512229d5359fbee2a8adbb17ad73aebc67ea99',
      block: 69316562n,
      result: 'SUCCESS',
      failed: false,
      fee: 26_420_100n,
      energyUsed: 130_285n,
      energyFee: 26_420_100n,
      netUsage: 345n,
      netFee: 0n,
      from: 'TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre',
      to: 'TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx',
      amount: 41_677_389n,
      contract: USDT_MAINNET,
      transfers: [
        {
          index: 0,
          contract: USDT_MAINNET,
          from: 'TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre',
          to: 'TXVj38D1XR3TPgSHTCZGC8wkLDAGqF1oqx',
          amount: 41_677_389n,
        },
      ],
    })
    for (const [id, body] of Object.entries(infos as Record<string, TronTxInfo>)) {
      const page = grid.find((t) => t.transaction_id === id)
      if (!page) continue
      const decoded = decodeTransactionInfo(body)
      expect([decoded.from, decoded.to, decoded.amount, decoded.contract]).toEqual([
        page.from,
        page.to,
        BigInt(page.value),
        page.token_info.address,
      ])
    }
  })

  test('default: every recorded USDT success decodes one transfer with the receipt numbers', () => {
    const d = decodeTransactionInfo(info('46710419b68bd4a87ad3227011874f34602d986a61c264676dfb70a06b5d24ed'))
    expect([d.amount, d.fee, d.energyUsed, d.energyFee, d.netFee, d.to]).toEqual([
      1000n,
      13_740_060n,
      31_895n,
      13_395_060n,
      345_000n,
      TronWeb.address.fromHex('4118314cd6beab3b324174395a40731cfdf07e857d'),
    ])
  })

  test('behavior: the OUT_OF_ENERGY failure decodes as failed with no transfer', () => {
    const d = decodeTransactionInfo(info('13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a'))
    expect(d).toMatchObject({
      result: 'OUT_OF_ENERGY',
      failed: true,
      fee: 0n,
      energyUsed: 16n,
      netUsage: 345n,
    })
    expect(d.transfers).toEqual([])
    expect(d.amount).toBeUndefined()
  })

  test('default: TRX transfers: the activation pays 1.1 TRX, a plain one only bandwidth', () => {
    expect(
      decodeTransactionInfo(info('3f8b651bdf4a301a08693a2fa4b0d5fd808927ad658aa279ba030215fecdd6b3')),
    ).toMatchObject({
      result: 'SUCCESS',
      failed: false,
      fee: 1_100_000n,
      netFee: 100_000n,
      transfers: [],
    })
    expect(
      decodeTransactionInfo(info('034897cb63856eeb5c224c5fa9ff5d4c94af36d9e1e9087d5bcc9fd665fb5a6d')),
    ).toMatchObject({
      fee: 0n,
      netUsage: 283n,
    })
  })
})

describe('scan against the stand-in node', () => {
  let node: TronNode
  let slow: TronNode
  let tw: TronWebClient
  const payer = TronWeb.fromMnemonic(mnemonic, "m/44'/195'/1'/0/0")
  const payerKey = payer.privateKey.slice(2)

  beforeAll(async () => {
    node = await startTronNode()
    slow = await startTronNode()
    tw = new TronWeb({ fullHost: node.url })
    node.fund(payer.address, 1_000_000_000n)
    node.mint(USDT_MAINNET, payer.address, 1_000_000_000n)
  })
  afterAll(async () => {
    await node.stop()
    await slow.stop()
  })

  const payTrx = async (to: string, sun: number) => {
    const signed = await tw.trx.sign(await tw.transactionBuilder.sendTrx(to, sun, payer.address), payerKey)
    expect((await tw.trx.sendRawTransaction(signed)).result).toBe(true)
    return signed.txID
  }
  const payUsdt = async (to: string, units: number, feeLimit = 100_000_000) => {
    const { transaction } = await tw.transactionBuilder.triggerSmartContract(
      USDT_MAINNET,
      'transfer(address,uint256)',
      { feeLimit },
      [
        { type: 'address', value: to },
        { type: 'uint256', value: units },
      ],
      payer.address,
    )
    const signed = await tw.trx.sign(transaction, payerKey)
    expect((await tw.trx.sendRawTransaction(signed)).result).toBe(true)
    return signed.txID
  }

  test('default: TRX and USDT into watched addresses; failed and unwatched ones are not reported', async () => {
    const driver = driverFor([node.url])
    const [a, b, c] = [0, 1, 2].map((i) => driver.deriveAddress({ xpub, index: i }).address) as [
      string,
      string,
      string,
    ]
    const from = BigInt(node.head() + 1)
    const trx = await payTrx(a, 3_000_000)
    const usdt = await payUsdt(b, 7_250_000)
    const failed = await payUsdt(b, 1_000_000, 1_000) // out of energy
    await payTrx(c, 1_000_000) // not watched
    node.mine(2)
    const asked = node.requests.length
    const res = await driver.scan({ from, to: from + 1n, watch: new Set([a, b].map(tronAddressKey)) })
    // senders cost no call: one block each, and the tx-infos of the block holding contract calls
    expect(node.requests.slice(asked).sort()).toEqual([
      '/wallet/getblockbynum',
      '/wallet/getblockbynum',
      '/wallet/gettransactioninfobyblocknum',
    ])
    expect(res.blocks.map((x) => x.height)).toEqual([from, from + 1n])
    expect(res.blocks[1]?.parentHash).toBe(res.blocks[0]!.hash)
    expect(res.transfers.map((t) => [t.txHash, t.index, t.asset, t.to, t.amount, t.block.height])).toEqual([
      [trx, -1, 'tron:0x2b6653dc/slip44:195', tronAddressKey(a), 3_000_000n, from],
      [usdt, 0, `tron:0x2b6653dc/trc20:${USDT_MAINNET}`, tronAddressKey(b), 7_250_000n, from],
    ])
    expect(res.transfers[0]?.from).toBe(tronAddressKey(payer.address))
    // the payer, in base58 as validateAddress normalizes it: TRX's owner; USDT's owner and event from, once
    expect(res.transfers.map((t) => t.senders)).toEqual([[payer.address], [payer.address]])
    expect(driver.validateAddress(tronAddressKey(payer.address))).toEqual({
      ok: true,
      normalized: payer.address,
    })
    const failedInfo = await (
      await fetch(`${node.url}/wallet/gettransactioninfobyid`, {
        method: 'POST',
        body: JSON.stringify({ value: failed }),
      })
    ).json()
    expect(failedInfo.receipt.result).toBe('OUT_OF_ENERGY')
    const tip = await driver.getTip()
    expect(tip.height).toBe(BigInt(node.head()))
    expect(await driver.getBlockRef(from)).toEqual(res.blocks[0]!)
  })

  test('behavior: a URL that times out or is down fails over to the next without skipping a block', async () => {
    slow.setDelay('*', 2_000)
    const driver = driverFor(['http://127.0.0.1:1', slow.url, node.url], { timeoutMs: 300, backoffMs: 10 })
    const to = driver.deriveAddress({ xpub, index: 9 }).address
    const from = BigInt(node.head() + 1)
    const tx = await payTrx(to, 2_000_000)
    node.mine(3)
    const t0 = Date.now()
    const res = await driver.scan({ from, to: from + 2n, watch: new Set([tronAddressKey(to)]) })
    expect(res.blocks.map((b) => b.height)).toEqual([from, from + 1n, from + 2n])
    expect(res.transfers.map((t) => t.txHash)).toEqual([tx])
    // the next call goes straight to the host that answered
    const before = slow.requests.length
    await driver.getTip()
    expect(slow.requests.length).toBe(before)
    expect(Date.now() - t0).toBeLessThan(5_000)
  })

  test('error: every node failing gives a retryable RPC_ERROR; a block past the tip BLOCK_NOT_FOUND', async () => {
    const dead = driverFor(['http://127.0.0.1:1'], { retryRounds: 2, backoffMs: 1 })
    const err = await dead.getTip().catch((e) => e)
    expect(isDriverError(err) && err.code === 'RPC_ERROR' && err.retryable).toBe(true)
    const live = driverFor([node.url])
    const missing = await live.getBlockRef(BigInt(node.head() + 100)).catch((e) => e)
    expect(isDriverError(missing) && missing.code === 'BLOCK_NOT_FOUND' && missing.retryable).toBe(true)
  })

  test('default: the API key travels as TRON-PRO-API-KEY', async () => {
    const seen: string[] = []
    const proxy = Bun.serve({
      port: 0,
      fetch: async (req) => {
        seen.push(req.headers.get('TRON-PRO-API-KEY') ?? '')
        return fetch(`${node.url}${new URL(req.url).pathname}`, { method: 'POST', body: await req.text() })
      },
    })
    try {
      const driver = driverFor([`http://127.0.0.1:${proxy.port}`], { apiKey: 'k-123' })
      expect((await driver.getTip()).height).toBe(BigInt(node.head()))
      expect(seen).toEqual(['k-123'])
    } finally {
      await proxy.stop(true)
    }
  })
})
