import { and, asc, eq, inArray, isNull, ne, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { consoleMemberships, consoleUsers } from '../../db/schema/index.ts'
import { invalidInput, notFound, TollgateError } from '../errors.ts'
import { revocationChannel } from './api-keys.ts'
import { type AuditActor, recordAudit } from './audit.ts'
import { type ConsoleRole, consoleRoles, sessionKeyId } from './console-roles.ts'
import {
  checkDisplayName,
  checkEmail,
  checkNewPassword,
  checkRole,
  createConsoleUser,
  emailMatches,
  grantConsoleRole,
} from './console-users.ts'

// A merchant's admins manage who uses the console for that merchant: the people holding a role there, adding one
// (a new user, or a role for an existing one) and taking a role back. Everything is scoped to one merchant: no
// answer names another merchant's roles, and no change touches another merchant's membership rows.

/** A person holding at least one role at a merchant, with their roles there (never another merchant's). */
export type ConsoleMember = {
  id: string
  email: string
  name: string
  /** Their roles at this merchant, in the order of `consoleRoles` (viewer … admin). */
  roles: ConsoleRole[]
  /** Two-factor is on: their sign-in needs a code. */
  totpEnabled: boolean
  /** Disabled (at the command line): they cannot sign in at all. */
  disabled: boolean
}

type MembersContext = { db: Db }

const unprintable = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u

function checkUserId(userId: unknown): string {
  if (typeof userId !== 'string' || userId.length > 100 || unprintable.test(userId))
    throw invalidInput('userId', 'userId is the id of a console user (usr_…)')
  return userId
}

const notMember = () => notFound('console member')

async function membersWhere(db: Db | Tx, merchantId: string, userIds?: string[]): Promise<ConsoleMember[]> {
  const rows = await db
    .select({
      id: consoleUsers.id,
      email: consoleUsers.email,
      name: consoleUsers.displayName,
      totpEnabled: consoleUsers.totpConfirmed,
      disabledAt: consoleUsers.disabledAt,
      role: consoleMemberships.role,
    })
    .from(consoleMemberships)
    .innerJoin(consoleUsers, eq(consoleUsers.id, consoleMemberships.userId))
    .where(
      and(
        eq(consoleMemberships.merchantId, merchantId),
        userIds ? inArray(consoleMemberships.userId, userIds) : undefined,
      ),
    )
    .orderBy(asc(sql`lower(${consoleUsers.displayName})`), asc(consoleUsers.email), asc(consoleUsers.id))
  const members = new Map<string, ConsoleMember>()
  for (const r of rows) {
    const member = members.get(r.id) ?? {
      id: r.id,
      email: r.email,
      name: r.name,
      roles: [],
      totpEnabled: r.totpEnabled,
      disabled: r.disabledAt !== null,
    }
    member.roles.push(r.role)
    members.set(r.id, member)
  }
  for (const m of members.values()) m.roles.sort((a, b) => consoleRoles.indexOf(a) - consoleRoles.indexOf(b))
  return [...members.values()]
}

/**
 * The people holding a role at `merchantId`, by name, each with their roles there only.
 *
 * @example
 * const members = await listConsoleMembers({ db }, merchantId)
 * // [{ id: 'usr_…', email: 'ana@example.com', name: 'Ana', roles: ['admin'], totpEnabled: true, disabled: false }]
 */
export async function listConsoleMembers(ctx: MembersContext, merchantId: string): Promise<ConsoleMember[]> {
  return membersWhere(ctx.db, merchantId)
}

/**
 * One member of `merchantId` (their roles there only), or undefined when they hold no role there.
 *
 * @example
 * const member = await consoleMemberOf({ db }, merchantId, userId)
 */
export async function consoleMemberOf(
  ctx: MembersContext,
  merchantId: string,
  userId: string,
): Promise<ConsoleMember | undefined> {
  return (await membersWhere(ctx.db, merchantId, [userId]))[0]
}

/**
 * Adds a person to a merchant's console with `role`. An email no user has makes a new user with `name` and the
 * initial `password` (the CLI's rules: checkNewPassword); an email a user has already (whatever its case) only
 * gains the role here: their name and password stay theirs, and what was typed for them is not used. Either way
 * the answer is the member as this merchant sees them. Every input is checked first, whether or not the email
 * has a user, so a refusal (INVALID_INPUT on `email`, `name`, `password` or `role`) says nothing about who exists,
 * and nothing is written. Granting a role held already changes nothing (no error). Audited as the CLI's creation
 * and grant are (`console.user_created`, `console.role_granted`), with `actor`.
 *
 * @example
 * const member = await addConsoleMember({ db }, {
 *   merchantId, email: 'ana@example.com', name: 'Ana', role: 'viewer', password, actor: { keyId, requestId },
 * })
 */
export async function addConsoleMember(
  ctx: MembersContext,
  params: {
    merchantId: string
    email: unknown
    name: unknown
    role: unknown
    password: unknown
    actor: AuditActor
  },
): Promise<ConsoleMember> {
  const email = checkEmail(params.email)
  const name = checkDisplayName(params.name, 'name')
  const role = checkRole(params.role)
  const password = checkNewPassword(params.password, email)
  const grant = () =>
    grantConsoleRole(ctx, { email, merchantId: params.merchantId, role, actor: params.actor })
  const [existing] = await ctx.db
    .select({ id: consoleUsers.id })
    .from(consoleUsers)
    .where(emailMatches(email))
  let userId: string
  if (existing) userId = (await grant()).userId
  else {
    try {
      userId = (
        await createConsoleUser(ctx, {
          email,
          displayName: name,
          password,
          membership: { merchantId: params.merchantId, role },
          actor: params.actor,
        })
      ).id
    } catch (err) {
      // the email was checked above, so the only refusal on it left is "taken": another request created that
      // user meanwhile, and the person gains the role as any existing user does
      if (!(err instanceof TollgateError && err.code === 'INVALID_INPUT' && err.field === 'email')) throw err
      userId = (await grant()).userId
    }
  }
  const member = await consoleMemberOf(ctx, params.merchantId, userId)
  if (!member) throw notMember()
  return member
}

/**
 * Takes `role` at `merchantId` back from a member (only that membership row: their roles at other merchants stay).
 * Their open sessions keep working, with this merchant's scopes recomputed at their next request (a session reads
 * its memberships on every request), and their open live streams here are checked again at once. Refusals change
 * nothing: INVALID_INPUT for an unknown role or a malformed id; NOT_FOUND for a user who holds no role here (another
 * merchant's user alike) or does not hold this one; INVALID_STATE for the last admin role held by an enabled user,
 * so someone can still manage the merchant's people. Audited as `console.role_removed`. Answers the member as they
 * are left, or undefined when they hold no role here any more.
 *
 * @example
 * const left = await removeConsoleRole({ db }, { merchantId, userId, role: 'operator', actor: { keyId } })
 */
export async function removeConsoleRole(
  ctx: MembersContext,
  params: { merchantId: string; userId: unknown; role: unknown; actor: AuditActor },
): Promise<ConsoleMember | undefined> {
  const role = checkRole(params.role)
  const userId = checkUserId(params.userId)
  const { merchantId } = params
  await ctx.db.transaction(async (tx) => {
    // removals of admin roles at one merchant take turns: two admins removing each other at once cannot both win
    // and leave nobody
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended(${`console_admins|${merchantId}`}, 0))`,
    )
    const held = await tx
      .select({
        role: consoleMemberships.role,
        disabledAt: consoleUsers.disabledAt,
        email: consoleUsers.email,
      })
      .from(consoleMemberships)
      .innerJoin(consoleUsers, eq(consoleUsers.id, consoleMemberships.userId))
      .where(and(eq(consoleMemberships.merchantId, merchantId), eq(consoleMemberships.userId, userId)))
    const first = held[0]
    if (!first) throw notMember()
    if (!held.some((m) => m.role === role)) throw notFound(`the ${role} role of this member`)
    if (role === 'admin' && first.disabledAt === null) {
      const [other] = await tx
        .select({ userId: consoleMemberships.userId })
        .from(consoleMemberships)
        .innerJoin(consoleUsers, eq(consoleUsers.id, consoleMemberships.userId))
        .where(
          and(
            eq(consoleMemberships.merchantId, merchantId),
            eq(consoleMemberships.role, 'admin'),
            ne(consoleMemberships.userId, userId),
            isNull(consoleUsers.disabledAt),
          ),
        )
        .limit(1)
      if (!other)
        throw new TollgateError(
          'INVALID_STATE',
          'this is the last admin of the merchant: make someone else an admin first',
        )
    }
    await tx
      .delete(consoleMemberships)
      .where(
        and(
          eq(consoleMemberships.merchantId, merchantId),
          eq(consoleMemberships.userId, userId),
          eq(consoleMemberships.role, role),
        ),
      )
    // at commit every API process re-checks the live streams opened under this user
    await tx.execute(sql`select pg_notify(${revocationChannel}, ${sessionKeyId(userId)})`)
    await recordAudit(tx, {
      merchantId,
      actor: params.actor,
      action: 'console.role_removed',
      target: { type: 'console_user', id: userId },
      data: { email: first.email, role },
    })
  })
  return consoleMemberOf(ctx, merchantId, userId)
}
