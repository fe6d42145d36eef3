import { and, eq, inArray } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { apiKeys, consoleMemberships, consoleUsers } from '../../db/schema/index.ts'
import { sessionKeyId } from './console-roles.ts'

// How the people and programs that act on a merchant's account are known by name: a console user (`user:<id>`)
// by their display name, an API key (`key_…`) by its name. Only a member of the merchant, or a key of its own, is
// named: another merchant's user or key stays an id.

const userPrefix = sessionKeyId('')

/**
 * The names of `actors` (key ids or `user:<id>`) at `merchantId`, in one query per kind; actors with no name
 * there (the CLI, the system, another merchant's) are left out.
 *
 * @example
 * await actorNames(db, merchantId, ['user:usr_1', 'key_2']) // Map { 'user:usr_1' => 'Ada', 'key_2' => 'payouts bot' }
 */
export async function actorNames(db: Db | Tx, merchantId: string, actors: readonly string[]) {
  const userIds = [
    ...new Set(actors.filter((a) => a.startsWith(userPrefix)).map((a) => a.slice(userPrefix.length))),
  ]
  const keyIds = [...new Set(actors.filter((a) => a.startsWith('key_')))]
  const [users, keys] = await Promise.all([
    userIds.length === 0
      ? []
      : db
          .selectDistinct({ id: consoleUsers.id, name: consoleUsers.displayName })
          .from(consoleUsers)
          .innerJoin(consoleMemberships, eq(consoleMemberships.userId, consoleUsers.id))
          .where(and(inArray(consoleUsers.id, userIds), eq(consoleMemberships.merchantId, merchantId))),
    keyIds.length === 0
      ? []
      : db
          .select({ id: apiKeys.id, name: apiKeys.name })
          .from(apiKeys)
          .where(and(inArray(apiKeys.id, keyIds), eq(apiKeys.merchantId, merchantId))),
  ])
  return new Map<string, string>([
    ...users.map((u) => [sessionKeyId(u.id), u.name] as [string, string]),
    ...keys.map((k) => [k.id, k.name] as [string, string]),
  ])
}
