import {
  DriverError,
  type PayoutDriver,
  type SweepNeed,
  type UnsignedTx,
  type WalletAddress,
} from '@tollgate/sdk'
import { energyPriceOf, feeLimitFor, marginPermille, type TronPayoutContext, withMargin } from './fees.ts'
import { ceilDiv, int64Of, maxBig } from './numbers.ts'
import { base58, hex41, unsignedTx } from './payload.ts'
import {
  encodeDelegateResourceContract,
  encodeTransferContract,
  encodeTriggerSmartContract,
  TRON_RESOURCE,
  type TronRawFields,
} from './proto.ts'
import {
  bandwidthFee,
  energyDelegationSun,
  fetchAccountState,
  fetchChainParameters,
  type TronChainParameters,
} from './resources.ts'
import { buildRawTransaction, fetchRefBlock, type TronRefBlock, transactionBandwidth } from './transaction.ts'
import { estimateTransferEnergy, transferCallData } from './trc20.ts'

const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))

/**
 * What a deposit address still needs before it can send `amount` of a TRC-20 token to `to` (null when nothing).
 *
 * - energy: the node's estimate of that very call from the deposit address (`triggerconstantcontract`), less the
 *   energy the address has from staked or delegated TRX → `resources.energy` (the shortfall);
 * - bandwidth: the size of the sweep transaction (345 bytes for a USDT transfer), unless the address's staked or
 *   free daily bandwidth covers it → `resources.bandwidth` (0 or the full size: java-tron never mixes sources);
 * - `native`: the TRX burning those would take — `ceil(energy × price × margin) + bandwidth × getTransactionFee` —
 *   less the TRX the address already holds.
 *
 * A deposit address that has only received a token does not exist on chain (TVM token transfers write the
 * contract's storage, they do not create the recipient's account; only a TRX transfer does) and an account that
 * does not exist cannot send. Such an address has no resources at all, so its need is never null; the TRX
 * transfer that funds it creates it (the gas tank pays the 1.1 TRX creation fees) and gives it the daily free
 * bandwidth, which is why no bandwidth is counted for it.
 */
async function sweepNeed(
  ctx: TronPayoutContext,
  a: { address: string; asset: { native: boolean; contract?: string }; amount: bigint; to: string },
): Promise<SweepNeed | null> {
  // TRX pays its own fee (a sweepAll build takes it out of the amount)
  if (a.asset.native) return null
  if (!a.asset.contract)
    throw new DriverError('UNKNOWN_ASSET', 'a token without a contract', { retryable: false })
  const owner = hex41(a.address)
  const contract = hex41(a.asset.contract)
  const to = hex41(a.to)
  const [state, params, ref, energy] = await Promise.all([
    fetchAccountState(ctx.client, owner),
    fetchChainParameters(ctx.client),
    fetchRefBlock(ctx.client),
    estimateTransferEnergy(ctx.client, { owner, contract, to, amount: a.amount }),
  ])
  const feeLimit = feeLimitFor(ctx.options, params, energy)
  const sweep = buildRawTransaction({
    ref,
    expirationMs: ctx.options.expirationMs,
    timestamp: ref.timestamp,
    feeLimit,
    contract: {
      type: 'TriggerSmartContract',
      value: encodeTriggerSmartContract({
        owner: unhex(owner),
        contract: unhex(contract),
        data: unhex(transferCallData(to, a.amount)),
      }),
    },
  })
  const bytes = transactionBandwidth(sweep.rawHex.length / 2)
  const freeNet = state.exists ? state.freeNet : params.freeNetLimit
  const burnsBandwidth =
    bandwidthFee({ bytes, createsAccount: false, account: { ...state, freeNet }, params }) > 0n
  const energyShort = maxBig(0n, energy - state.energy)
  const bandwidthShort = burnsBandwidth ? bytes : 0n
  const burn =
    ceilDiv(energyShort * energyPriceOf(ctx.options, params) * marginPermille(ctx.options), 1000n) +
    bandwidthShort * params.transactionFee
  let native = maxBig(0n, burn - state.balance)
  // cannot happen for a token transfer (it always takes energy), but an account must exist to send
  if (!state.exists && native === 0n) native = 1n
  if (native === 0n) return null
  return { native, resources: { energy: energyShort, bandwidth: bandwidthShort } }
}

type Built = { ref: TronRefBlock; params: TronChainParameters; timestamp: number }

function tankTx(
  ctx: TronPayoutContext,
  b: Built,
  contract: TronRawFields['contract'],
): ReturnType<typeof buildRawTransaction> {
  return buildRawTransaction({
    ref: b.ref,
    expirationMs: ctx.options.expirationMs,
    timestamp: b.timestamp,
    feeLimit: 0n,
    contract,
  })
}

/** The gas tank sends `need.native` TRX; creating the account when it does not exist (1 TRX + 0.1 TRX fees). */
function trxFunding(
  ctx: TronPayoutContext,
  b: Built,
  a: { tank: string; to: string; amount: bigint; createsAccount: boolean },
): UnsignedTx {
  const tx = tankTx(ctx, b, {
    type: 'TransferContract',
    value: encodeTransferContract({ owner: unhex(a.tank), to: unhex(a.to), amount: a.amount }),
  })
  const maxFee = a.createsAccount
    ? b.params.createNewAccountFee + b.params.createAccountFee
    : transactionBandwidth(tx.rawHex.length / 2) * b.params.transactionFee
  return unsignedTx(
    tx,
    {
      type: 'TransferContract',
      owner: base58(a.tank),
      to: base58(a.to),
      amount: a.amount.toString(),
      fee_limit: '0',
      ref_block: b.ref.number.toString(),
    },
    { maxFee, amount: a.amount },
  )
}

/** A (un)delegation of `balance` sun of the gas tank's frozen TRX for energy. */
function delegation(
  ctx: TronPayoutContext,
  b: Built,
  a: {
    type: 'DelegateResourceContract' | 'UnDelegateResourceContract'
    tank: string
    to: string
    balance: bigint
  },
): UnsignedTx {
  const tx = tankTx(ctx, b, {
    type: a.type,
    value: encodeDelegateResourceContract({
      owner: unhex(a.tank),
      resource: TRON_RESOURCE.ENERGY,
      balance: a.balance,
      receiver: unhex(a.to),
    }),
  })
  return unsignedTx(
    tx,
    {
      type: a.type,
      owner: base58(a.tank),
      to: base58(a.to),
      amount: a.balance.toString(),
      resource: 'ENERGY',
      fee_limit: '0',
      ref_block: b.ref.number.toString(),
    },
    // no TRX changes hands: `amounts` says so, for a core that books what a funding moved
    { maxFee: transactionBandwidth(tx.rawHex.length / 2) * b.params.transactionFee, amount: 0n },
  )
}

async function prepare(ctx: TronPayoutContext): Promise<Built> {
  const [ref, params] = await Promise.all([fetchRefBlock(ctx.client), fetchChainParameters(ctx.client)])
  return { ref, params, timestamp: ctx.clock() }
}

/**
 * The gas tank's one transaction that lets `to` sweep.
 *
 * - `burn`: a TRX transfer of `need.native`.
 * - `delegate`: a `DelegateResourceContract` of ENERGY for `need.resources.energy × margin`, the sun to delegate from the
 *   network's totals in the tank's `getaccountresource` (see `energyDelegationSun`: whole TRX =
 *   `ceil(energy × TotalEnergyWeight / TotalEnergyLimit) + 1`). A delegation alone is enough only when the
 *   address exists (java-tron refuses to delegate to an account that does not) and can pay its bandwidth (free
 *   or staked bandwidth, or enough TRX to burn for it). Otherwise two transactions would be needed (activate or
 *   send TRX, then delegate); the contract takes one, so it falls back to the `burn` transfer, which alone is
 *   enough — and leaves the address activated for the next sweep, which can then be delegated.
 */
async function buildFunding(
  ctx: TronPayoutContext,
  a: { from: WalletAddress; to: string; need: SweepNeed },
): Promise<UnsignedTx> {
  const tank = hex41(a.from.address)
  const to = hex41(a.to)
  const [b, target] = await Promise.all([prepare(ctx), fetchAccountState(ctx.client, to)])
  const energy = a.need.resources?.energy ?? 0n
  const bandwidthBurn = (a.need.resources?.bandwidth ?? 0n) * b.params.transactionFee
  if (ctx.options.funding === 'delegate' && target.exists && energy > 0n && target.balance >= bandwidthBurn) {
    const tankState = await fetchAccountState(ctx.client, tank)
    const balance = energyDelegationSun(
      withMargin(ctx.options, energy),
      tankState.totalEnergyLimit,
      tankState.totalEnergyWeight,
    )
    if (balance > tankState.delegatableEnergySun)
      throw new DriverError(
        'INSUFFICIENT_FUNDS',
        `gas tank ${base58(tank)} can delegate ${tankState.delegatableEnergySun} sun of frozen TRX for energy, ${balance} needed`,
        { retryable: true },
      )
    return delegation(ctx, b, { type: 'DelegateResourceContract', tank, to, balance })
  }
  if (a.need.native <= 0n)
    throw new DriverError('NOTHING_TO_FUND', `${base58(to)} needs no TRX`, { retryable: false })
  return trxFunding(ctx, b, { tank, to, amount: a.need.native, createsAccount: !target.exists })
}

type DelegatedResources = {
  delegatedResource?: Array<{ frozen_balance_for_energy?: number; expire_time_for_energy?: number }>
}

/**
 * With `delegate`: an `UnDelegateResourceContract` of all the energy the gas tank has delegated to `to` and can
 * take back now (`/wallet/getdelegatedresourcev2`; locked delegations — the tank makes none — are left alone),
 * whatever `need` says: the delegated amount was computed from network totals that have moved since. Null when
 * nothing is delegated (the funding fell back to a TRX transfer) and always with `burn`.
 */
async function buildDefunding(
  ctx: TronPayoutContext,
  a: { from: WalletAddress; to: string; need: SweepNeed },
): Promise<UnsignedTx | null> {
  if (ctx.options.funding !== 'delegate') return null
  const tank = hex41(a.from.address)
  const to = hex41(a.to)
  const b = await prepare(ctx)
  const res = await ctx.client.call<DelegatedResources>('/wallet/getdelegatedresourcev2', {
    fromAddress: tank,
    toAddress: to,
    visible: false,
  })
  const balance = (res.delegatedResource ?? [])
    .filter((d) => (d.expire_time_for_energy ?? 0) <= b.ref.timestamp)
    .reduce((n, d) => n + int64Of(d.frozen_balance_for_energy, 'frozen_balance_for_energy'), 0n)
  if (balance === 0n) return null
  return delegation(ctx, b, { type: 'UnDelegateResourceContract', tank, to, balance })
}

/**
 * The sweep half of the Tron payout driver: `sweepNeed`, `buildFunding` and `buildDefunding` over `ctx`.
 *
 * @example
 * const need = await sweeps.sweepNeed({ address: deposit, asset: usdt, amount, to: treasury })
 * if (need) await sweeps.buildFunding({ from: gasTank, to: deposit, need })
 */
export function createTronSweeps(
  ctx: TronPayoutContext,
): Required<Pick<PayoutDriver, 'sweepNeed' | 'buildFunding' | 'buildDefunding'>> {
  return {
    sweepNeed: (a) => sweepNeed(ctx, a),
    buildFunding: (a) => buildFunding(ctx, a),
    buildDefunding: (a) => buildDefunding(ctx, a),
  }
}
