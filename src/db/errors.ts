/**
 * Whether `err` (or any error in its `cause` chain, as drizzle wraps driver errors) is Postgres's unique
 * violation (23505) on `constraint`; postgres.js and PGlite both report the code.
 *
 * @example
 * if (isUniqueViolation(err, 'payments_merchant_idempotency_uq')) return replay()
 */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const pg = e as { code?: string; constraint_name?: string; constraint?: string; message?: string }
    if (pg.code === '23505' && (pg.constraint_name ?? pg.constraint ?? pg.message ?? '').includes(constraint))
      return true
  }
  return false
}
