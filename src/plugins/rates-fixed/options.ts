import { z } from 'zod'

const pairKey = z
  .string()
  .regex(/^[A-Z0-9]{2,10}\/[A-Z0-9]{2,10}$/, 'must be a pair BASE/QUOTE of currency codes, such as USDT/USD')
  .refine((key) => {
    const [base, quote] = key.split('/')
    return base !== quote
  }, 'base and quote must differ')
const decimal = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/
const rate = z
  .string()
  .max(41)
  .regex(decimal, 'must be a plain decimal string such as "1.08" (no sign, no exponent)')
  // one problem per rate: zero is worth saying only of what is a decimal
  .refine((r) => !decimal.test(r) || /[1-9]/.test(r), 'must be more than zero')

export const fixedOptionsSchema = z.strictObject({
  /**
   * The operator's rates by pair: `{ 'USDT/USD': '1', 'EUR/USD': '1.08' }`, what one BASE costs in QUOTE, as
   * positive decimal strings (never numbers: `1.08` as a float is not 1.08). At least one.
   */
  rates: z
    .record(pairKey, rate)
    .refine(
      (rates) => Object.keys(rates).length > 0,
      'must list at least one rate, such as { "USDT/USD": "1" }',
    ),
})

export type FixedOptions = z.output<typeof fixedOptionsSchema>
