import { invalidInput } from './errors.ts'

/** The most rows one page of any list may hold. */
export const maxPageSize = 100

/**
 * The page size a list is asked for: `first`, or `fallback` when it is not given; an integer from 1 to 100, else
 * `INVALID_INPUT` on `first`.
 *
 * @example
 * const first = pageSize(params.first) // 20
 */
export function pageSize(first: number | null | undefined, fallback = 20): number {
  const size = first ?? fallback
  if (!Number.isInteger(size) || size < 1 || size > maxPageSize)
    throw invalidInput('first', `first must be 1 to ${maxPageSize}`)
  return size
}

/**
 * A keyset page from rows read with `limit(first + 1)`: the first `first` of them, and whether there were more.
 *
 * @example
 * return toPage(await query.limit(first + 1), first)
 */
export function toPage<T>(rows: T[], first: number): { rows: T[]; hasNextPage: boolean } {
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first }
}
