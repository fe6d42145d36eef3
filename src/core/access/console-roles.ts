import { createHash } from 'node:crypto'
import { type ConsoleRole, consoleRoles } from '../../db/schema/index.ts'
import { type ApiKeyScope, apiKeyScopes } from './api-keys.ts'

export { type ConsoleRole, consoleRoles }

/**
 * What each console role may do, as the API scopes it stands for: a console user acts through the same API with
 * the union of their roles' scopes for the merchant in question, so the console can show nothing and do nothing
 * an API key with those scopes could not.
 */
export const roleScopes: Readonly<Record<ConsoleRole, readonly ApiKeyScope[]>> = {
  viewer: ['payments:read'],
  operator: ['payments:read', 'payments:write', 'withdrawals:write', 'webhooks:write'],
  approver: ['payments:read', 'withdrawals:approve'],
  compliance: ['payments:read', 'compliance:review'],
  admin: apiKeyScopes,
}

/**
 * Whether `role` names a console role.
 *
 * @example
 * if (!isConsoleRole(input.role)) throw invalidInput('role', '…')
 */
export function isConsoleRole(role: unknown): role is ConsoleRole {
  return typeof role === 'string' && (consoleRoles as readonly string[]).includes(role)
}

/**
 * The API scopes a user holding `roles` (for one merchant) has there: the union of the roles' scopes.
 *
 * @example
 * scopesOfRoles(['viewer', 'approver']) // Set { 'payments:read', 'withdrawals:approve' }
 */
export function scopesOfRoles(roles: Iterable<ConsoleRole>): ReadonlySet<ApiKeyScope> {
  const scopes = new Set<ApiKeyScope>()
  for (const role of roles) for (const scope of roleScopes[role]) scopes.add(scope)
  return scopes
}

/**
 * The API scopes a user has for `merchantId`, from their memberships; empty when they are not a member.
 *
 * @example
 * const scopes = scopesFor(session.memberships, merchantId)
 * if (!scopes.has('withdrawals:approve')) refuse()
 */
export function scopesFor(
  memberships: ReadonlyArray<{ merchantId: string; role: ConsoleRole }>,
  merchantId: string,
): ReadonlySet<ApiKeyScope> {
  return scopesOfRoles(memberships.filter((m) => m.merchantId === merchantId).map((m) => m.role))
}

/**
 * The key id a console user acts under on the API (audit log, approvals, quorums, auth-cache watches).
 *
 * @example
 * sessionKeyId('cu_1') // 'user:cu_1'
 */
export const sessionKeyId = (userId: string) => `user:${userId}`

/**
 * The hex SHA-256 of a token, key or email: what is stored and compared instead of it.
 *
 * @example
 * sha256('tgs_…') // '3f0a…'
 */
export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * The key an email's failed logins and lock are kept under (`console_login_throttle`): its lower case, hashed.
 *
 * @example
 * emailThrottleKey('Ana@Example.com') === emailThrottleKey('ana@example.com') // true
 */
export const emailThrottleKey = (email: string) => sha256(email.toLowerCase())
