import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { mempoolNotes, statusMessages } from '../../src/checkout/messages.ts'
import { type Bcoin, startBcoin } from '../helpers/bcoin.ts'
import { artifactsDir } from '../helpers/browser.ts'
import { type CheckoutGateway, startCheckoutGateway } from '../helpers/checkout-gateway.ts'
import { waitFor } from '../helpers/processes.ts'

// The hosted checkout of a Bitcoin payment on a bcoin regtest node, in Chromium, with the API and the worker as
// their own processes: what the buyer reads while the deposit is only in the mempool, when it is double-spent,
// and once it is mined, live over graphql-ws without a reload, and the same words in the page served to a
// browser without JavaScript.

let gateway: CheckoutGateway<Bcoin>
let gate: GatedRpc

type Payment = { id: string; address: string; checkoutUrl: string }

/**
 * The worker's way to the node: calls pass through as they are, except while `hold` stages a change on the node,
 * when they wait for it to end. bcoin relays no replacement, so a double spend is staged in two steps (the
 * mempool emptied, then the conflict broadcast); a node that replaces shows only the end state, and so does this.
 */
function startGatedRpc(node: Bcoin) {
  const authorization = `Basic ${Buffer.from(`x:${node.apiKey}`).toString('base64')}`
  let closed: Promise<void> | undefined
  let inFlight = 0
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const body = await request.text()
      while (closed) await closed
      inFlight++
      try {
        const res = await fetch(node.bareUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body,
        })
        return new Response(await res.text(), {
          status: res.status,
          headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
        })
      } finally {
        inFlight--
      }
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}/`,
    /** Runs `change` on the node while no call of the worker reaches it, none being answered when it starts. */
    async hold<T>(change: () => Promise<T>): Promise<T> {
      let open = () => {}
      closed = new Promise((resolve) => {
        open = resolve
      })
      try {
        await waitFor('calls already sent to the node to be answered', () => inFlight === 0)
        return await change()
      } finally {
        closed = undefined
        open()
      }
    },
    stop: () => server.stop(true),
  }
}
type GatedRpc = ReturnType<typeof startGatedRpc>

beforeAll(async () => {
  gateway = await startCheckoutGateway({
    node: startBcoin(),
    merchant: 'Mempool checkout shop',
    prefix: 'checkout-mempool',
    chainEnv: async (node) => ({
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/bitcoin.plugins.config.ts',
      TEST_BTC_RPC_URL: node.url,
      TEST_BTC_START: String(await node.height()),
    }),
    // the worker reaches the node only through the gate
    workerEnv: (env, node) => {
      gate = startGatedRpc(node)
      return { ...env, TEST_BTC_RPC_URL: gate.url }
    },
  })
}, 90_000)

afterAll(async () => {
  await gateway?.stop()
  await gate?.stop()
})

async function createPayment(amount: string): Promise<Payment> {
  const res = await gateway.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address checkoutUrl } } } }`,
    { input: { chain: 'regtest', asset: 'BTC', amount } },
  )
  return res.data.createPayment.payment
}

/** Opens the checkout and waits until its subscription is live; marks the window so a reload would show. */
async function openCheckout(payment: Payment) {
  const page = await gateway.browser.newPage({ viewport: { width: 390, height: 844 } })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  await page.goto(payment.checkoutUrl)
  await page.evaluate(() => {
    ;(window as unknown as { loadedOnce: boolean }).loadedOnce = true
  })
  await page.waitForFunction(() => document.documentElement.dataset.transport === 'ws')
  return { page, errors }
}

const waitForStatus = (page: Page, status: string) =>
  page.waitForSelector(`#status[data-status="${status}"]`, { timeout: 20_000 })

/** What the live page shows: its status, the status sentence and the mempool note (null while hidden). */
async function shown(page: Page) {
  return {
    status: await page.locator('#status').getAttribute('data-status'),
    text: await page.locator('#status-text').textContent(),
    note: (await page.locator('#mempool').isVisible()) ? await page.locator('#mempool').textContent() : null,
    reloaded: await page.evaluate(() => !(window as unknown as { loadedOnce?: boolean }).loadedOnce),
  }
}

const unescapeHtml = (text: string) =>
  text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')

/** What a browser without JavaScript shows: the same three things, read from the page's HTML as served. */
async function served(payment: Payment) {
  const html = await (await fetch(payment.checkoutUrl)).text()
  const status = /<div id="status"[^>]*data-status="([A-Z_]+)"/.exec(html)?.[1]
  const text = /<span id="status-text">([^<]*)<\/span>/.exec(html)?.[1]
  const note = /<p class="notice" id="mempool"( hidden)?>([^<]*)<\/p>/.exec(html)
  if (status === undefined || text === undefined || !note)
    throw new Error(`unexpected checkout page: ${html}`)
  return { status, text: unescapeHtml(text), note: note[1] ? null : unescapeHtml(note[2] as string) }
}

describe('checkout page of a Bitcoin payment seen in the mempool, in Chromium', () => {
  test('behavior: broadcast, it says waiting for confirmation before any block; double-spent, it says so and waits again', async () => {
    // clearMempool below invalidates the tip: let that be a block holding nothing of any payment
    await gateway.node.mine(1)
    const payment = await createPayment('0.002')
    const { page, errors } = await openCheckout(payment)
    expect(await shown(page)).toEqual({
      status: 'PENDING',
      text: statusMessages.PENDING,
      note: null,
      reloaded: false,
    })
    expect(await served(payment)).toEqual({ status: 'PENDING', text: statusMessages.PENDING, note: null })

    const height = await gateway.node.height()
    const coin = await gateway.node.takeCoin()
    const deposit = gateway.node.signSpend(coin, [{ address: payment.address, amount: 200_000n }], {
      rbf: true,
      fee: 10_000n,
    })
    await gateway.node.broadcast(deposit.raw)
    await waitForStatus(page, 'PROCESSING')
    expect(await shown(page)).toEqual({
      status: 'PROCESSING',
      text: 'Payment received, waiting for confirmation',
      note: null,
      reloaded: false,
    })
    expect(await gateway.node.height()).toBe(height)
    expect(await served(payment)).toEqual({
      status: 'PROCESSING',
      text: 'Payment received, waiting for confirmation',
      note: null,
    })
    await page.screenshot({ path: join(artifactsDir, 'checkout-mempool-unconfirmed.png') })

    // the deposit's input spent by a conflict paying elsewhere, as a node that replaced it shows it
    await gate.hold(async () => {
      await gateway.node.clearMempool()
      const elsewhere = gateway.node.signSpend(
        coin,
        [{ address: gateway.node.faucet.address, amount: 200_000n }],
        {
          rbf: true,
          fee: 30_000n,
        },
      )
      await gateway.node.broadcast(elsewhere.raw)
    })
    await waitForStatus(page, 'PENDING')
    expect(await shown(page)).toEqual({
      status: 'PENDING',
      text: statusMessages.PENDING,
      note: mempoolNotes.double_spent,
      reloaded: false,
    })
    expect(mempoolNotes.double_spent).toContain('double-spent')
    expect(await served(payment)).toEqual({
      status: 'PENDING',
      text: statusMessages.PENDING,
      note: mempoolNotes.double_spent,
    })
    await page.screenshot({ path: join(artifactsDir, 'checkout-mempool-double-spent.png') })
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  test('default: broadcast, it says waiting for confirmation; mined, the page says confirming (1 of 2), then completes live', async () => {
    const payment = await createPayment('0.003')
    const { page, errors } = await openCheckout(payment)
    const height = await gateway.node.height()
    await gateway.node.send(payment.address, 300_000n)
    await waitForStatus(page, 'PROCESSING')
    expect(await shown(page)).toEqual({
      status: 'PROCESSING',
      text: 'Payment received, waiting for confirmation',
      note: null,
      reloaded: false,
    })
    expect(await gateway.node.height()).toBe(height)
    expect(await served(payment)).toEqual({
      status: 'PROCESSING',
      text: 'Payment received, waiting for confirmation',
      note: null,
    })

    await gateway.node.mine(1)
    // mined: the page as served counts its first confirmation
    expect(
      await waitFor('the served page to count the first confirmation', async () => {
        const now = await served(payment)
        return now.text !== 'Payment received, waiting for confirmation' && now
      }),
    ).toEqual({ status: 'PROCESSING', text: 'Payment received, confirming (1 of 2)', note: null })
    // and the open page hears of it without a reload: the deposit moved into a block with no status change
    await page.waitForFunction(
      () => document.getElementById('status-text')?.textContent === 'Payment received, confirming (1 of 2)',
      undefined,
      { timeout: 20_000 },
    )
    expect(await shown(page)).toEqual({
      status: 'PROCESSING',
      text: 'Payment received, confirming (1 of 2)',
      note: null,
      reloaded: false,
    })

    await gateway.node.mine(1)
    await waitForStatus(page, 'COMPLETED')
    expect(await shown(page)).toEqual({
      status: 'COMPLETED',
      text: statusMessages.COMPLETED,
      note: null,
      reloaded: false,
    })
    expect(await served(payment)).toEqual({ status: 'COMPLETED', text: statusMessages.COMPLETED, note: null })
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)
})
