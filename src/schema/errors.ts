import { errorCodes, TollgateError } from '../core/errors.ts'
import { builder } from './builder.ts'

export const ErrorCodeEnum = builder.enumType('ErrorCode', { values: errorCodes })

/** Every expected failure of a mutation is a `UserError` in its result union. */
export const UserErrorRef = builder.objectType(TollgateError, {
  name: 'UserError',
  description:
    'An expected failure: nothing was changed. `field` names the offending input, where there is one.',
  fields: (t) => ({
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
    message: t.exposeString('message'),
    field: t.string({ nullable: true, resolve: (e) => e.field ?? null }),
  }),
})

/**
 * The `errors` option of a mutation: expected failures become `UserError` members of its result union.
 *
 * @example
 * builder.mutationField('createPayment', (t) => t.field({ errors: userErrors('CreatePaymentResult'), ... }))
 */
export function userErrors(unionName: string) {
  return { types: [TollgateError], directResult: true, union: { name: unionName } }
}
