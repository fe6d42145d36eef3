import type { WebhookAttemptRow } from '../core/webhooks/delivery-attempts.ts'
import { listWebhookDeliveries, redeliverWebhook } from '../core/webhooks/delivery-log.ts'
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  type EndpointRow,
  listWebhookEndpoints,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from '../core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../core/webhooks/events.ts'
import type { webhookDeliveries } from '../db/schema/index.ts'
import { builder } from './builder.ts'
import { afterId, toConnection } from './connection.ts'
import { requireAuth } from './context.ts'
import { connectionCost, defaultPageSize, readListCost } from './cost.ts'
import { userErrors } from './errors.ts'
import { webhookAttempts } from './loaders.ts'

const WebhookEventTypeEnum = builder.enumType('WebhookEventType', {
  values: Object.fromEntries(webhookEventTypes.map((t) => [t.replace('.', '_').toUpperCase(), { value: t }])),
})

const WebhookEndpointRef = builder.objectRef<EndpointRow>('WebhookEndpoint').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    description: t.string({ nullable: true, resolve: (e) => e.description }),
    events: t.field({ type: [WebhookEventTypeEnum], resolve: (e) => e.events as never }),
    enabled: t.exposeBoolean('enabled'),
    failingSince: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Set when a delivery used up its retries; cleared by the next success',
      resolve: (e) => e.failingSince,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
})

type DeliveryRow = typeof webhookDeliveries.$inferSelect
type AttemptRow = WebhookAttemptRow

const WebhookAttemptRef = builder.objectRef<AttemptRow>('WebhookAttempt').implement({
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    statusCode: t.int({ nullable: true, resolve: (a) => a.statusCode }),
    error: t.string({ nullable: true, resolve: (a) => a.error }),
    latencyMs: t.exposeInt('latencyMs'),
    responseBody: t.string({
      nullable: true,
      description: 'First 1 KiB of the answer',
      resolve: (a) => a.responseBody,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
  }),
})

const WebhookDeliveryRef = builder.objectRef<DeliveryRow>('WebhookDelivery').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    eventId: t.exposeString('eventId', { description: 'The webhook-id header: the same on every attempt' }),
    eventType: t.exposeString('eventType'),
    status: t.string({ description: 'pending, succeeded or failed', resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (d) => (d.status === 'pending' ? d.nextAttemptAt : null),
    }),
    deliveredAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.deliveredAt }),
    payload: t.field({ type: 'JSON', resolve: (d) => d.payload }),
    attemptLog: t.field({
      type: [WebhookAttemptRef],
      complexity: readListCost,
      resolve: (d, _a, ctx) => webhookAttempts(ctx).load(d),
    }),
  }),
})

const EndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true }),
    events: t.field({ type: [WebhookEventTypeEnum], required: true }),
    description: t.string(),
  }),
})

const UpdateEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string(),
    events: t.field({ type: [WebhookEventTypeEnum] }),
    description: t.string(),
    enabled: t.boolean(),
  }),
})

const EndpointWithSecret = builder
  .objectRef<{ endpoint: EndpointRow; secret: string }>('WebhookEndpointWithSecret')
  .implement({
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpointRef, resolve: (r) => r.endpoint }),
      secret: t.exposeString('secret', {
        description: 'The signing secret (whsec_…). Shown only here, once.',
      }),
    }),
  })

builder.mutationField('createWebhookEndpoint', (t) =>
  t.field({
    type: EndpointWithSecret,
    authScopes: { scope: 'webhooks:write' },
    errors: userErrors('CreateWebhookEndpointResult'),
    args: { input: t.arg({ type: EndpointInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const auth = await requireAuth(ctx)
      return createWebhookEndpoint(ctx.app, auth.merchantId, { ...input, events: input.events as string[] })
    },
  }),
)

builder.mutationField('updateWebhookEndpoint', (t) =>
  t.field({
    type: WebhookEndpointRef,
    authScopes: { scope: 'webhooks:write' },
    errors: userErrors('UpdateWebhookEndpointResult'),
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateEndpointInput, required: true }) },
    resolve: async (_r, { id, input }, ctx) => {
      const auth = await requireAuth(ctx)
      return updateWebhookEndpoint(ctx.app, auth.merchantId, String(id), {
        ...input,
        events: input.events as string[] | null,
      })
    },
  }),
)

const Deleted = builder.objectRef<{ id: string }>('WebhookEndpointDeleted').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
})

builder.mutationField('deleteWebhookEndpoint', (t) =>
  t.field({
    type: Deleted,
    authScopes: { scope: 'webhooks:write' },
    errors: userErrors('DeleteWebhookEndpointResult'),
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, { id }, ctx) => {
      const auth = await requireAuth(ctx)
      await deleteWebhookEndpoint(ctx.app, auth.merchantId, String(id))
      return { id: String(id) }
    },
  }),
)

builder.mutationField('rotateWebhookSecret', (t) =>
  t.field({
    type: EndpointWithSecret,
    authScopes: { scope: 'webhooks:write' },
    errors: userErrors('RotateWebhookSecretResult'),
    description:
      'A new secret; the old one keeps signing too for overlapSeconds (default one day). Recorded in the audit log',
    args: { id: t.arg.id({ required: true }), overlapSeconds: t.arg.int() },
    resolve: async (_r, { id, overlapSeconds }, ctx) => {
      const auth = await requireAuth(ctx)
      return rotateWebhookSecret(ctx.app, auth.merchantId, String(id), overlapSeconds ?? undefined, {
        keyId: auth.keyId,
        requestId: ctx.requestId,
      })
    },
  }),
)

builder.mutationField('redeliverWebhook', (t) =>
  t.field({
    type: WebhookDeliveryRef,
    authScopes: { scope: 'webhooks:write' },
    errors: userErrors('RedeliverWebhookResult'),
    description: 'Sends a delivery again (same event id), with a fresh retry schedule',
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: async (_r, { deliveryId }, ctx) => {
      const auth = await requireAuth(ctx)
      // due at once: the workers' delivery pumps claim it at their next look (within a second)
      return redeliverWebhook(ctx.app, auth.merchantId, String(deliveryId))
    },
  }),
)

builder.queryField('webhookEndpoints', (t) =>
  t.field({
    type: [WebhookEndpointRef],
    authScopes: { scope: 'webhooks:write' },
    resolve: async (_r, _a, ctx) => listWebhookEndpoints(ctx.app, (await requireAuth(ctx)).merchantId),
  }),
)

builder.queryField('webhookDeliveries', (t) =>
  t.connection({
    type: WebhookDeliveryRef,
    description: "An endpoint's deliveries, newest first",
    authScopes: { scope: 'webhooks:write' },
    args: { endpointId: t.arg.id({ required: true }) },
    complexity: connectionCost,
    resolve: async (_r, args, ctx) => {
      const auth = await requireAuth(ctx)
      const after = afterId(args, 'whd')
      return toConnection(
        await listWebhookDeliveries(ctx.app, auth.merchantId, String(args.endpointId), {
          first: args.first ?? defaultPageSize,
          after,
        }),
        after,
      )
    },
  }),
)

builder.queryField('webhookEventTypes', (t) =>
  t.field({
    type: [WebhookEventTypeEnum],
    description: 'Every event type an endpoint can subscribe to, in the order the gateway lists them',
    authScopes: { scope: 'webhooks:write' },
    resolve: () => [...webhookEventTypes] as never,
  }),
)
