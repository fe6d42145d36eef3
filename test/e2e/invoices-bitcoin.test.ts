import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { payments } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type Bcoin, startBcoin } from '../helpers/bcoin.ts'
import { gatewayMnemonic } from '../helpers/chain.ts'
import { balancesOf, chooseMethod, createInvoiceGql, waitForInvoice } from '../helpers/invoices.ts'
import { recordingWebhookReceiver } from '../helpers/kyt.ts'
import { type RateStandIns, startRateStandIns, waitForRate, withPricing } from '../helpers/pricing.ts'
import { waitFor } from '../helpers/processes.ts'

// An invoice paid in Bitcoin through the whole gateway on a bcoin regtest node: BTC/USD from the Kraken stand-in
// by the rates job, the invoice created and its BTC method chosen by the buyer through GraphQL, paid and seen by
// the chain worker, and the rate kept with the payment and told to the merchant.

let node: Bcoin
let standIns: RateStandIns
let app: TestApp
let key: string
let hooks: ReturnType<typeof recordingWebhookReceiver>
let stopWorkers: (() => Promise<void>) | undefined

beforeAll(async () => {
  node = await startBcoin()
  standIns = startRateStandIns()
  hooks = recordingWebhookReceiver()
  const config = defineConfig({
    chains: {
      regtest: chain(
        () => import('../../src/plugins/bitcoin/index.ts'),
        {
          network: 'regtest',
          rpcUrls: [node.url],
          confirmations: 2,
          finalityDepth: 6,
          timeoutMs: 5000,
          headPollMs: 200,
        },
        // the 432 blocks to segwit activation hold nothing for the gateway
        { startHeight: await node.height(), scanIntervalMs: 300 },
      ),
    },
  })
  app = await createTestApp({
    config: withPricing(config, standIns, {
      pairs: { 'BTC/USD': { sources: ['kraken', 'coinbase'] } },
      refreshSeconds: 1,
    }),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true' },
  })
  const merchant = await app.merchant('Bitcoin invoice shop')
  key = merchant.key
  await createWebhookEndpoint(app.ctx, merchant.id, { url: hooks.url, events: webhookEventTypes })
  stopWorkers = await startWorkers(app.ctx)
}, 90_000)
afterAll(async () => {
  await stopWorkers?.()
  await app?.close()
  hooks?.stop()
  await standIns?.stop()
  await node?.stop()
})

describe('an invoice paid in Bitcoin on bcoin regtest', () => {
  test('default: 25.00 USD accepting BTC, chosen by the buyer and paid at the quoted sats → invoice and payment COMPLETED with the BTC/USD rate stored and sent', async () => {
    await waitForRate(app, key, 'BTC/USD', (r) => r.fresh, 10_000)
    const { result, errors } = await createInvoiceGql(app, key, {
      price: { amount: '25.00', currency: 'USD' },
      accept: [{ chain: 'regtest', asset: 'BTC' }],
    })
    expect(errors).toBeUndefined()
    expect(result.__typename).toBe('CreateInvoicePayload')
    const inv = result.invoice
    // 25 / 65000.1 = 0.000384614792…, rounded up to the sat
    expect(inv).toMatchObject({
      status: 'PENDING',
      price: { amount: '25.00', currency: 'USD' },
      methods: [
        {
          chain: 'regtest',
          asset: { symbol: 'BTC', decimals: 8 },
          amountDue: '0.00038462',
          rate: '65000.1',
          rateSources: { method: 'fallback', sources: [{ provider: 'kraken', rate: '65000.10000' }] },
        },
      ],
    })

    const chosen = await chooseMethod(app, null, {
      invoiceId: inv.id,
      chain: 'regtest',
      asset: 'BTC',
      clientSecret: inv.clientSecret,
    })
    expect(chosen.errors).toBeUndefined()
    expect(chosen.result).toMatchObject({
      __typename: 'ChosenPaymentMethod',
      payment: { status: 'PENDING', amountDue: '0.00038462', rate: '65000.1', asset: { symbol: 'BTC' } },
    })
    const payment = chosen.result.payment

    await node.send(payment.address, 38_462n)
    await node.mine(2)
    const done = await waitForInvoice(
      app,
      key,
      inv.id,
      ({ row }) => row.status === 'COMPLETED',
      'COMPLETED',
      20_000,
    )
    expect(done).toMatchObject({
      amountReceivedFiat: '25',
      amountRemainingFiat: '0',
      payments: [{ id: payment.id, status: 'COMPLETED', amountReceived: '0.00038462', rate: '65000.1' }],
    })
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, payment.id))
    expect(row).toMatchObject({
      invoiceId: inv.id,
      status: 'COMPLETED',
      amountDue: 38_462n,
      amountReceived: 38_462n,
      priceCurrency: 'USD',
      rate: '65000.1',
      rateSources: { method: 'fallback', sources: [{ provider: 'kraken', rate: '65000.10000' }] },
    })
    expect(Number(row!.priceAmount)).toBe(25)
    expect(await balancesOf(app, key)).toEqual({ 'regtest:BTC': '0.00038462' })

    const invoiceHook = await waitFor('invoice.completed webhook', () =>
      hooks.of(inv.id).find((h) => h.type === 'invoice.completed'),
    )
    expect(invoiceHook.data).toMatchObject({
      object: 'invoice',
      status: 'COMPLETED',
      price: { amount: '25.00', currency: 'USD' },
      amountReceivedFiat: '25',
      methods: [{ chain: 'regtest', asset: { symbol: 'BTC' }, rate: { value: '65000.1' } }],
      payments: [payment.id],
    })
    const paymentHook = await waitFor('payment.completed webhook', () =>
      hooks.of(payment.id).find((h) => h.type === 'payment.completed'),
    )
    expect(paymentHook.data).toMatchObject({
      invoiceId: inv.id,
      amountDue: '0.00038462',
      rate: { value: '65000.1', sources: { sources: [{ provider: 'kraken' }] } },
      amountReceivedFiat: '25',
    })
  }, 40_000)
})
