import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq, inArray } from 'drizzle-orm'
import {
  openUnitDb,
  toyChain,
  unitMerchant,
  unitPaymentsContext,
  unitWebhookContext,
} from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { paymentEvents, webhookDeliveries, withdrawalEvents, withdrawals } from '../../db/schema/index.ts'
import { newId } from '../ids.ts'
import { createPayment, type PaymentsContext } from '../payments/create.ts'
import { dispatchWebhookEvents } from './dispatch.ts'
import { createWebhookEndpoint, updateWebhookEndpoint } from './endpoints.ts'
import type { WebhookContext } from './events.ts'

const toy = toyChain()
let handle: DbHandle
let ctx: WebhookContext
let payCtx: PaymentsContext

beforeAll(async () => {
  handle = await openUnitDb()
  ctx = unitWebhookContext(handle, { allowInternal: true }, new Map([['toy', toy.chain]]))
  payCtx = unitPaymentsContext(handle, [toy.chain], {
    addressPoolSize: 20,
    xpubFor: () => 'xpub-unused-by-the-toy-driver',
  })
}, 30_000)
afterAll(() => handle.close())

const hookUrl = 'http://127.0.0.1:9/hook'

async function endpoint(merchantId: string, events: string[]) {
  return (await createWebhookEndpoint(ctx, merchantId, { url: hookUrl, events })).endpoint
}

async function payment(merchantId: string, amount = '1.5') {
  return (await createPayment(payCtx, merchantId, { chain: 'toy', asset: 'TOY', amount })).payment
}

/** A status change's outbox row, as refreshPayments writes it. */
async function paymentEvent(
  p: { id: string; merchantId: string },
  seq: number,
  type: string,
  toStatus: 'COMPLETED' | 'EXPIRED' | 'PROCESSING',
) {
  await handle.db.insert(paymentEvents).values({
    paymentId: p.id,
    merchantId: p.merchantId,
    seq,
    type,
    fromStatus: 'PENDING',
    toStatus,
    data: { amountReceived: '150000000', amountConfirmed: '150000000' },
  })
}

async function deliveriesOf(merchantId: string) {
  return handle.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.merchantId, merchantId))
    .orderBy(webhookDeliveries.eventId, webhookDeliveries.endpointId)
}

const pairs = (rows: Array<{ eventId: string; endpointId: string }>) =>
  rows.map((r) => `${r.eventId} → ${r.endpointId}`).sort()

const eventId = (objectId: string, seq: number) => `evt_${objectId.replace(/^[a-z]+_/, '')}_${seq}`

async function undispatchedPaymentEvents(paymentIds: string[]) {
  return handle.db
    .select()
    .from(paymentEvents)
    .where(and(inArray(paymentEvents.paymentId, paymentIds), eq(paymentEvents.dispatched, false)))
}

describe('dispatchWebhookEvents', () => {
  test('default: exactly one delivery per (event, enabled endpoint of the merchant that wants its type)', async () => {
    const shop = await unitMerchant(handle, 'Dispatch Shop')
    const stranger = await unitMerchant(handle, 'Stranger')
    const both = await endpoint(shop, ['payment.created', 'payment.completed'])
    const completedOnly = await endpoint(shop, ['payment.completed'])
    const disabled = await endpoint(shop, ['payment.created', 'payment.completed'])
    await updateWebhookEndpoint(ctx, shop, disabled.id, { enabled: false })
    const withdrawalsOnly = await endpoint(shop, ['withdrawal.requested'])
    const strangers = await endpoint(stranger, ['payment.created', 'payment.completed'])
    const p1 = await payment(shop)
    const p2 = await payment(shop)
    await paymentEvent(p1, 2, 'payment.completed', 'COMPLETED')
    // another merchant's event in the same run: its endpoint gets it, and none of the shop's
    const theirs = await payment(stranger)

    const created = await dispatchWebhookEvents(ctx)

    const rows = await deliveriesOf(shop)
    expect(pairs(rows)).toEqual(
      [
        `${eventId(p1.id, 1)} → ${both.id}`,
        `${eventId(p2.id, 1)} → ${both.id}`,
        `${eventId(p1.id, 2)} → ${both.id}`,
        `${eventId(p1.id, 2)} → ${completedOnly.id}`,
      ].sort(),
    )
    expect(created).toHaveLength(rows.length + 1)
    for (const r of rows) expect(created.map((c) => c.id)).toContain(r.id)
    for (const quiet of [disabled, withdrawalsOnly, strangers])
      expect(rows.some((r) => r.endpointId === quiet.id)).toBe(false)
    expect(pairs(await deliveriesOf(stranger))).toEqual([`${eventId(theirs.id, 1)} → ${strangers.id}`])
    for (const r of rows) expect(r).toMatchObject({ status: 'pending', attempts: 0, lockedUntil: null })
    expect(await undispatchedPaymentEvents([p1.id, p2.id])).toEqual([])
  })

  test('behavior: the payload carries the event (stable id, type, sequence) and the payment as receivers see it', async () => {
    const shop = await unitMerchant(handle, 'Payload Shop')
    const a = await endpoint(shop, ['payment.created'])
    const b = await endpoint(shop, ['payment.created'])
    const p = await payment(shop, '12.345')
    await dispatchWebhookEvents(ctx)
    const rows = await deliveriesOf(shop)
    expect(rows.map((r) => r.endpointId).sort()).toEqual([a.id, b.id].sort())
    const [event] = await handle.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, p.id))
    for (const r of rows) {
      // the same event id for every endpoint, so a receiver can dedupe
      expect(r.eventId).toBe(eventId(p.id, 1))
      expect(r.eventType).toBe('payment.created')
      expect(r.payload).toMatchObject({
        id: eventId(p.id, 1),
        type: 'payment.created',
        sequence: 1,
        createdAt: event!.createdAt.toISOString(),
        data: {
          object: 'payment',
          id: p.id,
          status: 'PENDING',
          chain: 'toy',
          asset: { id: toy.native.id, symbol: 'TOY', decimals: 8 },
          amountDue: '12.345',
          amountReceived: '0',
          address: p.address,
        },
      })
    }
  })

  test('behavior: running it again creates nothing new', async () => {
    const shop = await unitMerchant(handle, 'Twice Shop')
    await endpoint(shop, ['payment.created'])
    await payment(shop)
    await dispatchWebhookEvents(ctx)
    const first = await deliveriesOf(shop)
    expect(first).toHaveLength(1)
    expect(await dispatchWebhookEvents(ctx)).toEqual([])
    expect(await deliveriesOf(shop)).toEqual(first)
  })

  test('behavior: an event offered again (its outbox flag reset) does not duplicate its deliveries', async () => {
    const shop = await unitMerchant(handle, 'Replay Shop')
    await endpoint(shop, ['payment.created', 'payment.completed'])
    const p = await payment(shop)
    await paymentEvent(p, 2, 'payment.completed', 'COMPLETED')
    await dispatchWebhookEvents(ctx)
    const first = await deliveriesOf(shop)
    expect(first).toHaveLength(2)
    await handle.db.update(paymentEvents).set({ dispatched: false }).where(eq(paymentEvents.paymentId, p.id))
    expect(await dispatchWebhookEvents(ctx)).toEqual([])
    expect(await deliveriesOf(shop)).toEqual(first)
    expect(await undispatchedPaymentEvents([p.id])).toEqual([])
  })

  test('behavior: an event whose type no endpoint wants gets no delivery, and leaves the outbox', async () => {
    const shop = await unitMerchant(handle, 'Picky Shop')
    await endpoint(shop, ['payment.completed'])
    const p = await payment(shop)
    await paymentEvent(p, 2, 'payment.expired', 'EXPIRED')
    expect(await dispatchWebhookEvents(ctx)).toEqual([])
    expect(await deliveriesOf(shop)).toEqual([])
    expect(await undispatchedPaymentEvents([p.id])).toEqual([])
  })

  test('behavior: a merchant without endpoints gets no deliveries; its events leave the outbox', async () => {
    const shop = await unitMerchant(handle, 'Silent Shop')
    const p = await payment(shop)
    await dispatchWebhookEvents(ctx)
    expect(await deliveriesOf(shop)).toEqual([])
    expect(await undispatchedPaymentEvents([p.id])).toEqual([])
  })

  test('behavior: withdrawal events become deliveries with the withdrawal as data', async () => {
    const shop = await unitMerchant(handle, 'Payout Shop')
    const hook = await endpoint(shop, ['withdrawal.requested', 'payment.created'])
    const id = newId('wdr')
    await handle.db.insert(withdrawals).values({
      id,
      merchantId: shop,
      chain: 'toy',
      asset: toy.token.id,
      toAddress: 'toy42',
      amount: 2_500_000n,
      status: 'QUEUED',
      idempotencyKey: 'payout-1',
      requestHash: 'h',
    })
    await handle.db.insert(withdrawalEvents).values({
      withdrawalId: id,
      merchantId: shop,
      seq: 1,
      type: 'withdrawal.requested',
      toStatus: 'QUEUED',
    })
    const created = await dispatchWebhookEvents(ctx)
    expect(created).toHaveLength(1)
    const [row] = await deliveriesOf(shop)
    expect(row).toMatchObject({
      endpointId: hook.id,
      eventId: eventId(id, 1),
      eventType: 'withdrawal.requested',
    })
    expect(row!.payload).toMatchObject({
      type: 'withdrawal.requested',
      sequence: 1,
      data: {
        object: 'withdrawal',
        id,
        status: 'QUEUED',
        to: 'toy42',
        amount: '2.5',
        txHash: null,
        networkFee: null,
      },
    })
    const [event] = await handle.db
      .select()
      .from(withdrawalEvents)
      .where(eq(withdrawalEvents.withdrawalId, id))
    expect(event!.dispatched).toBe(true)
    expect(await dispatchWebhookEvents(ctx)).toEqual([])
  })

  test('behavior: at most `limit` events of each outbox per run; the rest wait for the next run', async () => {
    const shop = await unitMerchant(handle, 'Batch Shop')
    await endpoint(shop, ['payment.created'])
    const ps = [await payment(shop), await payment(shop), await payment(shop)]
    expect(await dispatchWebhookEvents(ctx, 2)).toHaveLength(2)
    expect(await undispatchedPaymentEvents(ps.map((p) => p.id))).toHaveLength(1)
    expect(await dispatchWebhookEvents(ctx, 2)).toHaveLength(1)
    expect(await deliveriesOf(shop)).toHaveLength(3)
  })
})
