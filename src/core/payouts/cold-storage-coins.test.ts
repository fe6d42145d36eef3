import { afterAll, describe, expect, test } from 'bun:test'
import { and, asc, eq } from 'drizzle-orm'
import { regtestKey } from '../../../test/helpers/bcoin.ts'
import { openUnitDb, silentLog, toyChain, unitKeys, unitMerchant } from '../../../test/helpers/unit.ts'
import { coins, outboundTxs, senderNonces, withdrawals } from '../../db/schema/index.ts'
import { bitcoinAddressKey } from '../../plugins/bitcoin/address.ts'
import { buildPayout } from '../../plugins/bitcoin/build.ts'
import { feeFor } from '../../plugins/bitcoin/fees.ts'
import { createBitcoinDriver } from '../../plugins/bitcoin/index.ts'
import { bitcoinNetworks } from '../../plugins/bitcoin/networks.ts'
import { bitcoinOptionsSchema } from '../../plugins/bitcoin/options.ts'
import { p2wpkhSpendWeight, virtualSize } from '../../plugins/bitcoin/vsize.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { newId } from '../ids.ts'
import { moveExcessToCold } from './cold-storage.ts'
import { roleWallet } from './wallet-roles.ts'

const handle = await openUnitDb()
afterAll(() => handle.close())
const keys = unitKeys()
const ctx = { db: handle.db, xpubFor: keys.xpubFor }
const regtest = bitcoinNetworks.regtest
const coldAddress = regtestKey('cold storage').address

/** 2 sat/vB: the Bitcoin driver's own builder at a fixed rate (no node asked for an estimate). */
const feeRate = 2000n
const base = createBitcoinDriver(
  bitcoinOptionsSchema.parse({ network: 'regtest', rpcUrls: ['http://127.0.0.1:1'] }),
  { chain: 'regtest', log: { ...silentLog, debug() {} } },
)
const basePayouts = base.payouts as NonNullable<typeof base.payouts>
const driver = {
  ...base,
  payouts: {
    ...basePayouts,
    build: async (request: Parameters<typeof basePayouts.build>[0]) =>
      buildPayout(request, {
        network: regtest,
        maxOutputs: 100,
        feeRate,
        policy: { fallback: feeRate, max: 500_000n, minRelay: 1000n },
      }),
  },
} as unknown as LoadedChain['driver']
const btc = driver.nativeAsset.id

/** The fee at 2 sat/vB of a P2WPKH spend of `inputs` coins to `outputs` P2WPKH outputs. */
const fee = (inputs: number, outputs: number) =>
  feeFor(feeRate, virtualSize(p2wpkhSpendWeight(inputs, Array(outputs).fill(22))))

/** A Bitcoin chain of its own whose treasury holds coins of `amounts` (`c0…` as txids), with cold settings. */
async function setup(
  name: string,
  amounts: bigint[],
  cold: { float?: bigint; minMove?: bigint } = {},
): Promise<{ chain: LoadedChain; treasury: { address: string; path: string } }> {
  const chain: LoadedChain = {
    name,
    module: 'bitcoin',
    driver,
    settings: {
      ...toyChain({ name }).chain.settings,
      cold: {
        address: coldAddress,
        float: cold.float === undefined ? new Map() : new Map([[btc, cold.float]]),
        minMove: cold.minMove === undefined ? new Map() : new Map([[btc, cold.minMove]]),
      },
    },
  }
  const treasury = roleWallet(ctx, chain, 'treasury')
  if (amounts.length)
    await handle.db.insert(coins).values(
      amounts.map((amount, i) => ({
        chain: name,
        txid: txid(name, i),
        vout: 0,
        amount,
        script: bitcoinAddressKey(treasury.address, regtest),
        address: treasury.address,
        path: treasury.path,
        role: 'treasury' as const,
      })),
    )
  return { chain, treasury }
}

const txid = (name: string, i: number) =>
  new Bun.CryptoHasher('sha256').update(`${name}:${i}`).digest('hex') as string

const coldRows = (chain: LoadedChain) =>
  handle.db
    .select()
    .from(outboundTxs)
    .where(and(eq(outboundTxs.chain, chain.name), eq(outboundTxs.purpose, 'cold')))
    .orderBy(asc(outboundTxs.createdAt))

const coinStates = async (chain: LoadedChain) =>
  Object.fromEntries(
    (await handle.db.select().from(coins).where(eq(coins.chain, chain.name))).map((c) => [
      `${c.txid}:${c.vout}`,
      c.status,
    ]),
  )

describe('cold storage on a UTXO chain', () => {
  test('default: the treasury above its float goes to the cold address less the fee; the change keeps the float exactly', async () => {
    const { chain, treasury } = await setup('cold-default', [60_000_000n, 10_000_000n], {
      float: 30_000_000n,
    })
    expect(await moveExcessToCold(ctx, chain)).toBe(1)
    const [row, ...more] = await coldRows(chain)
    expect(more).toEqual([])
    // one coin covers it: one input, the cold output and the change
    const paid = fee(1, 2)
    expect(row).toMatchObject({
      status: 'built',
      fromAddress: treasury.address,
      asset: btc,
      nonce: null,
      amount: 40_000_000n - paid,
      maxFee: paid,
      spends: [`${txid('cold-default', 0)}:0`],
      changeVout: 1,
      changeAmount: 20_000_000n,
    })
    expect(row?.request).toMatchObject({
      kind: 'transfer',
      outputs: [{ to: coldAddress, amount: String(40_000_000n - paid) }],
      change: { path: `${treasury.path.replace(/\/0\/0$/, '')}/1/0` },
    })
    // what the treasury keeps (the coin not spent and the change) is its float, to the satoshi
    expect(10_000_000n + (row?.changeAmount ?? 0n)).toBe(30_000_000n)
    expect(await coinStates(chain)).toEqual({
      [`${txid('cold-default', 0)}:0`]: 'locked',
      [`${txid('cold-default', 1)}:0`]: 'available',
    })
  })

  test('default: a float of nothing sends every coin, less the fee, with no change', async () => {
    const { chain } = await setup('cold-all', [5_000_000n, 3_000_000n], { float: 0n })
    expect(await moveExcessToCold(ctx, chain)).toBe(1)
    const [row] = await coldRows(chain)
    const paid = fee(2, 1)
    expect(row).toMatchObject({ amount: 8_000_000n - paid, maxFee: paid, changeVout: null })
    expect(Object.values(await coinStates(chain))).toEqual(['locked', 'locked'])
  })

  test('default: withdrawals not built yet stay hot; built ones are paid by the coins they locked', async () => {
    const { chain } = await setup('cold-owed', [50_000_000n], { float: 10_000_000n })
    // the batched withdrawal's coin is locked by its transaction: not the treasury's to move or to count
    await handle.db.insert(coins).values({
      chain: chain.name,
      txid: txid('cold-owed', 9),
      vout: 0,
      amount: 4_500_000n,
      script: '0014'.padEnd(44, '1'),
      address: 'locked',
      path: 'm/84h',
      role: 'treasury',
      status: 'locked',
      lockedBy: 'otx_batch',
    })
    const merchantId = await unitMerchant(handle, 'Cold owed shop')
    const withdrawal = (chainName: string, status: string, amount: bigint) => ({
      id: newId('wd'),
      merchantId,
      chain: chainName,
      asset: btc,
      toAddress: regtestKey('payee').address,
      amount,
      status: status as 'QUEUED',
      idempotencyKey: newId('idem'),
      requestHash: 'h',
    })
    await handle.db
      .insert(withdrawals)
      .values([
        withdrawal(chain.name, 'SCREENING', 1_000_000n),
        withdrawal(chain.name, 'AWAITING_APPROVAL', 2_000_000n),
        withdrawal(chain.name, 'QUEUED', 3_000_000n),
        withdrawal(chain.name, 'BATCHED', 4_000_000n),
        withdrawal(chain.name, 'CONFIRMED', 5_000_000n),
        withdrawal(chain.name, 'FAILED', 6_000_000n),
        withdrawal('cold-elsewhere', 'QUEUED', 7_000_000n),
      ])
    expect(await moveExcessToCold(ctx, chain)).toBe(1)
    const [row] = await coldRows(chain)
    // kept: the float and the 6 000 000 the three withdrawals not built yet will take
    expect(row?.changeAmount).toBe(16_000_000n)
    expect(row?.amount).toBe(50_000_000n - 16_000_000n - fee(1, 2))
  })

  test('boundary: nothing moves until the excess covers the fee and the dust limit of the cold output', async () => {
    const paid = fee(1, 2)
    const short = await setup('cold-short', [10_000_000n + paid + 293n], { float: 10_000_000n })
    expect(await moveExcessToCold(ctx, short.chain)).toBe(0)
    expect(await coldRows(short.chain)).toEqual([])
    expect(Object.values(await coinStates(short.chain))).toEqual(['available'])
    // rolled back whole: no change address was used up
    const counters = await handle.db
      .select()
      .from(senderNonces)
      .where(eq(senderNonces.chain, short.chain.name))
    expect(counters).toEqual([])

    const enough = await setup('cold-enough', [10_000_000n + paid + 294n], { float: 10_000_000n })
    expect(await moveExcessToCold(ctx, enough.chain)).toBe(1)
    const [row] = await coldRows(enough.chain)
    expect(row).toMatchObject({ amount: 294n, maxFee: paid, changeAmount: 10_000_000n })
  })

  test('boundary: an excess below cold.minMove, or an asset without a float, stays in the treasury', async () => {
    const small = await setup('cold-min', [50_000_000n], { float: 10_000_000n, minMove: 40_000_000n })
    expect(await moveExcessToCold(ctx, small.chain)).toBe(0)
    const noFloat = await setup('cold-nofloat', [50_000_000n])
    expect(await moveExcessToCold(ctx, noFloat.chain)).toBe(0)
    expect([...(await coldRows(small.chain)), ...(await coldRows(noFloat.chain))]).toEqual([])
  })

  test('behavior: one cold move at a time: while one is open a pass builds nothing, once it settles the next one goes', async () => {
    const { chain, treasury } = await setup('cold-open', [20_000_000n], { float: 5_000_000n })
    expect(await moveExcessToCold(ctx, chain)).toBe(1)
    // more arrives while the first is in flight (a consolidation confirmed): it waits for the first
    await handle.db.insert(coins).values({
      chain: chain.name,
      txid: txid('cold-open', 1),
      vout: 0,
      amount: 30_000_000n,
      script: bitcoinAddressKey(treasury.address, regtest),
      address: treasury.address,
      path: treasury.path,
      role: 'treasury',
    })
    for (const status of ['built', 'signed', 'broadcast'] as const) {
      await handle.db.update(outboundTxs).set({ status }).where(eq(outboundTxs.chain, chain.name))
      expect(await moveExcessToCold(ctx, chain)).toBe(0)
    }
    expect((await coldRows(chain)).length).toBe(1)
    // it confirms: its change becomes a treasury coin, as settlement records it
    const [first] = await coldRows(chain)
    await handle.db.update(outboundTxs).set({ status: 'confirmed' }).where(eq(outboundTxs.id, first!.id))
    const change = first?.request?.change as { address: string; path: string }
    await handle.db.insert(coins).values({
      chain: chain.name,
      txid: txid('cold-open', 2),
      vout: 1,
      amount: first?.changeAmount ?? 0n,
      script: bitcoinAddressKey(change.address, regtest),
      address: change.address,
      path: change.path,
      role: 'treasury',
    })
    expect(await moveExcessToCold(ctx, chain)).toBe(1)
    const [, second] = await coldRows(chain)
    // the 30 000 000 coin alone pays it, with no change (it would be dust, so the fee takes it): the first
    // move's change coin stays, the float to the satoshi
    expect(second).toMatchObject({ status: 'built', changeVout: null })
    expect((second?.amount ?? 0n) + (second?.maxFee ?? 0n)).toBe(30_000_000n)
    expect(second?.maxFee).toBeLessThan(fee(1, 2) + 294n)
    expect(second?.spends).toEqual([`${txid('cold-open', 1)}:0`])
  })
})
