import { type BuildRequest, type Coin, DriverError, type UnsignedTx } from '@tollgate/sdk'
import { decodeBitcoinAddress, type ScriptType, scriptType } from './address.ts'
import { dustLimit } from './dust.ts'
import { type FeePolicy, type FeeRate, feeFor, formatRate } from './fees.ts'
import type { BitcoinNetwork } from './networks.ts'
import { type BitcoinPayload, type PayloadOutput, rbfSequence, readPayload } from './payload.ts'
import { largestFirst, type Selection, selectCoins } from './select.ts'
import { maxStandardWeight, p2wpkhSpendWeight, virtualSize } from './vsize.ts'

/** What building needs besides the request: the network, the output cap and the fee rate already chosen. */
export type BuildConfig = {
  network: BitcoinNetwork
  maxOutputs: number
  /** sat/kvB to build with (the estimate or fallback, bumped for a replacement). */
  feeRate: FeeRate
  policy: FeePolicy
}

type Destination = { address: string; script: string; type: ScriptType; amount: bigint }

const refuse = (code: string, message: string, retryable = false) =>
  new DriverError(code, message, { retryable })

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const outpoint = (c: { txid: string; vout: number }) => `${c.txid}:${c.vout}`

function decode(address: string, network: BitcoinNetwork, what: string) {
  const decoded = decodeBitcoinAddress(address, network)
  if (!decoded.ok) throw refuse('BAD_ADDRESS', `${what} ${address}: ${decoded.reason}`)
  return decoded.value
}

/** The requested outputs decoded, each at or above its type's dust limit (a sweep's amount is set later). */
function destinations(request: BuildRequest, network: BitcoinNetwork): Destination[] {
  return request.outputs.map((o, i) => {
    const d = decode(o.to, network, `output ${i}:`)
    const out = { address: d.normalized, script: hex(d.script), type: d.type, amount: o.amount }
    if (request.sweepAll) return out
    if (typeof o.amount !== 'bigint' || o.amount < dustLimit[d.type])
      throw refuse(
        'DUST_OUTPUT',
        `output ${i} pays ${o.amount} sat to a ${d.type} address, below its dust limit of ${dustLimit[d.type]} sat`,
      )
    return out
  })
}

/** The offered coins, checked: P2WPKH outputs, positive amounts, each outpoint once. */
function checkedCoins(coins: readonly Coin[]): Coin[] {
  const seen = new Set<string>()
  for (const c of coins) {
    const key = outpoint(c)
    if (seen.has(key)) throw refuse('BAD_COIN', `coin ${key} is offered twice`)
    seen.add(key)
    if (!/^[0-9a-f]{64}$/.test(c.txid) || !Number.isInteger(c.vout) || c.vout < 0)
      throw refuse('BAD_COIN', `coin ${key} is not an outpoint`)
    if (scriptType(Buffer.from(c.script, 'hex')) !== 'p2wpkh' || !/^[0-9a-f]+$/.test(c.script))
      throw refuse(
        'BAD_COIN',
        `coin ${key} is not a P2WPKH output (script ${c.script}): only P2WPKH is spent`,
      )
    if (c.amount <= 0n) throw refuse('BAD_COIN', `coin ${key} has no value`)
  }
  return [...coins]
}

function payloadOf(
  inputs: readonly Coin[],
  outputs: readonly PayloadOutput[],
  change: { address: string; path: string; script: string; amount: bigint } | null,
  sel: Pick<Selection, 'fee' | 'weight' | 'vsize'>,
  sweep: boolean,
  feeRate: FeeRate,
): BitcoinPayload {
  const all = change
    ? [...outputs, { address: change.address, script: change.script, amount: change.amount.toString() }]
    : [...outputs]
  return {
    kind: 'bitcoin/p2wpkh-spend',
    version: 2,
    locktime: 0,
    sequence: rbfSequence,
    inputs: inputs.map((c) => ({
      txid: c.txid,
      vout: c.vout,
      amount: c.amount.toString(),
      script: c.script,
      path: c.path,
    })),
    outputs: all,
    change: change
      ? { vout: outputs.length, address: change.address, path: change.path, amount: change.amount.toString() }
      : null,
    sweep,
    fee: sel.fee.toString(),
    weight: sel.weight,
    vsize: sel.vsize,
    feeRate: feeRate.toString(),
  }
}

function unsignedOf(payload: BitcoinPayload, amounts: readonly bigint[]): UnsignedTx {
  // readPayload re-checks the arithmetic (inputs − outputs = fee) of what is about to be stored
  const p = readPayload(payload)
  const tx: UnsignedTx = {
    payload: p as unknown as Record<string, unknown>,
    maxFee: BigInt(p.fee),
    amounts,
    spends: p.inputs.map(outpoint),
  }
  if (p.change) tx.change = { vout: p.change.vout, amount: BigInt(p.change.amount) }
  return tx
}

/** A sweep of `coins` to one destination: every coin, one output, the fee out of it. */
function sweep(
  coins: readonly Coin[],
  to: Destination,
  minFee: (vsize: number) => bigint,
  feeRate: FeeRate,
): UnsignedTx {
  const weight = p2wpkhSpendWeight(coins.length, [to.script.length / 2])
  if (weight > maxStandardWeight)
    throw refuse(
      'TX_TOO_LARGE',
      `sweeping ${coins.length} coins would weigh ${weight} WU, above the standard ${maxStandardWeight}`,
    )
  const vsize = virtualSize(weight)
  const fee = minFee(vsize)
  const total = coins.reduce((s, c) => s + c.amount, 0n)
  const amount = total - fee
  if (amount < dustLimit[to.type])
    throw refuse(
      'INSUFFICIENT_FUNDS',
      `${coins.length} coins hold ${total} sat: after a fee of ${fee} sat, ${amount} sat is below the dust limit`,
      true,
    )
  const output = { address: to.address, script: to.script, amount: amount.toString() }
  return unsignedOf(payloadOf(coins, [output], null, { fee, weight, vsize }, true, feeRate), [amount])
}

/** The change destination of a request (any standard type; the gateway's own are P2WPKH). */
function changeOf(change: BuildRequest['change'], network: BitcoinNetwork) {
  if (!change) throw refuse('BAD_REQUEST', 'a UTXO payout needs a change address')
  const d = decode(change.address, network, 'change address')
  return { address: d.normalized, path: change.path, script: hex(d.script), dust: dustLimit[d.type] }
}

/** Spends chosen by `selectCoins`, paying `recipients` and change, as an UnsignedTx. */
function spend(
  fixed: readonly Coin[],
  candidates: readonly Coin[],
  recipients: readonly Destination[],
  change: ReturnType<typeof changeOf>,
  minFee: (vsize: number) => bigint,
  feeRate: FeeRate,
): { tx: UnsignedTx; selection: Selection } {
  const selection = selectCoins({
    fixed,
    candidates,
    recipients: recipients.map((r) => ({ scriptLength: r.script.length / 2, amount: r.amount })),
    change: { scriptLength: change.script.length / 2, dust: change.dust },
    minFee,
  })
  const outputs = recipients.map((r) => ({
    address: r.address,
    script: r.script,
    amount: r.amount.toString(),
  }))
  const changeOut = selection.change === null ? null : { ...change, amount: selection.change }
  const payload = payloadOf(selection.inputs, outputs, changeOut, selection, false, feeRate)
  return {
    tx: unsignedOf(
      payload,
      recipients.map((r) => r.amount),
    ),
    selection,
  }
}

/**
 * A replacement (BIP125) of `request.replaces`: the same inputs (more from `request.inputs` only if the change
 * cannot absorb the bump), the same outputs, less change. Its fee is the most of: the new rate × its size; the
 * old fee + the incremental relay fee × its size (rule 4, which also makes it higher than the old fee, rule 3);
 * and just above the old fee rate × its size (a higher fee rate, also when it grew). Sizes are the budgeted
 * ones, which are at least the real ones, so the rules hold for the signed bytes.
 */
function replacement(request: BuildRequest, config: BuildConfig): UnsignedTx {
  const old = readPayload(request.replaces?.payload)
  const oldFee = BigInt(old.fee)
  const oldVsize = BigInt(old.vsize)
  const minFee = (vsize: number) => {
    const v = BigInt(vsize)
    const atRate = feeFor(config.feeRate, vsize)
    const rule4 = oldFee + feeFor(config.policy.minRelay, vsize)
    const higherRate = (oldFee * v) / oldVsize + 1n
    const fee = [atRate, rule4, higherRate].reduce((a, b) => (a > b ? a : b))
    if (fee > feeFor(config.policy.max, vsize))
      throw refuse(
        'FEE_TOO_HIGH',
        `the replacement needs ${fee} sat for ${vsize} vB, above the configured maximum of ${formatRate(config.policy.max)} sat/vB`,
        true,
      )
    return fee
  }
  const oldCoins: Coin[] = old.inputs.map((i) => ({ ...i, amount: BigInt(i.amount) }))
  const recipients = old.outputs
    .filter((_, vout) => vout !== old.change?.vout)
    .map((o): Destination => {
      const d = decode(o.address, config.network, 'replaced output')
      return { address: o.address, script: o.script, type: d.type, amount: BigInt(o.amount) }
    })
  if (old.sweep) return sweep(oldCoins, recipients[0] as Destination, minFee, config.feeRate)
  // the replacement pays the same recipients: the request must agree with what was signed before
  const key = (script: string, amount: bigint) => `${script}/${amount}`
  const wanted = destinations(request, config.network)
    .map((d) => key(d.script, d.amount))
    .sort()
  const had = recipients.map((r) => key(r.script, r.amount)).sort()
  if (wanted.join() !== had.join())
    throw refuse(
      'REPLACEMENT_MISMATCH',
      'the outputs requested differ from those of the transaction replaced',
    )
  const change = old.change
    ? { ...changeOf({ address: old.change.address, path: old.change.path }, config.network) }
    : changeOf(request.change, config.network)
  const used = new Set(old.inputs.map(outpoint))
  const extra = checkedCoins(request.inputs ?? []).filter((c) => !used.has(outpoint(c)))
  const { tx } = spend(oldCoins, extra, recipients, change, minFee, config.feeRate)
  // amounts in the order of the request's outputs
  return { ...tx, amounts: request.outputs.map((o) => o.amount) }
}

/**
 * Builds a payout spending the gateway's P2WPKH coins (`request.inputs`) to `request.outputs` (any standard
 * destination type), with change to `request.change` when it is at least its dust limit: version 2, locktime
 * 0, every input signalling RBF (nSequence 0xfffffffd), outputs in request order and change last. The fee is
 * `config.feeRate` × the virtual size computed from the transaction's weight at 72-byte signatures, rounded up
 * (see `vsize.ts`); `maxFee` is that exact fee (inputs − outputs). Pure: no node involved.
 *
 * - `sweepAll`: every offered coin to `outputs[0].to`, less the fee (consolidation); no change.
 * - `replaces`: a BIP125 replacement of that transaction (see `replacement`).
 *
 * Refusals (DriverError): `DUST_OUTPUT`, `BAD_ADDRESS`, `BAD_COIN`, `BAD_REQUEST`, `TOO_MANY_OUTPUTS`,
 * `UNSUPPORTED_ASSET`, `TX_TOO_LARGE`, `REPLACEMENT_MISMATCH` (none retryable); `INSUFFICIENT_FUNDS` and
 * `FEE_TOO_HIGH` (retryable).
 *
 * @example
 * const tx = buildPayout({ from, asset, outputs: [{ to, amount: 50_000n }], inputs: coins, change },
 *   { network, maxOutputs: 100, feeRate: 2000n, policy })
 */
export function buildPayout(request: BuildRequest, config: BuildConfig): UnsignedTx {
  if (!request.asset.native)
    throw refuse('UNSUPPORTED_ASSET', `the Bitcoin driver sends BTC only, not ${request.asset.id}`)
  if (request.outputs.length === 0) throw refuse('BAD_REQUEST', 'a payout needs at least one output')
  if (request.outputs.length > config.maxOutputs)
    throw refuse(
      'TOO_MANY_OUTPUTS',
      `${request.outputs.length} outputs, at most ${config.maxOutputs} per transaction`,
    )
  if (request.replaces) return replacement(request, config)
  const to = destinations(request, config.network)
  const coins = checkedCoins(request.inputs ?? [])
  const minFee = (vsize: number) => feeFor(config.feeRate, vsize)
  if (request.sweepAll) {
    if (to.length !== 1) throw refuse('BAD_REQUEST', 'a sweep has exactly one output')
    if (coins.length === 0) throw refuse('INSUFFICIENT_FUNDS', 'no coins to sweep', true)
    return sweep([...coins].sort(largestFirst), to[0] as Destination, minFee, config.feeRate)
  }
  return spend([], coins, to, changeOf(request.change, config.network), minFee, config.feeRate).tx
}
