import { and, eq, isNull, lt, ne, or, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import {
  consoleLoginThrottle,
  consoleMemberships,
  consoleSessions,
  consoleUsers,
  merchants,
} from '../../db/schema/index.ts'
import { invalidInput, notFound, TollgateError } from '../errors.ts'
import { newId } from '../ids.ts'
import { revocationChannel } from './api-keys.ts'
import { type AuditActor, recordAudit } from './audit.ts'
import {
  type ConsoleRole,
  consoleRoles,
  emailThrottleKey,
  isConsoleRole,
  sessionKeyId,
} from './console-roles.ts'
import { openSecret, sealSecret } from './secret-box.ts'
import { newTotpSecret, totpStep, totpUri } from './totp.ts'

/**
 * argon2id at OWASP's minimum (19 MiB of memory, 2 passes, 1 lane): a guess costs an attacker holding the table as
 * much memory as it costs us, which is what makes GPUs and ASICs no faster at it. Bun has it built in.
 */
export const passwordHashing = { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 } as const

export const minPasswordLength = 12
export const maxPasswordLength = 200
const maxEmailLength = 254
const maxDisplayNameLength = 100
// shown in lists, logs and terminals: no control characters, no line or paragraph separators, no bidi overrides
const unprintable = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u
const emailPattern = /^[^\s@]+@[^\s@]+$/u

/** A console user as the rest of the gateway sees them (never the password hash or the TOTP secret). */
export type ConsoleUser = {
  id: string
  email: string
  displayName: string
  /** Two-factor is on: a login needs a code. */
  totpEnabled: boolean
}

/** One role a user holds for one merchant. */
export type ConsoleMembership = { merchantId: string; role: ConsoleRole }

/** The database, a clock for tests, and the key TOTP secrets are sealed with (CONSOLE_SECRET_KEY), when set. */
type UsersContext = { db: Db; now?: () => Date; consoleSecretKey?: Buffer }

/**
 * An email address as given (trimmed), or INVALID_INPUT on `email`: at most 254 characters, one `@` with
 * something either side, no spaces or control characters.
 *
 * @example
 * checkEmail(' Ana@Example.com ') // 'Ana@Example.com'
 */
export function checkEmail(email: unknown): string {
  if (typeof email !== 'string' || email.length > maxEmailLength + 100)
    throw invalidInput('email', `email is text of at most ${maxEmailLength} characters`)
  const trimmed = email.trim()
  if (trimmed.length > maxEmailLength)
    throw invalidInput('email', `email is text of at most ${maxEmailLength} characters`)
  if (unprintable.test(trimmed) || /\p{Cf}/u.test(trimmed) || !emailPattern.test(trimmed))
    throw invalidInput('email', 'email must be an address like name@example.com')
  return trimmed
}

/**
 * A password's shape, or INVALID_INPUT on `password`: text of at most 200 characters without control characters.
 * Answers it in Unicode normal form C, so the same password typed on two keyboards hashes alike. What a login
 * checks before hashing anything (a longer one cannot be anybody's, and costs nothing to refuse).
 *
 * @example
 * const normalized = passwordShape(input.password)
 */
export function passwordShape(password: unknown): string {
  if (typeof password !== 'string' || password.length > maxPasswordLength * 2)
    throw invalidInput('password', `password is text of at most ${maxPasswordLength} characters`)
  const normalized = password.normalize('NFC')
  if ([...normalized].length > maxPasswordLength)
    throw invalidInput('password', `password is text of at most ${maxPasswordLength} characters`)
  if (/\p{Cc}/u.test(normalized))
    throw invalidInput('password', 'password must not contain control characters')
  return normalized
}

/**
 * A new password checked against the rules (INVALID_INPUT on `password` otherwise): 12 to 200 characters, not one
 * character repeated, not the user's email. Length beats composition rules (NIST SP 800-63B): no "one digit, one
 * symbol" demands.
 *
 * @example
 * const password = checkNewPassword(input.password, email)
 */
export function checkNewPassword(password: unknown, email: string): string {
  const normalized = passwordShape(password)
  const characters = [...normalized]
  if (characters.length < minPasswordLength)
    throw invalidInput('password', `password must be ${minPasswordLength} to ${maxPasswordLength} characters`)
  if (characters.every((c) => c === characters[0]))
    throw invalidInput('password', 'password must not be one character repeated')
  if (normalized.toLowerCase() === email.toLowerCase())
    throw invalidInput('password', 'password must not be the email address')
  return normalized
}

/**
 * A display name: text of 1 to 100 characters once trimmed, nothing unprintable; refused as INVALID_INPUT on
 * `field` (the name the caller's input gives it).
 *
 * @example
 * const name = checkDisplayName(input.name, 'name')
 */
export function checkDisplayName(name: unknown, field = 'displayName'): string {
  if (typeof name !== 'string' || name.length > maxDisplayNameLength * 4)
    throw invalidInput(field, `${field} is text of 1 to ${maxDisplayNameLength} characters`)
  const trimmed = name.trim()
  if (trimmed.length === 0 || [...trimmed].length > maxDisplayNameLength)
    throw invalidInput(field, `${field} is text of 1 to ${maxDisplayNameLength} characters`)
  if (unprintable.test(trimmed)) throw invalidInput(field, `${field} must not contain control characters`)
  return trimmed
}

/**
 * A console role, else INVALID_INPUT on `role`.
 *
 * @example
 * const role = checkRole(input.role) // 'viewer'
 */
export function checkRole(role: unknown): ConsoleRole {
  if (!isConsoleRole(role)) throw invalidInput('role', `role is one of: ${consoleRoles.join(', ')}`)
  return role
}

async function requireMerchant(tx: Tx, merchantId: unknown): Promise<string> {
  if (typeof merchantId !== 'string' || !/^mer_[A-Za-z0-9_]{1,64}$/.test(merchantId))
    throw notFound('merchant')
  const [merchant] = await tx.select({ id: merchants.id }).from(merchants).where(eq(merchants.id, merchantId))
  if (!merchant) throw notFound('merchant')
  return merchant.id
}

/** The condition matching a user by email, whatever its case (served by the unique index on `lower(email)`). */
export const emailMatches = (email: string) => sql`lower(${consoleUsers.email}) = lower(${email})`

/**
 * Creates a console user, with a first role for a merchant when `membership` is given, in one transaction with
 * its audit records. The password is kept only as its argon2id hash. Every input is checked before anything is
 * hashed or written: a refusal is INVALID_INPUT on its field (the email taken, whatever its case, too) or
 * NOT_FOUND for the merchant.
 *
 * @example
 * const { id } = await createConsoleUser({ db }, {
 *   email: 'ana@example.com', displayName: 'Ana', password, membership: { merchantId, role: 'admin' },
 * })
 */
export async function createConsoleUser(
  ctx: UsersContext,
  params: {
    email: unknown
    displayName: unknown
    password: unknown
    membership?: { merchantId: unknown; role: unknown }
    actor?: AuditActor
  },
): Promise<{ id: string; email: string }> {
  const email = checkEmail(params.email)
  const displayName = checkDisplayName(params.displayName)
  const password = checkNewPassword(params.password, email)
  const role = params.membership ? checkRole(params.membership.role) : undefined
  const passwordHash = await Bun.password.hash(password, passwordHashing)
  const id = newId('usr')
  const actor = params.actor ?? { cli: true }
  try {
    await ctx.db.transaction(async (tx) => {
      const merchantId = params.membership
        ? await requireMerchant(tx, params.membership.merchantId)
        : undefined
      const [taken] = await tx.select({ id: consoleUsers.id }).from(consoleUsers).where(emailMatches(email))
      if (taken) throw emailTaken()
      await tx.insert(consoleUsers).values({ id, email, displayName, passwordHash })
      await recordAudit(tx, {
        merchantId: null,
        actor,
        action: 'console.user_created',
        target: { type: 'console_user', id },
        data: { email, displayName },
      })
      if (merchantId && role) await insertMembership(tx, { userId: id, email, merchantId, role, actor })
    })
  } catch (err) {
    // two creations of one email at once: the unique index decides, the loser hears what a later one would
    if (isUniqueViolation(err, 'console_users_email_uq')) throw emailTaken()
    throw err
  }
  return { id, email }
}

const emailTaken = () => invalidInput('email', 'a console user with this email exists')

async function insertMembership(
  tx: Tx,
  m: { userId: string; email: string; merchantId: string; role: ConsoleRole; actor: AuditActor },
): Promise<boolean> {
  const inserted = await tx
    .insert(consoleMemberships)
    .values({ userId: m.userId, merchantId: m.merchantId, role: m.role })
    .onConflictDoNothing()
    .returning({ role: consoleMemberships.role })
  if (inserted.length === 0) return false
  await recordAudit(tx, {
    merchantId: m.merchantId,
    actor: m.actor,
    action: 'console.role_granted',
    target: { type: 'console_user', id: m.userId },
    data: { email: m.email, role: m.role },
  })
  return true
}

/**
 * Grants a console user (by email, whatever its case) a role for a merchant, audited. Roles add up: granting one
 * the user holds already changes nothing and answers `granted: false`.
 *
 * @example
 * await grantConsoleRole({ db }, { email: 'ana@example.com', merchantId, role: 'approver' })
 */
export async function grantConsoleRole(
  ctx: UsersContext,
  params: { email: unknown; merchantId: unknown; role: unknown; actor?: AuditActor },
): Promise<{ userId: string; granted: boolean }> {
  const email = checkEmail(params.email)
  const role = checkRole(params.role)
  return ctx.db.transaction(async (tx) => {
    const merchantId = await requireMerchant(tx, params.merchantId)
    const [user] = await tx
      .select({ id: consoleUsers.id, email: consoleUsers.email })
      .from(consoleUsers)
      .where(emailMatches(email))
    if (!user) throw notFound('console user')
    const granted = await insertMembership(tx, {
      userId: user.id,
      email: user.email,
      merchantId,
      role,
      actor: params.actor ?? { cli: true },
    })
    return { userId: user.id, granted }
  })
}

/**
 * Disables a console user: no login succeeds any more and every session of theirs ends now. Audited.
 *
 * @example
 * await disableConsoleUser({ db }, { email: 'ana@example.com' })
 */
export async function disableConsoleUser(
  ctx: UsersContext,
  params: { email: unknown; actor?: AuditActor },
): Promise<{ userId: string }> {
  const email = checkEmail(params.email)
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const [user] = await tx
      .update(consoleUsers)
      .set({ disabledAt: now })
      .where(and(emailMatches(email), isNull(consoleUsers.disabledAt)))
      .returning({ id: consoleUsers.id })
    if (!user) throw notFound('enabled console user')
    await tx
      .update(consoleSessions)
      .set({ revokedAt: now })
      .where(and(eq(consoleSessions.userId, user.id), isNull(consoleSessions.revokedAt)))
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${sessionKeyId(user.id)})`)
    await recordAudit(tx, {
      merchantId: null,
      actor: params.actor ?? { cli: true },
      action: 'console.user_disabled',
      target: { type: 'console_user', id: user.id },
    })
    return { userId: user.id }
  })
}

/**
 * Changes a signed-in user's password: the current one must be right (else INVALID_INPUT on `currentPassword`,
 * nothing written), the new one follows the same rules as at creation and differs from it. Every other session of
 * the user ends (a password changed because it leaked locks the leak out); the one that asked stays. Audited.
 *
 * @example
 * await changePassword({ db }, { userId, keepSessionId: session.id, current: 'old…', next: 'new…' })
 */
export async function changePassword(
  ctx: UsersContext,
  params: { userId: string; keepSessionId: string; current: unknown; next: unknown },
): Promise<void> {
  const current = passwordShape(params.current)
  const [user] = await ctx.db
    .select({ email: consoleUsers.email, hash: consoleUsers.passwordHash })
    .from(consoleUsers)
    .where(and(eq(consoleUsers.id, params.userId), isNull(consoleUsers.disabledAt)))
  if (!user) throw notFound('console user')
  const next = checkNewPassword(params.next, user.email)
  if (!(await Bun.password.verify(current, user.hash)))
    throw invalidInput('currentPassword', 'the current password is not right')
  if (next === current) throw invalidInput('password', 'the new password must differ from the current one')
  const hash = await Bun.password.hash(next, passwordHashing)
  const now = ctx.now?.() ?? new Date()
  await ctx.db.transaction(async (tx) => {
    await tx.update(consoleUsers).set({ passwordHash: hash }).where(eq(consoleUsers.id, params.userId))
    await tx
      .update(consoleSessions)
      .set({ revokedAt: now })
      .where(
        and(
          eq(consoleSessions.userId, params.userId),
          isNull(consoleSessions.revokedAt),
          ne(consoleSessions.id, params.keepSessionId),
        ),
      )
    // at commit every API process re-checks this user's open streams: those of the ended sessions stop
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${sessionKeyId(params.userId)})`)
    await recordAudit(tx, {
      merchantId: null,
      actor: { userId: params.userId },
      action: 'console.password_changed',
      target: { type: 'console_user', id: params.userId },
    })
  })
}

/**
 * Sets a console user's password for them (an operator at the command line, when it was forgotten): the new one
 * follows the rules of creation; every session of the user ends, their open streams too, and the email's failed
 * logins and lock are cleared. NOT_FOUND for an email no enabled user has. Audited.
 *
 * @example
 * await resetConsolePassword({ db }, { email: 'ana@example.com', password: 'a new passphrase…', actor: { cli: true } })
 */
export async function resetConsolePassword(
  ctx: UsersContext,
  params: { email: unknown; password: unknown; actor?: AuditActor },
): Promise<{ userId: string }> {
  const email = checkEmail(params.email)
  const password = checkNewPassword(params.password, email)
  const hash = await Bun.password.hash(password, passwordHashing)
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const [user] = await tx
      .update(consoleUsers)
      .set({ passwordHash: hash })
      .where(and(emailMatches(email), isNull(consoleUsers.disabledAt)))
      .returning({ id: consoleUsers.id, email: consoleUsers.email })
    if (!user) throw notFound('enabled console user')
    await tx
      .update(consoleSessions)
      .set({ revokedAt: now })
      .where(and(eq(consoleSessions.userId, user.id), isNull(consoleSessions.revokedAt)))
    await tx
      .delete(consoleLoginThrottle)
      .where(eq(consoleLoginThrottle.emailHash, emailThrottleKey(user.email)))
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${sessionKeyId(user.id)})`)
    await recordAudit(tx, {
      merchantId: null,
      actor: params.actor ?? { cli: true },
      action: 'console.password_reset',
      target: { type: 'console_user', id: user.id },
    })
    return { userId: user.id }
  })
}

/**
 * The roles a user holds, per merchant.
 *
 * @example
 * const memberships = await membershipsOf(db, userId) // [{ merchantId: 'mer_…', role: 'admin' }]
 */
export async function membershipsOf(db: Db | Tx, userId: string): Promise<ConsoleMembership[]> {
  return db
    .select({ merchantId: consoleMemberships.merchantId, role: consoleMemberships.role })
    .from(consoleMemberships)
    .where(eq(consoleMemberships.userId, userId))
    .orderBy(consoleMemberships.merchantId, consoleMemberships.role)
}

/**
 * Takes TOTP time step `step` as used by the user: true when it is later than every step used before (then it is
 * the last used one), false when a code of it or of a later step was accepted already — a replay. One statement,
 * so two logins racing with the same code cannot both win.
 *
 * @example
 * if (!(await claimTotpStep(db, userId, step))) refuse()
 */
export async function claimTotpStep(db: Db | Tx, userId: string, step: number): Promise<boolean> {
  const claimed = await db
    .update(consoleUsers)
    .set({ totpLastStep: step })
    .where(
      and(
        eq(consoleUsers.id, userId),
        or(isNull(consoleUsers.totpLastStep), lt(consoleUsers.totpLastStep, step)),
      ),
    )
    .returning({ id: consoleUsers.id })
  return claimed.length > 0
}

/**
 * Starts two-factor enrollment for a signed-in user: a new secret and the `otpauth://` URI their authenticator
 * app scans. Two-factor is on only once `confirmTotp` saw a code from it; until then logins need no code, and
 * starting again replaces the secret. A user with two-factor on is refused (INVALID_STATE).
 *
 * @example
 * const { secret, uri } = await startTotp({ db }, { userId })
 */
export async function startTotp(
  ctx: UsersContext,
  params: { userId: string },
): Promise<{ secret: string; uri: string }> {
  const [user] = await ctx.db
    .select({ email: consoleUsers.email, confirmed: consoleUsers.totpConfirmed })
    .from(consoleUsers)
    .where(and(eq(consoleUsers.id, params.userId), isNull(consoleUsers.disabledAt)))
  if (!user) throw notFound('console user')
  if (user.confirmed) throw new TollgateError('INVALID_STATE', 'two-factor authentication is on already')
  const secret = newTotpSecret()
  await ctx.db
    .update(consoleUsers)
    .set({ totpSecret: sealSecret(ctx.consoleSecretKey, params.userId, secret), totpLastStep: null })
    .where(and(eq(consoleUsers.id, params.userId), eq(consoleUsers.totpConfirmed, false)))
  return { secret, uri: totpUri(secret, user.email) }
}

/**
 * Turns two-factor on with a code from the secret `startTotp` gave (its step then counts as used). A wrong code
 * is INVALID_INPUT on `code` and changes nothing; without a started enrollment, INVALID_STATE. Audited.
 *
 * @example
 * await confirmTotp({ db }, { userId, code: '492039' })
 */
export async function confirmTotp(
  ctx: UsersContext,
  params: { userId: string; code: unknown },
): Promise<void> {
  const now = ctx.now?.() ?? new Date()
  await ctx.db.transaction(async (tx) => {
    const [user] = await tx
      .select({ secret: consoleUsers.totpSecret, confirmed: consoleUsers.totpConfirmed })
      .from(consoleUsers)
      .where(and(eq(consoleUsers.id, params.userId), isNull(consoleUsers.disabledAt)))
      .for('update')
    if (!user) throw notFound('console user')
    if (user.confirmed || !user.secret)
      throw new TollgateError('INVALID_STATE', 'no two-factor enrollment is under way (start one first)')
    const secret = openSecret(ctx.consoleSecretKey, params.userId, user.secret)
    const step = totpStep(secret, params.code, now)
    if (step === null) throw invalidInput('code', 'the code does not match: enter the code the app shows now')
    await tx
      .update(consoleUsers)
      .set({ totpConfirmed: true, totpLastStep: step })
      .where(eq(consoleUsers.id, params.userId))
    await recordAudit(tx, {
      merchantId: null,
      actor: { userId: params.userId },
      action: 'console.totp_enrolled',
      target: { type: 'console_user', id: params.userId },
    })
  })
}
