import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PricingConfig } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { createWebhookEndpoint } from '../../src/core/webhooks/endpoints.ts'
import { webhookEventTypes } from '../../src/core/webhooks/events.ts'
import { paymentEvents, payments } from '../../src/db/schema/index.ts'
import { startWorkers } from '../../src/jobs/index.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from '../helpers/chain.ts'
import {
  balancesOf,
  chooseMethod,
  createInvoiceGql,
  invoiceOf,
  invoiceRows,
  waitForInvoice,
} from '../helpers/invoices.ts'
import { recordingWebhookReceiver } from '../helpers/kyt.ts'
import {
  type RateStandIns,
  startRateStandIns,
  waitForPayment,
  waitForRate,
  withPricing,
} from '../helpers/pricing.ts'
import { waitFor } from '../helpers/processes.ts'

// Invoices through the whole gateway: one fiat price, payable in ETH (ETH/USD from the Kraken and Coinbase
// stand-ins, asked by the rates job every second) or USDT (pinned by the operator at 1); the buyer chooses an
// asset with the invoice's client secret, pays on anvil, the chain worker sees it, the invoice weighs its
// methods in fiat, the expire job quotes it again after its 2 s lock, and webhooks tell the merchant.

const pricing: PricingConfig = {
  pairs: {
    'USDT/USD': { pin: '1' },
    'ETH/USD': { sources: ['kraken', 'coinbase'] },
  },
  refreshSeconds: 1,
  rateLockSeconds: 2,
}

const coinbaseEth = { BTC: '0.05231741', ETH: '1.0', EUR: '3140.21', USD: '3400.55' }
const both = [
  { chain: 'devnet', asset: 'ETH' },
  { chain: 'devnet', asset: 'USDT' },
]
const usd25 = { amount: '25.00', currency: 'USD' }

let devnet: Devnet
let standIns: RateStandIns
let app: TestApp
let hooks: ReturnType<typeof recordingWebhookReceiver>
let stopWorkers: (() => Promise<void>) | undefined
let miner: ReturnType<typeof setInterval> | undefined

/** Moves ETH/USD on both of its sources. */
function setEthUsd(price: string) {
  standIns.kraken.setMarket('ETHUSD', 'XETHZUSD', price)
  standIns.coinbase.setRates('ETH', { ...coinbaseEth, USD: price })
}

/** A merchant of its own (its balances start at nothing) with a webhook endpoint for every event type. */
async function shop(name: string) {
  const merchant = await app.merchant(name)
  await createWebhookEndpoint(app.ctx, merchant.id, { url: hooks.url, events: webhookEventTypes })
  return merchant
}

beforeAll(async () => {
  devnet = await startDevnet()
  standIns = startRateStandIns()
  hooks = recordingWebhookReceiver()
  app = await createTestApp({
    config: withPricing(testConfig(devnet.url), standIns, pricing),
    env: { TOLLGATE_SEED: gatewayMnemonic, WEBHOOK_ALLOW_PRIVATE: 'true' },
  })
  setEthUsd('2500.00000')
  stopWorkers = await startWorkers(app.ctx)
  miner = setInterval(() => devnet.mine(1).catch(() => {}), 250)
  const probe = await app.merchant('probe')
  await waitForRate(app, probe.key, 'ETH/USD', (r) => r.rate === '2500' && r.fresh)
}, 30_000)
afterAll(async () => {
  if (miner) clearInterval(miner)
  await stopWorkers?.()
  await app?.close()
  hooks?.stop()
  await standIns?.stop()
  await devnet?.stop()
})

/** An invoice through GraphQL (fails the test on a refusal). */
async function invoice(key: string, input: Record<string, unknown> = {}) {
  const { result, errors } = await createInvoiceGql(app, key, { price: usd25, accept: both, ...input })
  expect(errors).toBeUndefined()
  expect(result.__typename).toBe('CreateInvoicePayload')
  return result.invoice
}

/** The buyer chooses `asset` with the invoice's client secret, no API key (fails the test on a refusal). */
async function choose(inv: { id: string; clientSecret: string }, asset: string) {
  const { result, errors } = await chooseMethod(app, null, {
    invoiceId: inv.id,
    chain: 'devnet',
    asset,
    clientSecret: inv.clientSecret,
  })
  expect(errors).toBeUndefined()
  expect(result.__typename).toBe('ChosenPaymentMethod')
  return result.payment
}

const invoiceIs = (key: string, id: string, status: string) =>
  waitForInvoice(app, key, id, ({ row }) => row.status === status, status)
const hookOf = (id: string, type: string) =>
  waitFor(`${type} webhook of ${id}`, () => hooks.of(id).find((h) => h.type === type))
const methodOf = (inv: any, symbol: string) => inv.methods.find((m: any) => m.asset.symbol === symbol)
/**
 * A chosen method's price by value: it is the part of the invoice's price it was quoted for, written as an exact
 * decimal ("25", "12.5") rather than at the currency's minor units as the invoice's own price is ("25.00").
 */
const priceOf = (p: { price: { amount: string; currency: string } }) => ({
  amount: Number(p.price.amount),
  currency: p.price.currency,
})

let paidInUsdt: { id: string; clientSecret: string; key: string }

describe('an invoice paid in one asset', () => {
  test('default: 25.00 USD accepting ETH and USDT, the buyer chooses USDT and pays 25 on anvil → invoice and payment COMPLETED at the pinned rate, 25 USDT credited, webhooks carry the price and rates', async () => {
    const merchant = await shop('Invoice shop')
    const inv = await invoice(merchant.key, { orderId: 'order-1' })
    expect(inv).toMatchObject({
      status: 'PENDING',
      price: usd25,
      amountReceivedFiat: '0',
      amountRemainingFiat: '25',
      payments: [],
    })
    expect(inv.clientSecret).toStartWith(`${inv.id}_secret_`)
    // 25 / 2500 ETH, and 25 USDT at the operator's pin
    expect(methodOf(inv, 'ETH')).toMatchObject({ chain: 'devnet', amountDue: '0.01', rate: '2500' })
    expect(methodOf(inv, 'USDT')).toMatchObject({
      chain: 'devnet',
      amountDue: '25',
      rate: '1',
      rateSources: { method: 'pinned' },
    })

    const chosen = await choose(inv, 'USDT')
    expect(chosen).toMatchObject({
      status: 'PENDING',
      chain: 'devnet',
      asset: { symbol: 'USDT' },
      amountDue: '25',
      rate: '1',
      amountReceivedFiat: '0',
    })
    expect(priceOf(chosen)).toEqual({ amount: 25, currency: 'USD' })
    // choosing again answers the same payment (one address per method)
    expect((await choose(inv, 'USDT')).id).toBe(chosen.id)

    await devnet.payToken(chosen.address, 25_000_000n)
    const done = await invoiceIs(merchant.key, inv.id, 'COMPLETED')
    expect(done).toMatchObject({
      status: 'COMPLETED',
      amountReceivedFiat: '25',
      amountConfirmedFiat: '25',
      amountRemainingFiat: '0',
      payments: [{ id: chosen.id, status: 'COMPLETED', amountReceived: '25', rate: '1' }],
    })
    expect(priceOf(done.payments[0])).toEqual({ amount: 25, currency: 'USD' })
    expect(done.completedAt).not.toBeNull()
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, chosen.id))
    expect(row).toMatchObject({
      invoiceId: inv.id,
      status: 'COMPLETED',
      amountReceived: 25_000_000n,
      rate: '1',
      priceCurrency: 'USD',
      rateSources: { method: 'pinned' },
    })
    expect(await balancesOf(app, merchant.key)).toEqual({ 'devnet:USDT': '25' })
    // the buyer's view through the client secret, no key
    const checkout = await app.gql(
      'query ($id: ID!, $s: String!) { checkoutInvoice(id: $id, clientSecret: $s) { status amountReceivedFiat } }',
      { id: inv.id, s: inv.clientSecret },
      null,
    )
    expect(checkout.data.checkoutInvoice).toEqual({ status: 'COMPLETED', amountReceivedFiat: '25' })

    // what the merchant's backend is told: the invoice with its price and every method's rate, and the payment
    // with its invoice and rate
    const invoiceHook = await hookOf(inv.id, 'invoice.completed')
    expect(invoiceHook.data).toMatchObject({
      object: 'invoice',
      id: inv.id,
      status: 'COMPLETED',
      price: usd25,
      amountReceivedFiat: '25',
      payments: [chosen.id],
      orderId: 'order-1',
    })
    const hookMethods = (invoiceHook.data as any).methods
    expect(hookMethods).toHaveLength(2)
    expect(hookMethods.find((m: any) => m.asset.symbol === 'USDT')).toMatchObject({
      chain: 'devnet',
      rate: { value: '1', sources: { method: 'pinned' } },
    })
    expect(hookMethods.find((m: any) => m.asset.symbol === 'ETH')).toMatchObject({
      chain: 'devnet',
      rate: { value: '2500' },
    })
    const paymentHook = await hookOf(chosen.id, 'payment.completed')
    expect(paymentHook.data).toMatchObject({
      id: chosen.id,
      invoiceId: inv.id,
      status: 'COMPLETED',
      rate: { value: '1', sources: { method: 'pinned' } },
      amountReceivedFiat: '25',
    })
    expect(priceOf(paymentHook.data as any)).toEqual({ amount: 25, currency: 'USD' })
    paidInUsdt = { id: inv.id, clientSecret: inv.clientSecret, key: merchant.key }
  }, 30_000)
})

describe('an invoice paid across two assets', () => {
  test('behavior: half in ETH, then USDT chosen for the 12.50 left → PARTIALLY_PAID until the fiat sum reaches 25, then COMPLETED with both payments credited', async () => {
    const merchant = await shop('Split shop')
    const inv = await invoice(merchant.key)
    expect(inv.amountReceivedFiat).toBe('0')
    const eth = await choose(inv, 'ETH')
    expect(eth).toMatchObject({ amountDue: '0.01', rate: '2500' })
    expect(priceOf(eth)).toEqual({ amount: 25, currency: 'USD' })

    await devnet.payNative(eth.address, parseEther('0.005'))
    const half = await waitForInvoice(
      app,
      merchant.key,
      inv.id,
      ({ row }) => row.status === 'PARTIALLY_PAID' && row.amountConfirmedFiat === '12.5',
      'half paid in ETH',
    )
    expect(half).toMatchObject({
      status: 'PARTIALLY_PAID',
      amountReceivedFiat: '12.5',
      amountRemainingFiat: '12.5',
    })
    // what is left, in each accepted asset
    expect(methodOf(half, 'USDT').amountDue).toBe('12.5')
    expect(methodOf(half, 'ETH').amountDue).toBe('0.005')

    const usdt = await choose(inv, 'USDT')
    // priced for what is left, not the whole price
    expect(usdt).toMatchObject({
      status: 'PENDING',
      amountDue: '12.5',
      rate: '1',
    })
    expect(priceOf(usdt)).toEqual({ amount: 12.5, currency: 'USD' })
    // nothing more arrived: still partially paid
    expect((await invoiceOf(app, merchant.key, inv.id)).status).toBe('PARTIALLY_PAID')

    await devnet.payToken(usdt.address, 12_500_000n)
    const done = await invoiceIs(merchant.key, inv.id, 'COMPLETED')
    expect(done).toMatchObject({ amountReceivedFiat: '25', amountRemainingFiat: '0' })
    expect(
      done.payments.map((p: any) => `${p.asset.symbol} ${p.status} ${p.amountReceived} ${p.rate}`).sort(),
    ).toEqual(['ETH COMPLETED 0.005 2500', 'USDT COMPLETED 12.5 1'])
    expect(await balancesOf(app, merchant.key)).toEqual({ 'devnet:ETH': '0.005', 'devnet:USDT': '12.5' })

    // the fiat total as the merchant was told it: 0 → 12.5 → 25
    const partial = await hookOf(inv.id, 'invoice.partially_paid')
    expect(partial.data).toMatchObject({ status: 'PARTIALLY_PAID', payments: [eth.id] })
    const completed = await hookOf(inv.id, 'invoice.completed')
    expect(completed.data).toMatchObject({ amountReceivedFiat: '25', payments: [eth.id, usdt.id].sort() })
    const created = await hookOf(inv.id, 'invoice.created')
    expect(created.data).toMatchObject({ object: 'invoice', id: inv.id, price: usd25 })
  }, 40_000)
})

describe('an invoice re-quoted after its rate lock', () => {
  test('behavior: ETH/USD moves from 2500 to 2000 past the 2 s lock → the methods and the chosen payment follow (0.0125 ETH); the old 0.01 alone leaves it PARTIALLY_PAID, the rest completes it', async () => {
    const merchant = await shop('Requote shop')
    const inv = await invoice(merchant.key)
    const eth = await choose(inv, 'ETH')
    expect(eth).toMatchObject({ amountDue: '0.01', rate: '2500' })

    setEthUsd('2000.00000')
    await waitForRate(app, merchant.key, 'ETH/USD', (r) => r.rate === '2000')
    const requoted = await waitForInvoice(
      app,
      merchant.key,
      inv.id,
      ({ row }) => row.methods.some((m) => m.symbol === 'ETH' && m.rate === '2000'),
      'ETH re-quoted at 2000',
    )
    expect(Date.parse(requoted.rateLockedUntil)).toBeGreaterThan(Date.parse(inv.rateLockedUntil))
    expect(methodOf(requoted, 'ETH')).toMatchObject({ amountDue: '0.0125', rate: '2000' })
    expect(methodOf(requoted, 'USDT')).toMatchObject({ amountDue: '25', rate: '1' })
    const moved = await waitForPayment(
      app,
      merchant.key,
      eth.id,
      ({ row }) => row.rate === '2000',
      'the chosen ETH payment at 2000',
    )
    expect(moved).toMatchObject({ status: 'PENDING', amountDue: '0.0125' })
    expect(priceOf(moved)).toEqual({ amount: 25, currency: 'USD' })
    expect(
      moved.events.find((e: any) => e.type === 'payment.requoted' && e.data.rate === '2000').data,
    ).toMatchObject({
      previousRate: '2500',
      amountDue: '12500000000000000',
      previousAmountDue: '10000000000000000',
    })

    // the old quote is 20 USD now
    await devnet.payNative(eth.address, parseEther('0.01'))
    const short = await waitForInvoice(
      app,
      merchant.key,
      inv.id,
      ({ row }) => row.amountConfirmedFiat === '20',
      '0.01 ETH confirmed',
    )
    expect(short).toMatchObject({
      status: 'PARTIALLY_PAID',
      amountReceivedFiat: '20',
      amountRemainingFiat: '5',
    })

    await devnet.payNative(eth.address, parseEther('0.0025'))
    const done = await invoiceIs(merchant.key, inv.id, 'COMPLETED')
    expect(done).toMatchObject({
      amountReceivedFiat: '25',
      payments: [{ id: eth.id, status: 'COMPLETED', amountReceived: '0.0125', rate: '2000' }],
    })
    expect(await balancesOf(app, merchant.key)).toEqual({ 'devnet:ETH': '0.0125' })
    const events = await app.ctx.db.select().from(paymentEvents).where(eq(paymentEvents.paymentId, eth.id))
    expect(events.map((e) => e.type)).toContain('payment.completed')
  }, 40_000)
})

describe('hostile input through GraphQL', () => {
  test('error: bad prices, amount with an invoice price, unknown chain, a pair without a rule, wrong secret, another merchant, an asset not accepted, a closed invoice → typed UserErrors, nothing written', async () => {
    const merchant = await shop('Hostile shop')
    const other = await app.merchant('Other shop')
    const ethOnly = await invoice(merchant.key, { accept: [{ chain: 'devnet', asset: 'ETH' }] })
    expect(paidInUsdt).toBeDefined()
    const before = await invoiceRows(app)

    const price = (amount: string, currency = 'USD') => ({ price: { amount, currency }, accept: both })
    const creates: Array<[string, Record<string, unknown>, string, string]> = [
      ['unknown currency', price('25.00', 'XYZ'), 'INVALID_INPUT', 'price.currency'],
      ['negative price', price('-25.00'), 'INVALID_AMOUNT', 'price.amount'],
      ['over-precise price', price('25.001'), 'INVALID_AMOUNT', 'price.amount'],
      ['amount with an invoice price', { amount: '0.01', ...price('25.00') }, 'INVALID_INPUT', 'amount'],
      [
        'an unknown chain',
        { ...price('25.00'), accept: [{ chain: 'nochain', asset: 'ETH' }] },
        'UNKNOWN_CHAIN',
        'accept.0',
      ],
    ]
    for (const [what, input, code, field] of creates) {
      const { result, errors } = await createInvoiceGql(app, merchant.key, input)
      expect({ what, errors, result: { ...result, message: undefined } }).toEqual({
        what,
        errors: undefined,
        result: { __typename: 'UserError', code, field, message: undefined },
      })
    }
    // no ETH/EUR rule: refused, naming the pair
    const noRule = await createInvoiceGql(app, merchant.key, price('25.00', 'EUR'))
    expect(noRule.result).toMatchObject({
      __typename: 'UserError',
      code: 'RATE_UNAVAILABLE',
      field: 'accept.0',
    })
    expect(noRule.result.message).toContain('ETH/EUR')

    const chooses: Array<[string, string | null, Record<string, unknown>, string]> = [
      [
        'a wrong secret',
        null,
        { invoiceId: ethOnly.id, chain: 'devnet', asset: 'ETH', clientSecret: `${ethOnly.id}_secret_nope` },
        'NOT_FOUND',
      ],
      [
        "another merchant's secret",
        null,
        { invoiceId: ethOnly.id, chain: 'devnet', asset: 'ETH', clientSecret: paidInUsdt.clientSecret },
        'NOT_FOUND',
      ],
      [
        "another merchant's key",
        other.key,
        { invoiceId: ethOnly.id, chain: 'devnet', asset: 'ETH' },
        'NOT_FOUND',
      ],
      [
        'an asset not accepted',
        null,
        { invoiceId: ethOnly.id, chain: 'devnet', asset: 'USDT', clientSecret: ethOnly.clientSecret },
        'INVALID_INPUT',
      ],
      [
        'a closed (COMPLETED) invoice',
        null,
        { invoiceId: paidInUsdt.id, chain: 'devnet', asset: 'ETH', clientSecret: paidInUsdt.clientSecret },
        'INVALID_STATE',
      ],
      [
        'a closed invoice, by its merchant',
        paidInUsdt.key,
        { invoiceId: paidInUsdt.id, chain: 'devnet', asset: 'USDT' },
        'INVALID_STATE',
      ],
    ]
    for (const [what, key, input, code] of chooses) {
      const { result, errors } = await chooseMethod(app, key, input)
      expect({
        what,
        errors,
        result: result && { __typename: result.__typename, code: result.code },
      }).toEqual({
        what,
        errors: undefined,
        result: { __typename: 'UserError', code },
      })
    }
    expect(await invoiceRows(app)).toEqual(before)
    // the refusals changed nothing on the invoices they named
    expect((await invoiceOf(app, merchant.key, ethOnly.id)).payments).toEqual([])
    expect((await invoiceOf(app, paidInUsdt.key, paidInUsdt.id)).payments).toHaveLength(1)
  }, 30_000)
})
