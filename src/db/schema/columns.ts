import { customType } from 'drizzle-orm/pg-core'

/**
 * Money in base units: `numeric(78,0)` in Postgres (enough for any uint256), `bigint` in TypeScript.
 * The driver hands numerics over as strings, so no float ever touches an amount.
 */
export const money = customType<{ data: bigint; driverData: string }>({
  dataType: () => 'numeric(78, 0)',
  toDriver: (value) => value.toString(),
  fromDriver: (value) => BigInt(value),
})

/** Block heights: `numeric(20,0)` (heights fit in u64), `bigint` in TypeScript. */
export const height = customType<{ data: bigint; driverData: string }>({
  dataType: () => 'numeric(20, 0)',
  toDriver: (value) => value.toString(),
  fromDriver: (value) => BigInt(value),
})
