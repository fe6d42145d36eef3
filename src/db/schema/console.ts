import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { merchants } from './merchants.ts'

/** What a console user may do for a merchant; each role stands for a set of API scopes (core/access/console-roles.ts). */
export const consoleRoles = ['viewer', 'operator', 'approver', 'compliance', 'admin'] as const
export type ConsoleRole = (typeof consoleRoles)[number]

/**
 * People who sign in to the console (API keys are for programs). The password is kept only as an argon2id hash;
 * the TOTP secret is set when enrollment starts and counts only once `totpConfirmed` (a code from it was shown).
 * `totpLastStep` is the time step of the last code accepted: a code of that step or an earlier one is refused, so
 * no code works twice. Failed logins are counted per email in `console_login_throttle`, not here.
 */
export const consoleUsers = pgTable(
  'console_users',
  {
    id: text('id').primaryKey(),
    /** As the user typed it; unique whatever its case (the index on `lower(email)`). */
    email: text('email').notNull(),
    displayName: text('display_name').notNull(),
    passwordHash: text('password_hash').notNull(),
    totpSecret: text('totp_secret'),
    totpConfirmed: boolean('totp_confirmed').notNull().default(false),
    totpLastStep: bigint('totp_last_step', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set: the user can no longer sign in and their sessions end. */
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('console_users_email_uq').on(sql`lower(${t.email})`)],
)

/** The roles a console user holds per merchant; a user may hold several roles and belong to several merchants. */
export const consoleMemberships = pgTable(
  'console_memberships',
  {
    userId: text('user_id')
      .notNull()
      .references(() => consoleUsers.id),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    role: text('role', { enum: consoleRoles }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.merchantId, t.role] }),
    index('console_memberships_merchant_idx').on(t.merchantId),
  ],
)

/**
 * Signed-in console sessions. The session token and its CSRF token are shown once, at login; only their SHA-256
 * are kept. A session ends at `revokedAt` (logout, the user disabled), after 30 idle minutes since `lastSeenAt`,
 * or 12 hours after `createdAt`, whichever comes first.
 */
export const consoleSessions = pgTable(
  'console_sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => consoleUsers.id),
    tokenHash: text('token_hash').notNull().unique(),
    csrfHash: text('csrf_hash').notNull(),
    /** The address the login came from, as the server saw it. */
    ip: text('ip'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('console_sessions_user_idx').on(t.userId)],
)

/**
 * Failed console logins per email, whether or not a user has that email: after too many in a row the email is
 * locked, and every login with it fails until `lockedUntil`. Keyed by the SHA-256 of the lower-cased email, so
 * the table holds no address nobody registered, and a lock tells nothing about which accounts exist.
 */
export const consoleLoginThrottle = pgTable('console_login_throttle', {
  emailHash: text('email_hash').primaryKey(),
  /** Failed logins since the last success or the last lock. */
  failedLogins: integer('failed_logins').notNull().default(0),
  lockedUntil: timestamp('locked_until', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
})
