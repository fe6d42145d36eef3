import { createHash, timingSafeEqual } from 'node:crypto'
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { consoleLoginThrottle, consoleSessions, consoleUsers } from '../../db/schema/index.ts'
import { invalidInput, TollgateError } from '../errors.ts'
import { newId, randomSecret } from '../ids.ts'
import { type AuthInfo, revocationChannel } from './api-keys.ts'
import { recordAudit } from './audit.ts'
import { emailThrottleKey, scopesFor, sessionKeyId, sha256 } from './console-roles.ts'
import {
  type ConsoleMembership,
  type ConsoleUser,
  checkEmail,
  claimTotpStep,
  emailMatches,
  membershipsOf,
  passwordShape,
} from './console-users.ts'
import { isSealed, openSecret, sealSecret } from './secret-box.ts'
import { totpStep } from './totp.ts'

/** A session ends after this long without a request… */
export const sessionIdleMs = 30 * 60_000
/** …and this long after its login, however busy. */
export const sessionLifetimeMs = 12 * 3600_000
/** Failed logins in a row that lock an account… */
export const maxFailedLogins = 5
/** …for this long. */
export const lockoutMs = 15 * 60_000

/**
 * What a login verifies the password against when no user has the email: a hash of a random password with the
 * same parameters, so an unknown email costs the same argon2id work as a wrong password and takes as long.
 * (Its parameters must follow `passwordHashing`; a test holds them together.)
 */
export const absentUserHash =
  '$argon2id$v=19$m=19456,t=2,p=1$Zc/YNK7UMw/CWkxSjF+7SYXUt0NDbw4S1ZMeWv9pCZA$hhR/BTfyULIacIvMp4ic9Bo9I4GJCNG1VJd1B/GJydc'

const tokenPattern = /^tgs_[A-Za-z0-9_-]{43}$/

/** The database, a clock for tests, and the key TOTP secrets are sealed with (CONSOLE_SECRET_KEY), when set. */
type SessionsContext = { db: Db; now?: () => Date; consoleSecretKey?: Buffer }

/** A signed-in session as the server keeps it (its tokens only as hashes). */
export type ConsoleSession = {
  id: string
  userId: string
  /** SHA-256 (hex) of the session's CSRF token; see `verifyCsrf`. */
  csrfHash: string
  createdAt: Date
  lastSeenAt: Date
  /** When the session ends unless used before: 30 idle minutes, never past 12 hours after login. */
  expiresAt: Date
}

/** Who a session is: the session, its user and the user's roles per merchant. */
export type SignedIn = { session: ConsoleSession; user: ConsoleUser; memberships: ConsoleMembership[] }

/** A refused login; `retryAfterSeconds` is set while the account is locked. */
export type LoginFailed = TollgateError & { retryAfterSeconds?: number }

function loginFailed(retryAfterSeconds?: number): LoginFailed {
  const err = new TollgateError('LOGIN_FAILED', 'the email, password or code is not right')
  return retryAfterSeconds === undefined ? err : Object.assign(err, { retryAfterSeconds })
}

const unauthenticated = () => new TollgateError('UNAUTHENTICATED', 'sign in to the console')

function expiryOf(createdAt: Date, lastSeenAt: Date): Date {
  return new Date(Math.min(lastSeenAt.getTime() + sessionIdleMs, createdAt.getTime() + sessionLifetimeMs))
}

function checkLoginExtras(totp: unknown, ip: unknown): { totp: string | undefined; ip: string | null } {
  if (totp != null && (typeof totp !== 'string' || totp.length > 16))
    throw invalidInput('totp', 'totp is the six-digit code of the authenticator app')
  if (ip != null && (typeof ip !== 'string' || ip.length > 100 || /\p{Cc}/u.test(ip)))
    throw invalidInput('ip', 'ip is an address of at most 100 characters')
  return { totp: totp === '' || totp == null ? undefined : totp, ip: ip ?? null }
}

/**
 * Signs a console user in. Answers the session token and its CSRF token, each shown only here (the server keeps
 * their SHA-256): the token goes in an HttpOnly cookie, the CSRF token with every request that changes anything.
 *
 * Every refusal that could tell who has an account is the same LOGIN_FAILED after the same argon2id work: an
 * unknown email (checked against a stand-in hash), a wrong password, a wrong or reused TOTP code, a disabled or a
 * locked account. Five failures in a row lock the account for 15 minutes (the refusal then carries
 * `retryAfterSeconds`; the right password does not open it early); a success resets the count. With two-factor on,
 * the right password without a code is TOTP_REQUIRED; a code is accepted one step either side of now, and never
 * twice. Input of the wrong shape (not text, too long, control characters) is INVALID_INPUT before any work.
 * Successes, failures and locks are audited.
 *
 * @example
 * const { token, csrfToken, session } = await login({ db }, { email, password, totp, ip })
 */
export async function login(
  ctx: SessionsContext,
  params: { email: unknown; password: unknown; totp?: unknown; ip?: unknown },
): Promise<SignedIn & { token: string; csrfToken: string }> {
  const email = checkEmail(params.email)
  const password = passwordShape(params.password)
  const { totp, ip } = checkLoginExtras(params.totp, params.ip)
  const now = ctx.now?.() ?? new Date()
  const [user] = await ctx.db.select().from(consoleUsers).where(emailMatches(email))
  const passwordOk = await Bun.password.verify(password, user?.passwordHash ?? absentUserHash)
  const emailHash = emailThrottleKey(email)
  // counted per email, for unknown emails too: a lock, and its Retry-After, tell nothing about who has an account
  const refuse = async (reason: string): Promise<never> => {
    throw await countFailure(ctx.db, { emailHash, userId: user?.id, email, reason, ip, now })
  }
  const [throttle] = await ctx.db
    .select({ lockedUntil: consoleLoginThrottle.lockedUntil })
    .from(consoleLoginThrottle)
    .where(eq(consoleLoginThrottle.emailHash, emailHash))
  if (throttle?.lockedUntil && throttle.lockedUntil > now) {
    await recordAudit(ctx.db, {
      merchantId: null,
      actor: { system: 'console' },
      action: 'console.login_failed',
      target: user ? { type: 'console_user', id: user.id } : { type: 'console_login', id: emailHash },
      data: { reason: 'locked', ip },
    })
    throw loginFailed(Math.ceil((throttle.lockedUntil.getTime() - now.getTime()) / 1000))
  }
  if (!user) return refuse('unknown_email')
  if (user.disabledAt) return refuse('disabled')
  if (!passwordOk) return refuse('wrong_password')
  if (user.totpConfirmed && user.totpSecret) {
    if (totp === undefined)
      throw new TollgateError('TOTP_REQUIRED', 'enter the code of your authenticator app', 'totp')
    const step = totpStep(openSecret(ctx.consoleSecretKey, user.id, user.totpSecret), totp, now)
    if (step === null) return refuse('wrong_totp')
    if (!(await claimTotpStep(ctx.db, user.id, step))) return refuse('totp_replayed')
  }

  const token = `tgs_${randomSecret(32)}`
  const csrfToken = randomSecret(32)
  const session: ConsoleSession = {
    id: newId('ses'),
    userId: user.id,
    csrfHash: sha256(csrfToken),
    createdAt: now,
    lastSeenAt: now,
    expiresAt: expiryOf(now, now),
  }
  const opened = await ctx.db.transaction(async (tx) => {
    // a lock or a disabling that landed while the password was being checked wins over this success
    const [locked] = await tx
      .delete(consoleLoginThrottle)
      .where(eq(consoleLoginThrottle.emailHash, emailHash))
      .returning({ lockedUntil: consoleLoginThrottle.lockedUntil })
    if (locked?.lockedUntil && locked.lockedUntil > now) return false
    const [current] = await tx
      .update(consoleUsers)
      .set(
        // a secret stored before the operator set CONSOLE_SECRET_KEY is sealed at its owner's next login
        user.totpSecret && ctx.consoleSecretKey && !isSealed(user.totpSecret)
          ? { totpSecret: sealSecret(ctx.consoleSecretKey, user.id, user.totpSecret) }
          : { id: user.id },
      )
      .where(and(eq(consoleUsers.id, user.id), isNull(consoleUsers.disabledAt)))
      .returning({ id: consoleUsers.id })
    if (!current) return false
    await tx.insert(consoleSessions).values({
      id: session.id,
      userId: user.id,
      tokenHash: sha256(token),
      csrfHash: session.csrfHash,
      ip,
      createdAt: now,
      lastSeenAt: now,
    })
    await recordAudit(tx, {
      merchantId: null,
      actor: { userId: user.id },
      action: 'console.login_succeeded',
      target: { type: 'console_session', id: session.id },
      data: { ip },
    })
    return true
  })
  if (!opened) throw loginFailed()
  return {
    token,
    csrfToken,
    session,
    user: {
      id: user.id,
      email: user.email,
      displayName: user.displayName,
      totpEnabled: user.totpConfirmed,
    },
    memberships: await membershipsOf(ctx.db, user.id),
  }
}

/**
 * Counts a failed login of an email in one statement (so racing guesses all count), whether or not a user has
 * it; the fifth in a row locks the email for 15 minutes and starts the count again. Audited; answers the error
 * to throw.
 */
async function countFailure(
  db: Db,
  f: {
    emailHash: string
    userId: string | undefined
    email: string
    reason: string
    ip: string | null
    now: Date
  },
): Promise<LoginFailed> {
  const lockUntil = new Date(f.now.getTime() + lockoutMs)
  const t = consoleLoginThrottle
  const reaches = sql`${t.failedLogins} + 1 >= ${maxFailedLogins}`
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(t)
      .values({ emailHash: f.emailHash, failedLogins: maxFailedLogins <= 1 ? 0 : 1, updatedAt: f.now })
      .onConflictDoUpdate({
        target: t.emailHash,
        set: {
          failedLogins: sql`case when ${reaches} then 0 else ${t.failedLogins} + 1 end`,
          lockedUntil: sql`case when ${reaches} then ${lockUntil.toISOString()}::timestamptz else ${t.lockedUntil} end`,
          updatedAt: f.now,
        },
      })
      .returning({ lockedUntil: t.lockedUntil })
    const locked = row?.lockedUntil?.getTime() === lockUntil.getTime()
    const entry = {
      merchantId: null,
      actor: { system: 'console' },
      target: f.userId
        ? { type: 'console_user', id: f.userId }
        : { type: 'console_login', id: f.email.toLowerCase() },
    } as const
    await recordAudit(tx, { ...entry, action: 'console.login_failed', data: { reason: f.reason, ip: f.ip } })
    if (locked)
      await recordAudit(tx, {
        ...entry,
        action: 'console.login_locked',
        data: { until: lockUntil.toISOString(), ip: f.ip },
      })
    return loginFailed(locked ? lockoutMs / 1000 : undefined)
  })
}

/**
 * The signed-in user behind a session token, with their roles per merchant; the session's idle clock restarts
 * (unless `touch: false`, for a check that is not the user's doing).
 * A malformed, unknown, logged-out or expired token, or one of a disabled user, is UNAUTHENTICATED alike.
 *
 * @example
 * const { user, memberships, session } = await sessionFor({ db }, cookies.get('tollgate_session'))
 */
export async function sessionFor(
  ctx: SessionsContext,
  token: unknown,
  options: { touch?: boolean } = {},
): Promise<SignedIn> {
  if (typeof token !== 'string' || !tokenPattern.test(token)) throw unauthenticated()
  const now = ctx.now?.() ?? new Date()
  const [row] = await ctx.db
    .select({ session: consoleSessions, user: consoleUsers })
    .from(consoleSessions)
    .innerJoin(consoleUsers, eq(consoleUsers.id, consoleSessions.userId))
    .where(eq(consoleSessions.tokenHash, sha256(token)))
  if (!row || row.session.revokedAt || row.user.disabledAt) throw unauthenticated()
  if (expiryOf(row.session.createdAt, row.session.lastSeenAt) <= now) throw unauthenticated()
  // a live stream's re-checks look without touching: an open subscription alone never keeps a session alive
  const touch = options.touch ?? true
  const lastSeenAt = touch && now > row.session.lastSeenAt ? now : row.session.lastSeenAt
  if (touch)
    await ctx.db
      .update(consoleSessions)
      .set({ lastSeenAt })
      .where(and(eq(consoleSessions.id, row.session.id), isNull(consoleSessions.revokedAt)))
  return {
    session: {
      id: row.session.id,
      userId: row.user.id,
      csrfHash: row.session.csrfHash,
      createdAt: row.session.createdAt,
      lastSeenAt,
      expiresAt: expiryOf(row.session.createdAt, lastSeenAt),
    },
    user: {
      id: row.user.id,
      email: row.user.email,
      displayName: row.user.displayName,
      totpEnabled: row.user.totpConfirmed,
    },
    memberships: await membershipsOf(ctx.db, row.user.id),
  }
}

/**
 * Ends the session of `token` (audited); true when one was open. Logging out twice, or with a token that names no
 * open session, changes nothing.
 *
 * @example
 * await logout({ db }, cookies.get('tollgate_session'))
 */
export async function logout(ctx: SessionsContext, token: unknown): Promise<boolean> {
  if (typeof token !== 'string' || !tokenPattern.test(token)) return false
  const now = ctx.now?.() ?? new Date()
  return ctx.db.transaction(async (tx) => {
    const [ended] = await tx
      .update(consoleSessions)
      .set({ revokedAt: now })
      .where(and(eq(consoleSessions.tokenHash, sha256(token)), isNull(consoleSessions.revokedAt)))
      .returning({ id: consoleSessions.id, userId: consoleSessions.userId })
    if (!ended) return false
    // at commit every API process re-checks the streams opened under this user: this session's end there
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${sessionKeyId(ended.userId)})`)
    await recordAudit(tx, {
      merchantId: null,
      actor: { userId: ended.userId },
      action: 'console.logout',
      target: { type: 'console_session', id: ended.id },
    })
    return true
  })
}

/**
 * Gives a live session a new CSRF token (only its hash is stored) and answers it; the previous one stops working.
 * Undefined when the session ended meanwhile. A reloaded console page asks this, having kept the token in memory.
 *
 * @example
 * const csrfToken = await rotateCsrf({ db }, signedIn.session.id)
 */
export async function rotateCsrf(ctx: SessionsContext, sessionId: string): Promise<string | undefined> {
  const csrfToken = randomSecret(32)
  const rotated = await ctx.db
    .update(consoleSessions)
    .set({ csrfHash: sha256(csrfToken) })
    .where(and(eq(consoleSessions.id, sessionId), isNull(consoleSessions.revokedAt)))
    .returning({ id: consoleSessions.id })
  return rotated.length > 0 ? csrfToken : undefined
}

/**
 * Whether `presented` is the session's CSRF token (compared as SHA-256 digests, in constant time). A request that
 * changes anything must carry it besides the session cookie: a page of another site can make the browser send
 * the cookie, never read the token.
 *
 * @example
 * if (!verifyCsrf(session, request.headers.get('x-csrf-token'))) throw forbidden()
 */
export function verifyCsrf(session: Pick<ConsoleSession, 'csrfHash'>, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 200) return false
  const expected = Buffer.from(session.csrfHash, 'hex')
  const given = createHash('sha256').update(presented).digest()
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** The name of the `tollgate_session` cookie, which carries a console session's token (HttpOnly). */
export const sessionCookieName = 'tollgate_session'

export { sessionKeyId, sha256 }

/**
 * The session token in a `Cookie` header, if any.
 *
 * @example
 * sessionTokenOf('theme=dark; tollgate_session=tgs_abc') // 'tgs_abc'
 */
export function sessionTokenOf(cookieHeader: string | null | undefined): string | undefined {
  if (!cookieHeader) return undefined
  for (const pair of cookieHeader.split(';')) {
    const at = pair.indexOf('=')
    if (at < 0 || pair.slice(0, at).trim() !== sessionCookieName) continue
    const value = pair.slice(at + 1).trim()
    if (value) return value
  }
  return undefined
}

const merchantIdPattern = /^mer_[A-Za-z0-9_]{1,64}$/

/**
 * What a signed-in user may do at `merchantId` through the API, as an API key's AuthInfo (the union of their
 * roles' scopes there, the session's expiry); null when the id is malformed or they hold no role there.
 *
 * @example
 * const auth = actingFor(signedIn, request.headers.get('x-tollgate-merchant'))
 * if (!auth) return forbidden()
 */
export function actingFor(signedIn: SignedIn, merchantId: string | null | undefined): AuthInfo | null {
  if (
    typeof merchantId !== 'string' ||
    !merchantIdPattern.test(merchantId) ||
    !signedIn.memberships.some((m) => m.merchantId === merchantId)
  )
    return null
  return {
    merchantId,
    keyId: sessionKeyId(signedIn.user.id),
    scopes: scopesFor(signedIn.memberships, merchantId),
    expiresAt: signedIn.session.expiresAt,
  }
}
