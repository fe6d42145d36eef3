import type { MultisigProposalRow, RefundRow } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { assetById, resolveChain } from '../chains.ts'
import type { DepositView } from '../deposits/queries.ts'
import { formatAmount } from '../money.ts'
import type { InvoiceRow } from '../payments/invoice-create.ts'
import { fiatValue, receivedFiat } from '../payments/pricing.ts'
import type { PaymentRow } from '../payments/queries.ts'
import { overpaidAmount } from '../payments/views.ts'
import type { WithdrawalRow } from '../payouts/withdrawal-transitions.ts'

/** The payment as receivers see it: amounts as decimal strings in whole units. */
export function paymentJson(chains: ChainRegistry, p: PaymentRow) {
  const asset = assetById(chains, p.chain, p.asset)
  const amount = (v: bigint) => formatAmount(v, asset.decimals)
  return {
    object: 'payment',
    id: p.id,
    status: p.status,
    chain: p.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    amountDue: amount(p.amountDue),
    amountReceived: amount(p.amountReceived),
    amountConfirmed: amount(p.amountConfirmed),
    overpaidAmount: amount(overpaidAmount(p)),
    // a fiat-priced payment: its price and the rate its amount was quoted at (accounting needs the rate used)
    price: p.priceAmount === null ? null : { amount: p.priceAmount, currency: p.priceCurrency },
    rate:
      p.rate === null
        ? null
        : { value: p.rate, at: p.rateAt?.toISOString() ?? null, sources: p.rateSources ?? null },
    rateLockedUntil: p.rateLockedUntil?.toISOString() ?? null,
    amountReceivedFiat: receivedFiat(p, asset.decimals),
    overpaidFiat: fiatValue(p, overpaidAmount(p), asset.decimals),
    address: p.address,
    // the invoice this payment is a method of (the buyer chose its asset there); null for a payment of its own
    invoiceId: p.invoiceId,
    confirmationsRequired: p.confirmationsRequired,
    expiresAt: p.expiresAt.toISOString(),
    orderId: p.orderId,
    metadata: p.metadata ?? null,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    completedAt: p.completedAt?.toISOString() ?? null,
  }
}

/**
 * An invoice as receivers see it: its price, what arrived through all its methods in the price's currency, each
 * accepted asset with its locked rate, and the ids of the payments its buyer chose.
 */
export function invoiceJson(i: InvoiceRow, paymentIds: readonly string[]) {
  return {
    object: 'invoice',
    id: i.id,
    status: i.status,
    price: { amount: i.priceAmount, currency: i.priceCurrency },
    priceTolerance: i.priceTolerance,
    amountReceivedFiat: i.amountReceivedFiat,
    amountConfirmedFiat: i.amountConfirmedFiat,
    methods: i.methods.map((m) => ({
      chain: m.chain,
      asset: { id: m.asset, symbol: m.symbol, decimals: m.decimals },
      amountDue: formatAmount(BigInt(m.amountDue), m.decimals),
      rate: { value: m.rate, at: m.rateAt, sources: m.rateSources },
    })),
    rateLockedUntil: i.rateLockedUntil.toISOString(),
    payments: paymentIds,
    expiresAt: i.expiresAt.toISOString(),
    orderId: i.orderId,
    metadata: i.metadata ?? null,
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
    completedAt: i.completedAt?.toISOString() ?? null,
  }
}

/** A merchant's withdrawal as webhooks carry it (amounts as decimal strings in whole units). */
export function withdrawalJson(chains: ChainRegistry, w: WithdrawalRow, hash: string | null) {
  const asset = assetById(chains, w.chain, w.asset)
  const native = resolveChain(chains, w.chain).driver.nativeAsset
  return {
    object: 'withdrawal',
    id: w.id,
    status: w.status,
    chain: w.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    to: w.toAddress,
    amount: formatAmount(w.amount, asset.decimals),
    networkFee: w.networkFee === null ? null : formatAmount(w.networkFee, native.decimals),
    txHash: hash,
    failureReason: w.failureReason,
    idempotencyKey: w.idempotencyKey,
    createdAt: w.createdAt.toISOString(),
    updatedAt: w.updatedAt.toISOString(),
  }
}

/**
 * A refund as webhooks carry it: what it returns of which payment, from which source, where to (null while its
 * link waits for the buyer), what the buyer receives once built, and the payout's hash once signed.
 */
export function refundJson(
  chains: ChainRegistry,
  r: RefundRow,
  payout: { hash: string | null; amountSent: bigint | null; networkFee: bigint | null } | null,
) {
  const asset = assetById(chains, r.chain, r.asset)
  const native = resolveChain(chains, r.chain).driver.nativeAsset
  return {
    object: 'refund',
    id: r.id,
    status: r.status,
    paymentId: r.paymentId,
    chain: r.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    amount: formatAmount(r.amount, asset.decimals),
    amountSent: payout?.amountSent == null ? null : formatAmount(payout.amountSent, asset.decimals),
    source: r.source,
    overpayment: r.overpayment,
    feePaidBy: r.feePaidBy,
    networkFee: payout?.networkFee == null ? null : formatAmount(payout.networkFee, native.decimals),
    to: r.toAddress,
    withdrawalId: r.withdrawalId,
    txHash: payout?.hash ?? null,
    reason: r.reason,
    failureReason: r.failureReason,
    idempotencyKey: r.idempotencyKey,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  }
}

/**
 * A transfer out of a multisig cold wallet as webhooks carry it: where to, how much, the owners who signed of how
 * many needed, and its transaction once executed.
 */
export function multisigJson(chains: ChainRegistry, p: MultisigProposalRow, hash: string | null) {
  const asset = assetById(chains, p.chain, p.asset)
  return {
    object: 'multisig_proposal',
    id: p.id,
    status: p.status,
    chain: p.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    wallet: p.wallet,
    to: p.toAddress,
    destination: p.destination,
    amount: formatAmount(p.amount, asset.decimals),
    threshold: p.threshold,
    signers: p.signers,
    txHash: hash,
    failureReason: p.failureReason,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  }
}

/**
 * A customer deposit as webhooks carry it (`data` of `deposit.*` events): amounts as decimal strings of the asset,
 * the merchant's own customer id.
 *
 * @example
 * depositJson(chains, view) // { object: 'deposit', id: 'dep_…', status: 'CONFIRMED', customerId: 'user-42', … }
 */
export function depositJson(chains: ChainRegistry, d: DepositView) {
  const asset = assetById(chains, d.chain, d.asset)
  return {
    object: 'deposit',
    id: d.id,
    status: d.status,
    customerId: d.externalCustomerId,
    chain: d.chain,
    asset: { id: asset.id, symbol: asset.symbol, decimals: asset.decimals },
    amount: formatAmount(d.amount, asset.decimals),
    credited: formatAmount(d.credited, asset.decimals),
    belowMinimum: d.belowMinimum,
    wrongNetwork: d.wrongNetwork,
    address: d.address,
    txHash: d.txHash,
    index: d.index,
    blockHeight: d.blockHeight?.toString() ?? null,
    confirmations: d.confirmations,
    confirmationsRequired: d.confirmationsRequired,
    screening: d.screening,
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
    confirmedAt: d.confirmedAt?.toISOString() ?? null,
  }
}
