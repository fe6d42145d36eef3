#!/usr/bin/env bun
// `bun run demo`: against a running `tollgate dev` sandbox, acts as a merchant's backend (creates payments through
// the public API and receives their signed webhooks on a local endpoint), as their checkout frontend (follows them
// over graphql-ws) and as a payer (an anvil account), prints each status and webhook as it arrives, then withdraws
// part of the balance and follows the payout to its confirmation.
import { existsSync, readFileSync } from 'node:fs'
import { createClient } from 'graphql-ws'
import { createWalletClient, http, parseAbi, parseUnits } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { verifyWebhook } from './core/webhooks/signing.ts'
import { anvilMnemonic, devSandboxFile, devTokenAddress } from './devnet.ts'

type Sandbox = { graphqlUrl: string; apiKey: string; rpcUrl: string }
type Payment = { id: string; address: string; clientSecret: string; paymentUri: string; checkoutUrl: string }

/**
 * A demo step that did not go as planned, with a code naming the step and what went wrong.
 *
 * @example
 * throw new DemoError('WEBHOOK_NOT_DELIVERED', 'no payment.completed webhook within 30 s')
 */
class DemoError extends Error {
  readonly code:
    | 'CREATE_PAYMENT_FAILED'
    | 'WEBHOOK_REGISTRATION_FAILED'
    | 'WEBHOOK_NOT_DELIVERED'
    | 'WEBHOOK_SIGNATURE_INVALID'
    | 'PAYMENT_NOT_COMPLETED'
    | 'SUBSCRIPTION_FAILED'
    | 'WITHDRAWAL_REQUEST_FAILED'
    | 'WITHDRAWAL_FAILED'
    | 'WITHDRAWAL_NOT_CONFIRMED'
  constructor(code: DemoError['code'], message: string) {
    super(message)
    this.name = 'DemoError'
    this.code = code
  }
}

if (!existsSync(devSandboxFile)) {
  console.error(
    'No sandbox found: start it first with `bun run dev` (in another terminal), then run `bun run demo`.',
  )
  process.exit(1)
}
const sandbox = JSON.parse(readFileSync(devSandboxFile, 'utf8')) as Sandbox
const payer = mnemonicToAccount(anvilMnemonic, { addressIndex: 2 })
const wallet = createWalletClient({
  account: payer,
  chain: { ...foundry, rpcUrls: { default: { http: [sandbox.rpcUrl] } } },
  transport: http(sandbox.rpcUrl),
})

async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T | undefined> {
  const res = await fetch(sandbox.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sandbox.apiKey}` },
    body: JSON.stringify({ query, variables }),
  }).catch(() => undefined)
  return (await res?.json().catch(() => undefined)) as T | undefined
}

async function createPayment(asset: string, amount: string): Promise<Payment> {
  const body = await gql<{ data?: { createPayment?: { payment?: Payment } } }>(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address clientSecret paymentUri checkoutUrl } }
      ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset, amount, orderId: `demo-${Date.now()}` } },
  )
  const payment = body?.data?.createPayment?.payment
  if (!payment)
    throw new DemoError(
      'CREATE_PAYMENT_FAILED',
      `createPayment failed (is \`bun run dev\` still running?): ${JSON.stringify(body ?? 'no answer')}`,
    )
  return payment
}

type Delivery = { headers: Headers; body: string }
const deliveries: Delivery[] = []
const deliveryArrived = new Set<() => void>()
// the merchant's webhook receiver, on this machine
const receiver = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(request) {
    deliveries.push({ headers: request.headers, body: await request.text() })
    for (const wake of deliveryArrived) wake()
    return new Response(null, { status: 204 })
  },
})

async function registerWebhook(): Promise<{ id: string; secret: string }> {
  const body = await gql<{
    data?: { createWebhookEndpoint?: { endpoint?: { id: string }; secret?: string } }
  }>(
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      ... on WebhookEndpointWithSecret { endpoint { id } secret } ... on UserError { code message } } }`,
    {
      input: {
        url: `http://127.0.0.1:${receiver.port}/webhooks`,
        events: ['PAYMENT_COMPLETED'],
        description: 'demo',
      },
    },
  )
  const created = body?.data?.createWebhookEndpoint
  if (!created?.endpoint || !created.secret)
    throw new DemoError(
      'WEBHOOK_REGISTRATION_FAILED',
      `createWebhookEndpoint failed: ${JSON.stringify(body ?? 'no answer')}`,
    )
  return { id: created.endpoint.id, secret: created.secret }
}

/** Waits for the payment's `payment.completed` delivery, checks its signature, and prints it. */
async function showWebhook(payment: Payment, secret: string): Promise<void> {
  const find = () =>
    deliveries.find((d) => {
      const event = JSON.parse(d.body) as { type: string; data: { id: string } }
      return event.type === 'payment.completed' && event.data.id === payment.id
    })
  const deadline = Date.now() + 30_000
  let delivery = find()
  while (!delivery && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const wake = () => {
        deliveryArrived.delete(wake)
        resolve()
      }
      deliveryArrived.add(wake)
      setTimeout(wake, 500)
    })
    delivery = find()
  }
  if (!delivery) throw new DemoError('WEBHOOK_NOT_DELIVERED', 'no payment.completed webhook within 30 s')
  const verified = verifyWebhook({ headers: delivery.headers, body: delivery.body, secret })
  if (!verified) throw new DemoError('WEBHOOK_SIGNATURE_INVALID', 'the webhook signature did not verify')
  const event = JSON.parse(delivery.body) as {
    id: string
    type: string
    data: { status: string; amountReceived: string }
  }
  console.log(`  webhook ${event.type} (${event.id}) received, signature verified`)
  console.log(`    webhook-id: ${delivery.headers.get('webhook-id')}`)
  console.log(`    webhook-signature: ${delivery.headers.get('webhook-signature')?.slice(0, 24)}…`)
  console.log(`    data: status ${event.data.status}, amountReceived ${event.data.amountReceived}`)
}

const ws = createClient({
  url: sandbox.graphqlUrl.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  retryAttempts: 0,
})

/** Follows a payment like a checkout page would, printing each status, until it completes. */
function follow(payment: Payment, started: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new DemoError('PAYMENT_NOT_COMPLETED', 'no COMPLETED within 60 s')),
      60_000,
    )
    ws.subscribe<{
      paymentUpdated: {
        status: string
        amountReceived: string
        confirmations: number
        confirmationsRequired: number
      }
    }>(
      {
        query: `subscription ($id: ID!, $secret: String!) { paymentUpdated(id: $id, clientSecret: $secret) {
          status amountReceived confirmations confirmationsRequired } }`,
        variables: { id: payment.id, secret: payment.clientSecret },
      },
      {
        next: ({ data, errors }) => {
          if (errors) return reject(new DemoError('SUBSCRIPTION_FAILED', JSON.stringify(errors)))
          const p = data?.paymentUpdated
          if (!p) return
          const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5)
          console.log(
            `  ${t}s  ${p.status.padEnd(15)} received ${p.amountReceived}  confirmations ${p.confirmations}/${p.confirmationsRequired}`,
          )
          if (p.status === 'COMPLETED') {
            clearTimeout(timer)
            resolve()
          }
        },
        error: reject,
        complete: () => {},
      },
    )
  })
}

async function demo(asset: 'ETH' | 'USDT', amount: string, webhookSecret: string) {
  const payment = await createPayment(asset, amount)
  console.log(
    `\n${amount} ${asset}: payment ${payment.id}\n  pay to ${payment.address}\n  ${payment.paymentUri}\n  checkout page: ${payment.checkoutUrl}`,
  )
  const started = performance.now()
  const done = follow(payment, started)
  await Bun.sleep(300)
  if (asset === 'ETH')
    await wallet.sendTransaction({ to: payment.address as `0x${string}`, value: parseUnits(amount, 18) })
  else
    await wallet.writeContract({
      address: devTokenAddress,
      abi: parseAbi(['function transfer(address to, uint256 value) returns (bool)']),
      functionName: 'transfer',
      args: [payment.address as `0x${string}`, parseUnits(amount, 6)],
    })
  console.log(`  paid from ${payer.address}`)
  await done
  await showWebhook(payment, webhookSecret)
}

/** The merchant withdraws part of its balance; the gateway sweeps deposits to its treasury and pays from there. */
async function withdraw(amount: string): Promise<void> {
  const to = mnemonicToAccount(anvilMnemonic, { addressIndex: 4 }).address
  const key = `demo-withdrawal-${Date.now()}`
  const body = await gql<{ data?: { requestWithdrawal?: { withdrawal?: { id: string; status: string } } } }>(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id status } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', to, amount, idempotencyKey: key } },
  )
  const withdrawal = body?.data?.requestWithdrawal?.withdrawal
  if (!withdrawal)
    throw new DemoError(
      'WITHDRAWAL_REQUEST_FAILED',
      `requestWithdrawal failed: ${JSON.stringify(body ?? 'no answer')}`,
    )
  console.log(`\nWithdrawal of ${amount} ETH to ${to}: ${withdrawal.id}`)
  const started = performance.now()
  let last = ''
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const page = await gql<{
      data?: { withdrawal?: { status: string; txHash: string | null; networkFee: string | null } }
    }>('query ($id: ID!) { withdrawal(id: $id) { status txHash networkFee } }', { id: withdrawal.id })
    const w = page?.data?.withdrawal
    if (w && w.status !== last) {
      last = w.status
      const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5)
      console.log(
        `  ${t}s  ${w.status.padEnd(15)}${w.txHash ? ` tx ${w.txHash}` : ''}${w.networkFee ? ` fee ${w.networkFee} ETH` : ''}`,
      )
    }
    if (w?.status === 'CONFIRMED') return
    if (w?.status === 'FAILED') throw new DemoError('WITHDRAWAL_FAILED', 'the withdrawal failed')
    await Bun.sleep(250)
  }
  throw new DemoError('WITHDRAWAL_NOT_CONFIRMED', 'no CONFIRMED withdrawal within 60 s')
}

let webhook: { id: string; secret: string } | undefined
try {
  webhook = await registerWebhook()
  console.log(
    `Webhook endpoint ${webhook.id} receives payment.completed at http://127.0.0.1:${receiver.port}/webhooks`,
  )
  await demo('ETH', '0.05', webhook.secret)
  await demo('USDT', '12.5', webhook.secret)
  console.log('\nBoth payments completed.')
  await withdraw('0.01')
  await ws.dispose()
  // the receiver goes away with this process; so does its endpoint
  await gql('mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename } }', { id: webhook.id })
  process.exit(0)
} catch (err) {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`)
  if (webhook)
    await gql('mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename } }', { id: webhook.id })
  process.exit(1)
}
