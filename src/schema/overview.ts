import { assetById } from '../core/chains.ts'
import { formatAmount } from '../core/money.ts'
import {
  maxVolumeBuckets,
  paymentCountsByStatus,
  paymentVolume,
  type StatusCount,
  type VolumePoint,
  volumeIntervals,
  volumeRange,
} from '../core/payments/stats.ts'
import { type WebhookHealth, webhookHealth } from '../core/webhooks/health.ts'
import { type QueueHealth, queueHealth } from '../queue-health.ts'
import { builder } from './builder.ts'
import { AssetRef } from './chains.ts'
import { requireAuth } from './context.ts'
import { readCost, readListCost } from './cost.ts'
import { PaymentStatusEnum } from './payer-fields.ts'

// The figures a dashboard shows for one merchant, each read only when selected; chain sync lag is
// `chains { lag status }`, balances `balances`. The one gateway-wide figure, the job queues, needs admin: the
// queues carry every merchant's work, so their counts are the operator's, not a merchant's.

/** The overview of one merchant: its fields read that merchant's rows and no one else's. */
type Overview = { merchantId: string }

const StatusCountRef = builder.objectRef<StatusCount>('StatusCount').implement({
  description: 'How many of your payments are in one status',
  fields: (t) => ({
    status: t.field({ type: PaymentStatusEnum, resolve: (c) => c.status }),
    count: t.exposeInt('count'),
  }),
})

const VolumeIntervalEnum = builder.enumType('VolumeInterval', {
  description: 'The width of a volume bucket, in UTC',
  values: volumeIntervals,
})

const VolumePointRef = builder.objectRef<VolumePoint>('VolumePoint').implement({
  description: 'What your payments that completed in one bucket credited in one asset',
  fields: (t) => ({
    bucketStart: t.field({
      type: 'DateTime',
      description: 'The start of the bucket (a UTC midnight or hour)',
      resolve: (p) => p.bucketStart,
    }),
    chain: t.exposeString('chain'),
    asset: t.field({ type: AssetRef, resolve: (p, _a, ctx) => assetById(ctx.app.chains, p.chain, p.asset) }),
    amount: t.string({
      description:
        'The sum credited (amountConfirmed; refunds not deducted), a decimal string in whole units',
      resolve: (p, _a, ctx) => formatAmount(p.amount, assetById(ctx.app.chains, p.chain, p.asset).decimals),
    }),
    count: t.int({ description: 'How many payments completed', resolve: (p) => p.count }),
  }),
})

const WebhookHealthRef = builder.objectRef<WebhookHealth>('WebhookHealth').implement({
  description: 'How the delivery of your webhooks is going',
  fields: (t) => ({
    pending: t.exposeInt('pending', { description: 'Deliveries waiting to be sent (first try or a retry)' }),
    failing: t.exposeInt('failing', {
      description: 'Pending deliveries whose last attempt failed, waiting for their next retry',
    }),
    deliveredLastDay: t.exposeInt('deliveredLastDay', {
      description: 'Deliveries the receiver accepted in the last 24 hours',
    }),
    failedLastDay: t.exposeInt('failedLastDay', {
      description: 'Deliveries that used up their retries, with their last attempt in the last 24 hours',
    }),
    endpointsFailing: t.exposeInt('endpointsFailing', {
      description: 'Endpoints with failingSince set: a delivery used up its retries since their last success',
    }),
  }),
})

const QueueHealthRef = builder.objectRef<QueueHealth>('QueueHealth').implement({
  description: "One of the gateway's job queues (BullMQ) by the state of its jobs",
  fields: (t) => ({
    name: t.exposeString('name', {
      description: 'address-pool, scan, expire, payouts, reconcile, rates',
    }),
    waiting: t.exposeInt('waiting', {
      description: 'Jobs waiting for a worker (held by priority or pause too)',
    }),
    active: t.exposeInt('active', { description: 'Jobs a worker is running' }),
    delayed: t.exposeInt('delayed', {
      description: 'Jobs scheduled for later (repeats, retries after a backoff)',
    }),
    failed: t.exposeInt('failed', { description: 'Jobs that failed for good and are kept for inspection' }),
    paused: t.exposeBoolean('paused', { description: 'Whether the queue is paused (workers take nothing)' }),
  }),
})

const OverviewRef = builder.objectRef<Overview>('Overview').implement({
  description:
    "Your figures at a glance. Chain sync lag per chain is `chains { lag status { lagBlocks lastScanAgeSeconds degraded } }`, balances `balances`; the gateway's job queues (`queues`) and each chain's reconciliation (`chains { reconciliation }`) need admin",
  fields: (t) => ({
    paymentsByStatus: t.field({
      type: [StatusCountRef],
      description: 'Your payments counted per status; every status is listed, zero where none',
      complexity: readCost,
      resolve: (o, _a, ctx) => paymentCountsByStatus(ctx.app, o.merchantId),
    }),
    volume: t.field({
      type: [VolumePointRef],
      description: `Your completed payments per bucket of completedAt (UTC), chain and asset, oldest first; buckets where nothing completed are left out. The range is [from, to): to defaults to now, from to 30 days before to by DAY, 24 hours by HOUR. At most ${maxVolumeBuckets} buckets (INVALID_INPUT on from beyond that; on to when it is not after from)`,
      args: {
        interval: t.arg({ type: VolumeIntervalEnum, defaultValue: 'DAY' }),
        from: t.arg({ type: 'DateTime' }),
        to: t.arg({ type: 'DateTime' }),
      },
      complexity: readListCost,
      resolve: (o, args, ctx) => paymentVolume(ctx.app, o.merchantId, volumeRange(args, new Date())),
    }),
    webhooks: t.field({
      type: WebhookHealthRef,
      description:
        "Your webhook deliveries and endpoints by state (see webhookDeliveries for each one's log)",
      complexity: readCost,
      resolve: (o, _a, ctx) => webhookHealth(ctx.app, o.merchantId, new Date()),
    }),
    queues: t.field({
      type: [QueueHealthRef],
      description:
        "The gateway's job queues by the state of their jobs. Gateway-wide (every merchant's work shares them): needs admin",
      authScopes: { scope: 'admin' },
      complexity: readCost,
      resolve: (_o, _a, ctx) => queueHealth(ctx.app.queues),
    }),
  }),
})

builder.queryField('overview', (t) =>
  t.field({
    type: OverviewRef,
    description: 'Figures about your payments and webhooks for a dashboard (needs payments:read)',
    authScopes: { scope: 'payments:read' },
    resolve: async (_root, _args, ctx) => ({ merchantId: (await requireAuth(ctx)).merchantId }),
  }),
)
