import { lexicographicSortSchema, printSchema } from 'graphql'
import { builder } from './builder.ts'
import './scalars.ts'
import './errors.ts'
import './audit.ts'
import './chains.ts'
import './reconciliation.ts'
import './payments.ts'
import './invoices.ts'
import './create-payment.ts'
import './merchants.ts'
import './subscriptions.ts'
import './webhooks.ts'
import './withdrawals.ts'
import './compliance.ts'
import './rates.ts'
import './misdirected.ts'
import './confirmation-policy.ts'
import './ledger.ts'
import './refunds.ts'
import './multisig.ts'
import './deposits.ts'
import './overview.ts'
import './console-members.ts'

/** The whole GraphQL schema; built once per process. */
export const schema = builder.toSchema()

/** The SDL committed as `schema.graphql`; a test fails when it is stale. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`
}
