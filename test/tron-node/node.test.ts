import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { TronWeb as TronWebClient } from 'tronweb'
import trongrid from '../fixtures/chain-data/tron/trongrid_v1/ledger_v1_accounts_TL24LCps_transactions_trc20_SUBSET.json'
import shasta from '../fixtures/chain-data/tron/wallet_http/aiotx_shasta_wallet_http_interactions.json'
import resources from '../fixtures/chain-data/tron/wallet_http/ledger_getaccountresource_mainnet.json'
import infos from '../fixtures/chain-data/tron/wallet_http/ledger_gettransactioninfobyid_mainnet_SUBSET.json'
import { TronWeb } from '../helpers/tronweb.ts'
import { recoverSigner, transactionBytes, txIdOf } from './chain.ts'
import { decodeRaw, encodeRaw } from './proto.ts'
import { startTronNode, type TronNode, USDT_MAINNET } from './server.ts'

const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const wallet = (i: number) => {
  const w = TronWeb.fromMnemonic(mnemonic, `m/44'/195'/0'/0/${i}`)
  return { address: w.address, key: w.privateKey.replace(/^0x/, '') }
}
const alice = wallet(0)
const bob = wallet(1)
const carol = wallet(2)
const gina = wallet(6)

let node: TronNode
let tw: TronWebClient

const post = async (path: string, body: unknown = {}) =>
  (await fetch(`${node.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>
const hexText = (h: string) => Buffer.from(h, 'hex').toString('utf8')

/** Key → type tree of a JSON value, for shape comparisons (array elements: the first one's shape). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : []
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, shape(x)]),
    )
  return typeof v
}

const grid = (trongrid as any).TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre.data as any[]
const realUsdt = grid.find((t) => t.transaction_id.startsWith('0130dfde'))!.detail
const shastaBroadcasts = (shasta as any[]).filter((i) => i.uri.endsWith('/broadcasttransaction'))

async function sendTrx(from: { address: string; key: string }, to: string, sun: number) {
  const tx = await tw.transactionBuilder.sendTrx(to, sun, from.address)
  return tw.trx.sign(tx, from.key)
}
async function usdtTransfer(
  from: { address: string; key: string },
  to: string,
  units: number,
  feeLimit: number,
) {
  const { transaction } = await tw.transactionBuilder.triggerSmartContract(
    USDT_MAINNET,
    'transfer(address,uint256)',
    { feeLimit },
    [
      { type: 'address', value: to },
      { type: 'uint256', value: units },
    ],
    from.address,
  )
  return tw.trx.sign(transaction, from.key)
}
const usdtBalance = async (who: string) => {
  const r = await tw.transactionBuilder.triggerConstantContract(
    USDT_MAINNET,
    'balanceOf(address)',
    {},
    [{ type: 'address', value: who }],
    alice.address,
  )
  return BigInt(`0x${r.constant_result[0]}`)
}

beforeAll(async () => {
  node = await startTronNode()
  tw = new TronWeb({ fullHost: node.url })
  node.fund(alice.address, 1_000_000_000n)
  node.mint(USDT_MAINNET, alice.address, 100_000_000n)
  // alice pays bandwidth from stake (like the recorded USDT sender); gina has only the free 600 bytes
  node.stake(alice.address, { bandwidth: 100_000n })
  node.fund(gina.address, 100_000_000n)
})
afterAll(() => node.stop())

describe('protobuf and crypto against real transactions', () => {
  test('default: decoding and re-encoding recorded raw_data_hex gives the same bytes and txID', () => {
    const recorded = [realUsdt, ...shastaBroadcasts.map((b) => b.request_body)]
    for (const tx of recorded) {
      const again = Buffer.from(encodeRaw(decodeRaw(Buffer.from(tx.raw_data_hex, 'hex')))).toString('hex')
      expect(again).toBe(tx.raw_data_hex)
      expect(txIdOf(tx.raw_data_hex)).toBe(tx.txID)
    }
  })

  test('default: recorded signatures (v = 0/1) recover to the owner address', () => {
    expect(recoverSigner(realUsdt.txID, realUsdt.signature[0])).toBe(
      '416e3b44b96104b26f84057974a1f0c9880f7c9b13',
    )
    for (const b of shastaBroadcasts)
      expect(TronWeb.address.fromHex(recoverSigner(b.request_body.txID, b.request_body.signature[0])!)).toBe(
        'TEZQQ5BXq3nFKUFJknoV15CW24twzH81La',
      )
  })

  test('default: the bandwidth formula gives the recorded net_usage of a real USDT transfer (345)', () => {
    expect(transactionBytes(realUsdt.raw_data_hex, realUsdt.signature)).toBe(345n)
    expect(realUsdt.net_usage).toBe(345)
  })
})

describe('broadcast verification', () => {
  test('behavior: a real mainnet transaction passes txID and signature checks, then fails TAPOS', async () => {
    const res = await post('/wallet/broadcasttransaction', {
      raw_data_hex: realUsdt.raw_data_hex,
      raw_data: realUsdt.raw_data,
      signature: realUsdt.signature,
      txID: realUsdt.txID,
      visible: false,
    })
    expect(res).toEqual({ code: 'TAPOS_ERROR', txid: realUsdt.txID, message: expect.any(String) })
    expect(hexText(res.message)).toBe('Tapos check error.')
  })

  test('error: one tampered byte of raw_data_hex gives SIGERROR', async () => {
    const hex = realUsdt.raw_data_hex as string
    const i = hex.indexOf('027bf24d') // the amount
    const tampered = `${hex.slice(0, i)}027bf24e${hex.slice(i + 8)}`
    for (const txID of [realUsdt.txID, txIdOf(tampered)]) {
      const res = await post('/wallet/broadcasttransaction', {
        raw_data_hex: tampered,
        signature: realUsdt.signature,
        txID,
      })
      expect(res.code).toBe('SIGERROR')
      expect(hexText(res.message)).toStartWith('Validate signature error: ')
    }
  })

  test('error: a transaction signed by another key gives SIGERROR', async () => {
    const tx = await tw.transactionBuilder.sendTrx(bob.address, 1_000_000, alice.address)
    const forged = await tw.trx.sign(
      await tw.transactionBuilder.sendTrx(alice.address, 1_000_000, bob.address),
      bob.key,
    )
    // bob's signature on alice's transaction
    const res = await tw.trx.sendRawTransaction({ ...tx, signature: forged.signature })
    expect(res.code).toBe('SIGERROR')
  })

  test('error: an expired transaction gives TRANSACTION_EXPIRATION_ERROR, a replay DUP_TRANSACTION_ERROR', async () => {
    const stale = await sendTrx(alice, carol.address, 1_000_000)
    node.mine(21) // 63 s of block time > the 60 s expiration window
    const expired = await tw.trx.sendRawTransaction(stale)
    expect(expired.code).toBe('TRANSACTION_EXPIRATION_ERROR')
    expect(hexText(expired.message)).toBe('Transaction expired')

    const fresh = await sendTrx(alice, carol.address, 1_000_000)
    expect((await tw.trx.sendRawTransaction(fresh)).result).toBe(true)
    const again = await tw.trx.sendRawTransaction(fresh)
    expect(again.code).toBe('DUP_TRANSACTION_ERROR')
    node.mine()
    expect((await tw.trx.sendRawTransaction(fresh)).code).toBe('DUP_TRANSACTION_ERROR')
  })

  test('error: too little TRX gives CONTRACT_VALIDATE_ERROR, no TRX for the activation bandwidth BANDWITH_ERROR', async () => {
    const tooMuch = await sendTrx(alice, bob.address, 10_000_000_000)
    const res = await tw.trx.sendRawTransaction(tooMuch)
    expect(res.code).toBe('CONTRACT_VALIDATE_ERROR')
    expect(hexText(res.message)).toBe(
      'Contract validate error : Validate TransferContract error, balance is not sufficient.',
    )
    const poor = wallet(7)
    node.fund(poor.address, 50_000n) // less than the 0.1 TRX an account-creating transfer burns for bandwidth
    const activation = await sendTrx(poor, wallet(8).address, 10_000)
    expect((await tw.trx.sendRawTransaction(activation)).code).toBe('BANDWITH_ERROR')
  })
})

describe('tronweb against the stand-in', () => {
  test('default: TRX transfer to a new account: 1 TRX activation + 0.1 TRX bandwidth, shaped like the recording', async () => {
    const before = BigInt(await tw.trx.getBalance(gina.address))
    const dave = wallet(3)
    const signed = await sendTrx(gina, dave.address, 5_000_000)
    expect((await tw.trx.sendRawTransaction(signed)).result).toBe(true)
    node.mine()
    expect(await tw.trx.getBalance(dave.address)).toBe(5_000_000)
    expect(BigInt(await tw.trx.getBalance(gina.address))).toBe(before - 5_000_000n - 1_100_000n)
    const info = await post('/wallet/gettransactioninfobyid', { value: signed.txID })
    const recorded = (infos as any)['3f8b651bdf4a301a08693a2fa4b0d5fd808927ad658aa279ba030215fecdd6b3']
    expect(shape(info)).toEqual(shape(recorded))
    expect(info.fee).toBe(recorded.fee)
    expect(info.receipt).toEqual(recorded.receipt)

    // to an existing account: free bandwidth, no fee — like the recorded 0348… transfer
    const second = await sendTrx(gina, dave.address, 1_000_000)
    await tw.trx.sendRawTransaction(second)
    node.mine()
    const plain = await post('/wallet/gettransactioninfobyid', { value: second.txID })
    expect(shape(plain)).toEqual(
      shape((infos as any)['034897cb63856eeb5c224c5fa9ff5d4c94af36d9e1e9087d5bcc9fd665fb5a6d']),
    )
    const block = await post('/wallet/getblockbynum', { num: plain.blockNumber })
    expect(block.transactions[0].ret).toEqual([{ contractRet: 'SUCCESS' }])
    expect(block.transactions[0].raw_data.contract[0].parameter.value).toEqual({
      amount: 1_000_000,
      owner_address: TronWeb.address.toHex(gina.address).toLowerCase(),
      to_address: TronWeb.address.toHex(dave.address).toLowerCase(),
    })
  })

  test('default: USDT transfer emits a Transfer log and a receipt shaped like the recorded one', async () => {
    const signed = await usdtTransfer(alice, bob.address, 2_500_000, 100_000_000)
    expect((await tw.trx.sendRawTransaction(signed)).result).toBe(true)
    node.mine()
    expect(await usdtBalance(bob.address)).toBe(2_500_000n)
    const info = await post('/wallet/gettransactioninfobyid', { value: signed.txID })
    const recorded = (infos as any)['225e55c40beaba52e7843b5d314ba830457824c8cd80a24f45dd3729d75c6263']
    expect(shape(info)).toEqual(shape(recorded))
    expect(info.receipt).toEqual({
      energy_fee: 29_650 * 210,
      energy_usage_total: 29_650,
      net_usage: 345,
      result: 'SUCCESS',
    })
    expect(info.log[0].topics[0]).toBe(recorded.log[0].topics[0])
    expect(info.log[0].address).toBe(recorded.log[0].address)
    expect(info.log[0].topics[2]).toBe(
      `000000000000000000000000${TronWeb.address.toHex(bob.address).slice(2).toLowerCase()}`,
    )
    expect(BigInt(`0x${info.log[0].data}`)).toBe(2_500_000n)
    // the second transfer to a holder is cheaper (no new storage slot)
    const again = await usdtTransfer(alice, bob.address, 1, 100_000_000)
    await tw.trx.sendRawTransaction(again)
    node.mine()
    expect(
      (await post('/wallet/gettransactioninfobyid', { value: again.txID })).receipt.energy_usage_total,
    ).toBe(14_650)
  })

  test('behavior: out of energy is included as FAILED, burns, transfers nothing — like the recorded failure', async () => {
    // the recorded failure: 16 staked energy, no TRX to burn, fee_limit above 16 units
    const erin = wallet(4)
    node.fund(erin.address, 0n)
    node.mint(USDT_MAINNET, erin.address, 10_000_000n)
    node.stake(erin.address, { energy: 16n })
    const signed = await usdtTransfer(erin, bob.address, 1_000_000, 50_000_000)
    expect((await tw.trx.sendRawTransaction(signed)).result).toBe(true)
    node.mine()
    const info = await post('/wallet/gettransactioninfobyid', { value: signed.txID })
    const recorded = (infos as any)['13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a']
    const { energy_penalty_total: _, ...recordedReceipt } = recorded.receipt
    expect(shape(info)).toEqual(shape({ ...recorded, receipt: recordedReceipt }))
    expect(info.receipt).toEqual(recordedReceipt)
    expect(info.result).toBe('FAILED')
    expect(await usdtBalance(erin.address)).toBe(10_000_000n)
    const block = await post('/wallet/getblockbynum', { num: info.blockNumber })
    expect(block.transactions[0].ret).toEqual([{ contractRet: 'OUT_OF_ENERGY' }])

    // with TRX but a fee_limit too low: the fee_limit is burned
    node.fund(erin.address, 50_000_000n)
    const low = await usdtTransfer(erin, bob.address, 1_000_000, 1_000_000)
    await tw.trx.sendRawTransaction(low)
    node.mine()
    const lowInfo = await post('/wallet/gettransactioninfobyid', { value: low.txID })
    expect(lowInfo.receipt.result).toBe('OUT_OF_ENERGY')
    // fee_limit caps the energy (staked included); all of it is used up, the burned part within the limit
    expect(lowInfo.receipt.energy_usage_total).toBe(Math.floor(1_000_000 / 210))
    expect(lowInfo.receipt.energy_fee).toBeLessThanOrEqual(1_000_000)
    expect(lowInfo.fee).toBe(lowInfo.receipt.energy_fee + (lowInfo.receipt.net_fee ?? 0))
    expect(await usdtBalance(erin.address)).toBe(10_000_000n)
  })

  test('default: delegated energy pays a transfer without burning TRX', async () => {
    const frank = wallet(5)
    node.stake(alice.address, { frozenEnergySun: 10_000_000_000n })
    node.fund(frank.address, 1_000_000n)
    node.mint(USDT_MAINNET, frank.address, 5_000_000n)
    const tx = await post('/wallet/delegateresource', {
      owner_address: alice.address,
      receiver_address: frank.address,
      balance: 5_000_000_000,
      resource: 'ENERGY',
    })
    const signed = await tw.trx.sign(tx, alice.key)
    expect((await post('/wallet/broadcasttransaction', signed)).result).toBe(true)
    node.mine()
    const res = await post('/wallet/getaccountresource', { address: frank.address })
    expect(res.EnergyLimit).toBe(5_000 * 11)
    for (const [k, v] of Object.entries(res)) {
      const recorded = (resources as any)['416e3b44b96104b26f84057974a1f0c9880f7c9b13'][k]
      if (recorded !== undefined) expect(typeof v).toBe(typeof recorded)
    }
    const pay = await usdtTransfer(frank, bob.address, 1_000_000, 100_000_000)
    await tw.trx.sendRawTransaction(pay)
    node.mine()
    const info = await post('/wallet/gettransactioninfobyid', { value: pay.txID })
    expect(info.receipt).toEqual({
      energy_usage: 14_650,
      energy_usage_total: 14_650,
      net_usage: 345,
      result: 'SUCCESS',
    })
    expect(await tw.trx.getBalance(frank.address)).toBe(1_000_000)
  })
})

/** The serialized signed `Transaction` (raw_data, signatures) that `/wallet/broadcasthex` takes. */
function signedHex(tx: { raw_data_hex: string; signature: string[] }): string {
  const field = (tag: number, hex: string) => {
    let n = hex.length / 2
    const len: number[] = []
    while (n >= 0x80) {
      len.push((n & 0x7f) | 0x80)
      n >>= 7
    }
    len.push(n)
    return tag.toString(16).padStart(2, '0') + Buffer.from(len).toString('hex') + hex
  }
  return field(0x0a, tx.raw_data_hex) + tx.signature.map((s) => field(0x12, s)).join('')
}

describe('sending endpoints added for the payout driver', () => {
  test('default: broadcasthex takes the serialized transaction; code and text message like java-tron; pending pool until mined', async () => {
    const signed = await sendTrx(gina, carol.address, 1_000)
    const res = await post('/wallet/broadcasthex', { transaction: signedHex(signed) })
    expect(res).toMatchObject({ result: true, code: 'SUCCESS', txid: signed.txID, message: '' })
    const pending = await post('/wallet/gettransactionfrompending', { value: signed.txID })
    expect(pending.txID).toBe(signed.txID)
    expect(pending.raw_data_hex).toBe(signed.raw_data_hex)
    expect(await post('/wallet/gettransactionbyid', { value: signed.txID })).toEqual({})
    const dup = await post('/wallet/broadcasthex', { transaction: signedHex(signed) })
    expect(dup).toMatchObject({ result: false, code: 'DUP_TRANSACTION_ERROR', message: 'Dup transaction.' })
    node.mine()
    expect(await post('/wallet/gettransactionfrompending', { value: signed.txID })).toEqual({})
    expect((await post('/wallet/gettransactionbyid', { value: signed.txID })).txID).toBe(signed.txID)
    const forged = { ...signed, signature: [`${(signed.signature[0] as string).slice(0, 120)}0000000000`] }
    const bad = await post('/wallet/broadcasthex', { transaction: signedHex(forged) })
    expect(bad).toMatchObject({ result: false, code: 'SIGERROR' })
    expect(bad.message).toStartWith('Validate signature error')
    expect(await post('/wallet/broadcasthex', { transaction: 'zz' })).toHaveProperty('Error')
  })

  test('default: getchainparameters lists the fee parameters the stand-in charges', async () => {
    const { chainParameter } = await post('/wallet/getchainparameters')
    const byKey = Object.fromEntries(chainParameter.map((p: any) => [p.key, p.value]))
    expect(byKey).toMatchObject({
      getEnergyFee: 210,
      getTransactionFee: 1000,
      getCreateAccountFee: 100_000,
      getCreateNewAccountFeeInSystemContract: 1_000_000,
      getFreeNetLimit: 600,
    })
  })

  test("behavior: getdelegatedresourcev2 lists one owner's delegation to one receiver; totals agree with java-tron's energy formula", async () => {
    const owner = wallet(9)
    const receiver = wallet(10)
    node.fund(owner.address, 10_000_000n)
    node.stake(owner.address, { frozenEnergySun: 3_000_000_000n })
    node.fund(receiver.address, 1n)
    const delegate = async (path: string, balance: number) => {
      const tx = await post(path, {
        owner_address: owner.address,
        receiver_address: receiver.address,
        balance,
        resource: 'ENERGY',
      })
      const signed = await tw.trx.sign(tx, owner.key)
      expect((await post('/wallet/broadcasthex', { transaction: signedHex(signed) })).result).toBe(true)
      node.mine()
    }
    await delegate('/wallet/delegateresource', 2_000_000_000)
    const listed = await post('/wallet/getdelegatedresourcev2', {
      fromAddress: owner.address,
      toAddress: receiver.address,
      visible: true,
    })
    expect(listed).toEqual({
      delegatedResource: [
        { from: owner.address, to: receiver.address, frozen_balance_for_energy: 2_000_000_000 },
      ],
    })
    const res = await post('/wallet/getaccountresource', { address: receiver.address })
    expect(res.EnergyLimit).toBe(Math.floor((2000 * res.TotalEnergyLimit) / res.TotalEnergyWeight))
    // another owner's delegation cannot be taken back by this one
    expect(
      await post('/wallet/getdelegatedresourcev2', {
        fromAddress: alice.address,
        toAddress: receiver.address,
      }),
    ).toEqual({})
    await delegate('/wallet/undelegateresource', 2_000_000_000)
    expect(
      await post('/wallet/getdelegatedresourcev2', {
        fromAddress: owner.address,
        toAddress: receiver.address,
      }),
    ).toEqual({})
  })
})

describe('shapes of build endpoints', () => {
  test('default: createtransaction and triggersmartcontract (visible) answer like Shasta', async () => {
    const recorded = (shasta as any[]).find((i) => i.uri.endsWith('/createtransaction')).response_body
    const mine = await post('/wallet/createtransaction', {
      owner_address: alice.address,
      to_address: bob.address,
      amount: 1_000_000,
      visible: true,
    })
    expect(shape(mine)).toEqual(shape(recorded))
    expect(txIdOf(mine.raw_data_hex)).toBe(mine.txID)
    const trig = (shasta as any[]).find((i) => i.uri.endsWith('/triggersmartcontract')).response_body
    const mineTrig = await post('/wallet/triggersmartcontract', {
      owner_address: alice.address,
      contract_address: USDT_MAINNET,
      function_selector: 'transfer(address,uint256)',
      parameter: `000000000000000000000000${TronWeb.address.toHex(bob.address).slice(2)}${1n.toString(16).padStart(64, '0')}`,
      fee_limit: 15_000_000_000,
      call_value: 0,
      visible: true,
    })
    expect(shape(mineTrig)).toEqual(shape(trig))
  })

  test('error: build errors read like Shasta', async () => {
    const poor = (shasta as any[]).find((i) =>
      i.response_body.Error?.includes('not sufficient'),
    ).response_body
    expect(
      await post('/wallet/createtransaction', {
        owner_address: alice.address,
        to_address: bob.address,
        amount: 99_999_999_999_000_000,
        visible: true,
      }),
    ).toEqual(poor)
    const unset = (shasta as any[]).find((i) =>
      i.response_body.result?.message?.includes("isn't set"),
    ).response_body
    expect(
      await post('/wallet/triggersmartcontract', {
        owner_address: alice.address,
        contract_address: '',
        function_selector: 'transfer(address,uint256)',
        parameter: '',
        visible: true,
      }),
    ).toEqual(unset)
  })
})

describe('controls', () => {
  test('behavior: the solidity node lags the head by 19 blocks, configurable', async () => {
    const head = (await post('/wallet/getnowblock')).block_header.raw_data.number
    expect((await post('/walletsolidity/getnowblock')).block_header.raw_data.number).toBe(head - 19)
    expect(await post('/walletsolidity/getblockbynum', { num: head })).toEqual({})
    node.setSolidityLag(0)
    expect((await post('/walletsolidity/getnowblock')).block_header.raw_data.number).toBe(head)
    node.setSolidityLag(19)
  })

  test('behavior: blocks link by parentHash and number-prefixed ids', async () => {
    const head = await post('/wallet/getnowblock')
    const parent = await post('/wallet/getblockbynum', { num: head.block_header.raw_data.number - 1 })
    expect(head.block_header.raw_data.parentHash).toBe(parent.blockID)
    expect(BigInt(`0x${head.blockID.slice(0, 16)}`)).toBe(BigInt(head.block_header.raw_data.number))
    expect(await post('/wallet/getblockbyid', { value: parent.blockID })).toEqual(parent)
    expect(await post('/wallet/getblockbynum', { num: 10_000_000 })).toEqual({})
  })

  test('behavior: setDelay and setFailure affect matching paths only', async () => {
    node.setFailure('/wallet/getnowblock', 503)
    expect((await fetch(`${node.url}/wallet/getnowblock`, { method: 'POST' })).status).toBe(503)
    expect(
      (await fetch(`${node.url}/wallet/getblockbynum`, { method: 'POST', body: '{"num":1}' })).status,
    ).toBe(200)
    node.setFailure('/wallet/getnowblock', undefined)
    node.setDelay('/wallet/getnowblock', 300)
    const t0 = Date.now()
    await post('/wallet/getnowblock')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290)
    node.setDelay('/wallet/getnowblock', 0)
  })
})
