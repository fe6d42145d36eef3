import { actorNames } from '../core/access/actor-names.ts'
import { listAuditLog } from '../core/access/audit.ts'
import type { auditLog } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { afterId, toConnection } from './connection.ts'
import { requireAuth } from './context.ts'
import { connectionCost, defaultPageSize } from './cost.ts'
import { perRowLoader } from './loaders.ts'

type AuditRow = typeof auditLog.$inferSelect

/** The names of a page of entries' actors, read in one query per kind of actor. */
const auditActorNames = perRowLoader<AuditRow, string | null>(
  (e) => e.actor,
  async (ctx, actors) => actorNames(ctx.app.db, (await requireAuth(ctx)).merchantId, actors),
  () => null,
)

const AuditEntryRef = builder.objectRef<AuditRow>('AuditEntry').implement({
  description: 'An admin action on your account, recorded in the transaction that made it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.exposeString('action', {
      description:
        'apikey.created, apikey.revoked, withdrawal.approved, withdrawal.rejected, webhook.secret_rotated',
    }),
    actor: t.exposeString('actor', {
      description:
        'Who acted: an API key id, `user:<id>` for a console user, "cli" for an operator at the command line, or `system:…`',
    }),
    actorName: t.string({
      nullable: true,
      description:
        "The actor's name: a console user's display name or an API key's name (yours only); null for the command line and the system",
      resolve: async (e, _args, ctx) => (await auditActorNames(ctx).load(e)) ?? null,
    }),
    targetType: t.exposeString('targetType', { description: 'api_key, withdrawal, webhook_endpoint' }),
    targetId: t.exposeString('targetId'),
    requestId: t.string({
      nullable: true,
      description: 'The API request it came in (as in the server logs)',
      resolve: (e) => e.requestId,
    }),
    data: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What the action carried (a reason, the scopes granted); never a secret',
      resolve: (e) => e.data ?? null,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
})

builder.queryField('auditLog', (t) =>
  t.connection({
    type: AuditEntryRef,
    description: 'Admin actions on your account, newest first (needs admin)',
    authScopes: { scope: 'admin' },
    complexity: connectionCost,
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'aud')
      const first = args.first ?? defaultPageSize
      return toConnection(await listAuditLog(ctx.app, auth.merchantId, { first, after }), after)
    },
  }),
)
