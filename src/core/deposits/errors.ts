import { TollgateError } from '../errors.ts'

/** The longest customer id a merchant may give (their own user id, an email hash, a UUID…). */
export const maxCustomerIdLength = 256

/**
 * A customer id that is not text of 1 to 256 characters without control characters.
 *
 * @example
 * throw invalidCustomerId('customerId is text of 1 to 256 characters')
 */
export const invalidCustomerId = (message: string) =>
  new TollgateError('INVALID_INPUT', message, 'customerId')

/**
 * No customer, deposit or address of the merchant by that id (another merchant's is not found either).
 *
 * @example
 * throw depositNotFound('customer')
 */
export const depositNotFound = (what: 'customer' | 'deposit') =>
  new TollgateError('NOT_FOUND', `${what} not found`, 'id')
