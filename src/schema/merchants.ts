import { apiKeyScopes, createApiKey, listApiKeys, revokeApiKey } from '../core/access/api-keys.ts'
import { getMerchant } from '../core/access/merchants.ts'
import { notFound } from '../core/errors.ts'
import { builder } from './builder.ts'
import { requireAuth } from './context.ts'
import { userErrors } from './errors.ts'

const ApiKeyScopeEnum = builder.enumType('ApiKeyScope', {
  values: Object.fromEntries(apiKeyScopes.map((s) => [s.replace(':', '_').toUpperCase(), { value: s }])),
})

type ApiKeyRow = Awaited<ReturnType<typeof listApiKeys>>[number]
type MerchantRow = NonNullable<Awaited<ReturnType<typeof getMerchant>>>

const ApiKeyRef = builder.objectRef<ApiKeyRow>('ApiKey').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'The public part of the key, for telling keys apart' }),
    scopes: t.field({ type: [ApiKeyScopeEnum], resolve: (k) => k.scopes as never }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.createdAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revokedAt }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the key stops working, as if revoked (null: it works until revoked)',
      resolve: (k) => k.expiresAt,
    }),
  }),
})

const MerchantRef = builder.objectRef<MerchantRow>('Merchant').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.field({ type: 'DateTime', resolve: (m) => m.createdAt }),
    apiKeys: t.field({
      type: [ApiKeyRef],
      authScopes: { scope: 'admin' },
      resolve: (m, _a, ctx) => listApiKeys(ctx.app, m.id),
    }),
  }),
})

builder.queryField('me', (t) =>
  t.field({
    type: MerchantRef,
    description: 'The merchant the API key belongs to',
    authScopes: { authenticated: true },
    resolve: async (_root, _args, ctx) => {
      const auth = await requireAuth(ctx)
      const merchant = await getMerchant(ctx.app, auth.merchantId)
      if (!merchant) throw notFound('merchant')
      return merchant
    },
  }),
)

const ApiKeyCreated = builder.objectRef<{ apiKey: ApiKeyRow; key: string }>('ApiKeyCreated').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (r) => r.apiKey }),
    key: t.exposeString('key', { description: 'The secret key. Shown only here, once.' }),
  }),
})

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: ApiKeyCreated,
    authScopes: { scope: 'admin' },
    errors: userErrors('CreateApiKeyResult'),
    args: {
      name: t.arg.string({ required: true }),
      scopes: t.arg({ type: [ApiKeyScopeEnum], required: true }),
      expiresAt: t.arg({
        type: 'DateTime',
        description:
          'When the key stops working (in the future, at most 10 years ahead); its open subscriptions end then too. Without it the key works until revoked.',
      }),
    },
    resolve: async (_root, args, ctx) => {
      const auth = await requireAuth(ctx)
      const created = await createApiKey(ctx.app, {
        merchantId: auth.merchantId,
        name: args.name,
        scopes: args.scopes as string[],
        expiresAt: args.expiresAt ?? undefined,
        actor: { keyId: auth.keyId, requestId: ctx.requestId },
      })
      const [apiKey] = await listApiKeys(ctx.app, auth.merchantId, { keyId: created.id })
      if (!apiKey) throw notFound('API key')
      return { apiKey, key: created.key }
    },
  }),
)

const RevokeApiKeyPayload = builder.objectRef<{ id: string }>('RevokeApiKeyPayload').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
})

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: RevokeApiKeyPayload,
    authScopes: { scope: 'admin' },
    errors: userErrors('RevokeApiKeyResult'),
    args: { id: t.arg.id({ required: true }) },
    description:
      "Revokes one of the merchant's keys (by id or prefix): it stops working at once in every API process, and its open subscriptions end",
    resolve: async (_root, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      return revokeApiKey(ctx.app, {
        merchantId: auth.merchantId,
        keyId: String(id),
        actor: { keyId: auth.keyId, requestId: ctx.requestId },
      })
    },
  }),
)
