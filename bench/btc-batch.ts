// Bitcoin payouts: what batching saves (one 100-output transaction against 100 single payouts, sized by the
// driver's builder at a fixed fee rate and signed, no node), and the raw-block parse rate of the scanner on the
// 2,020-transaction mainnet block 481829 against bitcoinjs' own Block.fromHex in the same run.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Coin, UnsignedTx } from '@tollgate/sdk'
import { Block, Transaction } from 'bitcoinjs-lib'
import { createSigner } from '../src/core/payouts/signer.ts'
import { bitcoinAddressKey, scriptToAddress } from '../src/plugins/bitcoin/address.ts'
import { bitcoinAsset } from '../src/plugins/bitcoin/assets.ts'
import { type BuildConfig, buildPayout } from '../src/plugins/bitcoin/build.ts'
import { p2wpkhAddress } from '../src/plugins/bitcoin/derive.ts'
import { bitcoinNetworks } from '../src/plugins/bitcoin/networks.ts'
import { parseBlock, scanParseOptions } from '../src/plugins/bitcoin/parse.ts'
import type { BitcoinPayload } from '../src/plugins/bitcoin/payload.ts'
import { signPayout } from '../src/plugins/bitcoin/sign.ts'
import { fmt, median, report, table } from './lib.ts'

const network = bitcoinNetworks.mainnet
const payoutsCount = 100
const feeRate = 10_000n // 10 sat/vB
const parseRounds = Number(process.env.BENCH_PARSE_ROUNDS ?? 7)

type Sized = { vsize: number; realVsize: number; fee: bigint }

/** 100 payouts as one batch and as 100 single transactions, built and signed by the driver's code. */
export async function batchVersusSingles(): Promise<{ batch: Sized; singles: Sized; buildMs: number }> {
  const signer = createSigner('test test test test test test test test test test test junk')
  const account = "m/84'/0'/0'"
  const key = (chain: 0 | 1, i: number) => {
    const path = `${account}/${chain}/${i}`
    return { address: p2wpkhAddress(signer.publicKey(path), network), path }
  }
  const coin = (i: number, amount: bigint): Coin => ({
    txid: Buffer.alloc(32, (i % 250) + 1).toString('hex'),
    vout: i,
    amount,
    script: bitcoinAddressKey(key(0, i).address, network),
    path: key(0, i).path,
  })
  // recipients of every common type, as a gateway's withdrawals would be
  const templates = [
    `0014${'33'.repeat(20)}`,
    `76a914${'11'.repeat(20)}88ac`,
    `a914${'22'.repeat(20)}87`,
    `5120${'55'.repeat(32)}`,
  ]
  const outputs = Array.from({ length: payoutsCount }, (_, i) => ({
    to: scriptToAddress(Buffer.from(templates[i % templates.length] as string, 'hex'), network) as string,
    amount: 100_000n + BigInt(i) * 1000n,
  }))
  const config: BuildConfig = {
    network,
    maxOutputs: payoutsCount,
    feeRate,
    policy: { fallback: feeRate, max: 1_000_000n, minRelay: 1000n },
  }
  const base = { from: key(0, 0), asset: bitcoinAsset(network), change: key(1, 0) }
  const sized = async (tx: UnsignedTx) => {
    const signed = await signPayout(tx, signer)
    const p = tx.payload as unknown as BitcoinPayload
    return { vsize: p.vsize, realVsize: Transaction.fromHex(signed.raw).virtualSize(), fee: tx.maxFee }
  }
  const started = performance.now()
  const batchTx = buildPayout(
    { ...base, outputs, inputs: [coin(0, 50_000_000n), coin(1, 20_000_000n)] },
    config,
  )
  const batch = await sized(batchTx)
  const buildMs = performance.now() - started
  const singles: Sized = { vsize: 0, realVsize: 0, fee: 0n }
  for (const [i, out] of outputs.entries()) {
    const one = await sized(
      buildPayout({ ...base, outputs: [out], inputs: [coin(10 + i, 1_000_000n)] }, config),
    )
    singles.vsize += one.vsize
    singles.realVsize += one.realVsize
    singles.fee += one.fee
  }
  return { batch, singles, buildMs }
}

/**
 * Transactions per second: the scanner's parse (scripts only, as scan asks; and with addresses and wtxids, the
 * default) against bitcoinjs' Block.fromHex alone, and against Block.fromBuffer of natively decoded hex (most of
 * Block.fromHex's time is its JavaScript hex decoder).
 */
export function parseRates(): {
  txs: number
  ceiling: number
  fromBuffer: number
  scripts: number
  full: number
} {
  const dir = join(import.meta.dir, '..', 'test', 'fixtures', 'chain-data', 'bitcoin', 'blocks')
  const file = readdirSync(dir).find((f) => f.startsWith('btc_mainnet_481829_')) as string
  const raw = readFileSync(join(dir, file), 'utf8').trim()
  const txs = parseBlock(raw, network, scanParseOptions).txs.length
  const rate = (run: () => void) => {
    run()
    const times: number[] = []
    for (let i = 0; i < parseRounds; i++) {
      const t = performance.now()
      run()
      times.push(performance.now() - t)
    }
    return txs / (median(times) / 1000)
  }
  return {
    txs,
    ceiling: rate(() => Block.fromHex(raw)),
    fromBuffer: rate(() => Block.fromBuffer(Buffer.from(raw, 'hex'))),
    scripts: rate(() => parseBlock(raw, network, scanParseOptions)),
    full: rate(() => parseBlock(raw, network)),
  }
}

/** The markdown section for BENCHMARKS.md. */
export async function btcBatchBench(): Promise<string> {
  const { batch, singles, buildMs } = await batchVersusSingles()
  const parse = parseRates()
  const per = (n: number | bigint) => fmt(Number(n) / payoutsCount, 1)
  const sizes = table(
    ['100 payouts as', 'vB (computed)', 'vB (signed)', 'vB per payout', 'fee per payout (sat)', 'vs. batch'],
    [
      ['one 100-output transaction', batch.vsize, batch.realVsize, per(batch.vsize), per(batch.fee), '1.00×'],
      [
        '100 single transactions',
        singles.vsize,
        singles.realVsize,
        per(singles.vsize),
        per(singles.fee),
        `${fmt(Number(singles.fee) / Number(batch.fee), 2)}×`,
      ],
    ],
  )
  const rates = table(
    ['parse of block 481829 (2,020 txs)', 'txs per second', 'of Block.fromHex'],
    [
      ['bitcoinjs Block.fromHex only (ceiling)', fmt(parse.ceiling, 0), '1.00'],
      [
        'bitcoinjs Block.fromBuffer of Buffer.from(hex)',
        fmt(parse.fromBuffer, 0),
        fmt(parse.fromBuffer / parse.ceiling, 2),
      ],
      [
        'parseBlock, scripts only (what scan uses)',
        fmt(parse.scripts, 0),
        fmt(parse.scripts / parse.ceiling, 2),
      ],
      [
        'parseBlock with addresses and wtxids (default)',
        fmt(parse.full, 0),
        fmt(parse.full / parse.ceiling, 2),
      ],
    ],
  )
  return `${sizes}

At ${feeRate / 1000n} sat/vB, P2WPKH inputs, recipients cycling P2WPKH/P2PKH/P2SH/P2TR, each single payout with a
change output. "Computed" is the builder's size at 72-byte signatures (what the fee is charged on); "signed" is the
real size after signing (never larger). Building and signing the 100-output batch: ${fmt(buildMs, 1)} ms.

${rates}

parseBlock deserializes with bitcoinjs' Block.fromBuffer and adds the txids (native SHA-256 over the block's own
bytes), the merkle-root check and output script hex; the default adds wtxids and an address per output. Most of
Block.fromHex's time is its JavaScript hex decoder, which parseBlock replaces with Buffer.from.`
}

if (import.meta.main)
  report('Bitcoin batch payouts and block parsing (bench/btc-batch.ts)', await btcBatchBench())
