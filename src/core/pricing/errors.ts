import { GatewayError, invariantBroken, TollgateError } from '../errors.ts'

/**
 * A decimal string that is not a positive plain decimal (`"25.00"`, `"97123.45"`): the caller's input, refused
 * with `INVALID_AMOUNT` naming the field it came from.
 *
 * @example
 * throw invalidDecimal('price', 'price must be a plain decimal string such as "12.5"')
 */
export const invalidDecimal = (field: string, reason: string) =>
  new TollgateError('INVALID_AMOUNT', reason, field)

/** Why a pair has no rate now (see `resolveRate`). */
export type UnavailableReason =
  /** No rule for the pair (or, for a `via` leg, for neither the leg nor its inverse). */
  | 'no-rule'
  /** The rule names no source, pin or bridge. */
  | 'no-sources'
  /** None of the rule's sources has reported the pair. */
  | 'no-quotes'
  /** Every source's latest quote is older than `maxAgeSeconds`. */
  | 'stale'
  /** The fresh sources disagree: each is further than `outlierBps` from the median of the others. */
  | 'sources-disagree'
  /** A `via` chain leads back to a pair it is resolving. */
  | 'via-cycle'
  /** The rule itself cannot be read (a pin that is not a positive decimal); `checkPricingConfig` refuses it. */
  | 'bad-rule'

const reasonText: Record<UnavailableReason, string> = {
  'no-rule': 'no pricing rule covers it',
  'no-sources': 'its rule names no source',
  'no-quotes': 'no source has reported it',
  stale: 'every source is out of date',
  'sources-disagree': 'the sources disagree too much to trust any of them',
  'via-cycle': 'its via chain leads back to itself',
  'bad-rule': 'its pricing rule is invalid',
}

/**
 * A pair with no usable rate: prices in it are refused with `RATE_UNAVAILABLE` (try again later, or another
 * asset). `leg` names the bridged pair that failed; `lastAt` is when the newest quote seen was observed.
 *
 * @example
 * throw rateUnavailable({ pair: 'BTC/USD', reason: 'stale', lastAt: new Date('2025-01-01T00:00:00Z') }, 'asset')
 */
export function rateUnavailable(
  unavailable: { pair: string; reason: UnavailableReason; leg?: string; lastAt?: Date },
  field?: string,
): TollgateError {
  const { pair, reason, leg, lastAt } = unavailable
  const via = leg === undefined ? '' : ` (through ${leg})`
  const last = lastAt === undefined ? '' : `; newest quote from ${lastAt.toISOString()}`
  return new TollgateError(
    'RATE_UNAVAILABLE',
    `no rate for ${pair}${via}: ${reasonText[reason]}${last}`,
    field,
  )
}

/** One problem of the pricing configuration: the field's path (`pricing.pairs["BTC/USD"].sources[1]`) and what is wrong. */
export type PricingConfigProblem = { path: string; message: string }

/**
 * The pricing configuration is invalid (permanent: an operator must fix `plugins.config.ts`). Every problem
 * found is listed, each naming its field path, so all of them are fixed in one go.
 *
 * @example
 * throw new PricingConfigError([{ path: 'pricing.pairs["BTC/USD"].spreadBps', message: 'must be an integer from 0 to 9999' }])
 */
export class PricingConfigError extends GatewayError {
  readonly problems: PricingConfigProblem[]
  constructor(problems: PricingConfigProblem[]) {
    super(
      'permanent',
      'PRICING_CONFIG_INVALID',
      `the pricing configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`,
    )
    this.name = 'PricingConfigError'
    this.problems = problems
  }
}

/**
 * Arithmetic asked to divide by zero: callers pass only positive rates (parsed, resolved), so this is a bug.
 *
 * @example
 * if (b.num === 0n) throw divisionByZero()
 */
export const divisionByZero = () =>
  invariantBroken('DIVISION_BY_ZERO', 'division by zero in exact arithmetic')

/**
 * An argument outside the range a pricing function is defined for (a negative decimals count, a spread of
 * 10000 bps or more, the median of nothing): a bug in the caller, since configuration is checked at boot.
 *
 * @example
 * if (!Number.isInteger(bps) || bps < 0 || bps >= 10_000) throw pricingArgument('spreadBps must be 0 to 9999')
 */
export const pricingArgument = (message: string) => invariantBroken('PRICING_BAD_ARGUMENT', message)
