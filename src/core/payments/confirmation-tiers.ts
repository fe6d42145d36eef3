import type { AssetInfo } from '@tollgate/sdk'
import {
  type ConfirmationLadder,
  checkConfirmationLadder,
  type LadderAmount,
  type LadderProblem,
  type LoadedChain,
} from '../../plugins/registry.ts'
import { invalidInput, TollgateError } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import { compare, decimalParse, rational, unitsValue } from '../pricing/decimal.ts'
import { currencyDecimals } from './pricing.ts'

/**
 * A merchant's own choice for one asset of a chain, as stored: a fixed number of confirmations for every amount
 * (a speed, like 0, 1, 2 or 6 on Bitcoin), or a ladder of its own. Either must lie within the operator's bounds.
 */
export type MerchantConfirmationChoice =
  | { confirmations: number }
  | {
      tiers: Array<{ below: string; confirmations: number }>
      above: number
      /** What the `below` amounts are in: null or absent, the asset; else an ISO 4217 code. */
      currency?: string | null
    }

/** Every merchant choice of a merchant, by chain name, then asset id. */
export type MerchantConfirmationChoices = Record<string, Record<string, MerchantConfirmationChoice>>

/** Where a payment's ladder came from: the operator's configuration, or the merchant's choice within it. */
export type LadderSource = 'operator' | 'merchant'

/**
 * The operator's ladder for an asset of a chain: the configured one, else today's rule (the asset's
 * `confirmations`, else the driver's, for every amount, with nothing else a merchant may choose).
 *
 * @example
 * operatorLadder(chain, usdt) // { tiers: [], above: 3, currency: null, bounds: { min: 3, max: 3 } }
 */
export function operatorLadder(chain: LoadedChain, asset: AssetInfo): ConfirmationLadder {
  const configured = chain.settings.amountTiers?.get(asset.id)
  if (configured) return configured
  const confirmations = asset.confirmations ?? chain.driver.confirmations
  return {
    tiers: [],
    above: confirmations,
    currency: null,
    bounds: { min: confirmations, max: confirmations },
  }
}

const clamp = (n: number, bounds: { min: number; max: number }) =>
  Math.min(bounds.max, Math.max(bounds.min, n))

/** The first problem's field, prefixed as the merchant's input names it. */
const fieldOf = (problem: LadderProblem) => (problem.path === 'bounds' ? 'confirmations' : problem.path)

/**
 * Checks a merchant's choice for an asset against the operator's ladder: a fixed count or a ladder (steps
 * ascending, confirmations never fewer for a larger amount, a known currency), every value within the operator's
 * bounds. Answers the choice's ladder (with the operator's bounds). Typed errors, nothing half-accepted:
 * `CONFIRMATIONS_OUT_OF_BOUNDS` for a value outside the bounds, `INVALID_INPUT` for any other problem.
 *
 * @example
 * merchantLadder(operator, btc, { confirmations: 2 }) // { tiers: [], above: 2, currency: null, bounds }
 */
export function merchantLadder(
  operator: ConfirmationLadder,
  asset: AssetInfo,
  choice: MerchantConfirmationChoice,
): ConfirmationLadder {
  const { bounds } = operator
  const outOfBounds = (field: string, detail: string) =>
    new TollgateError(
      'CONFIRMATIONS_OUT_OF_BOUNDS',
      `${detail}: the operator allows ${bounds.min} to ${bounds.max} confirmations for ${asset.symbol}`,
      field,
    )
  if ('confirmations' in choice) {
    const n = choice.confirmations
    if (!Number.isSafeInteger(n) || n < 0)
      throw invalidInput('confirmations', 'confirmations must be a non-negative integer')
    if (n < bounds.min || n > bounds.max) throw outOfBounds('confirmations', `${n} confirmations`)
    return { tiers: [], above: n, currency: null, bounds }
  }
  if (choice.currency != null) currencyDecimals(choice.currency, 'currency')
  const checked = checkConfirmationLadder(choice, { decimals: asset.decimals, bounds })
  if (checked.ok) return checked.ladder
  const [first] = checked.problems as [LadderProblem, ...LadderProblem[]]
  const message = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
  if (first.path === 'bounds') throw outOfBounds('tiers', message)
  throw invalidInput(fieldOf(first), message)
}

/**
 * The ladder a payment of `asset` on `chain` follows: the merchant's stored choice when it has one, its values
 * pulled into the operator's current bounds (an operator who narrowed them after the choice was stored always
 * wins); else the operator's. A stored choice the asset can no longer read (its decimals changed) is ignored.
 */
export function effectiveLadder(
  chain: LoadedChain,
  asset: AssetInfo,
  choice: MerchantConfirmationChoice | undefined,
): { ladder: ConfirmationLadder; source: LadderSource } {
  const operator = operatorLadder(chain, asset)
  if (!choice) return { ladder: operator, source: 'operator' }
  const { bounds } = operator
  const clamped: MerchantConfirmationChoice =
    'confirmations' in choice
      ? { confirmations: clamp(choice.confirmations, bounds) }
      : {
          ...choice,
          tiers: choice.tiers.map((t) => ({ ...t, confirmations: clamp(t.confirmations, bounds) })),
          above: clamp(choice.above, bounds),
        }
  try {
    return { ladder: merchantLadder(operator, asset, clamped), source: 'merchant' }
  } catch {
    return { ladder: operator, source: 'operator' }
  }
}

/**
 * The confirmations an amount needs on a ladder: those of the first step whose `below` is above the amount, else
 * `above`. An amount that could not be valued (undefined: no fresh rate for a currency ladder) needs `above`, the
 * most the ladder asks: not knowing what a payment is worth is no reason to trust it sooner.
 *
 * @example
 * confirmationsFor(ladder, { num: 50_000n, den: 1n }) // the step below 100 000 base units, say 1
 */
export function confirmationsFor(ladder: ConfirmationLadder, amount: LadderAmount | undefined): number {
  if (amount === undefined) return ladder.above
  for (const tier of ladder.tiers) if (compare(amount, tier.below) < 0) return tier.confirmations
  return ladder.above
}

/** What a payment is, for choosing its step: its amount due, its asset, and its fiat price when it has one. */
export type LadderPayment = {
  asset: AssetInfo
  amountDue: bigint
  priced: { priceAmount: string; priceCurrency: string } | null
}

/**
 * A payment's amount in its ladder's unit: base units of the asset for an asset ladder; for a currency ladder the
 * payment's price when it is in that currency, else the amount due at the book's fresh `SYMBOL/CURRENCY` rate.
 * Undefined when no fresh rate exists (the payment then needs the ladder's `above`).
 *
 * @example
 * ladderAmount(usdLadder, { asset: btc, amountDue: 20_000n, priced: null }, book, now) // 10 at 50 000 USD/BTC
 */
export function ladderAmount(
  ladder: ConfirmationLadder,
  payment: LadderPayment,
  book: RateBook | undefined,
  now: Date,
): LadderAmount | undefined {
  if (ladder.currency === null) return rational(payment.amountDue)
  if (payment.priced?.priceCurrency === ladder.currency) {
    const price = decimalParse(payment.priced.priceAmount)
    if (price.ok) return price.value
  }
  if (!book) return undefined
  let rate: string
  try {
    rate = book.quote(`${payment.asset.symbol}/${ladder.currency}`, now).rate
  } catch {
    return undefined
  }
  const parsed = decimalParse(rate)
  return parsed.ok ? unitsValue(payment.amountDue, payment.asset.decimals, parsed.value) : undefined
}

/**
 * The confirmations a new payment needs: the step its amount falls in, on the merchant's ladder for the asset when
 * it chose one, else the operator's (which, unconfigured, is the asset's or driver's `confirmations`).
 *
 * @example
 * requiredConfirmations(chain, payment, choices?.[chain.name]?.[asset.id], book, new Date()) // 3
 */
export function requiredConfirmations(
  chain: LoadedChain,
  payment: LadderPayment,
  choice: MerchantConfirmationChoice | undefined,
  book: RateBook | undefined,
  now: Date,
): number {
  const { ladder } = effectiveLadder(chain, payment.asset, choice)
  if (ladder.tiers.length === 0) return ladder.above
  return confirmationsFor(ladder, ladderAmount(ladder, payment, book, now))
}
