#!/usr/bin/env bun
// `bun run demo`: against a running `tollgate dev` sandbox, acts as a merchant's backend and frontend (creates
// payments through the public API and follows them over graphql-ws) and as a payer (an anvil account), and prints
// each status as it arrives.
import { existsSync, readFileSync } from 'node:fs'
import { createClient } from 'graphql-ws'
import { createWalletClient, http, parseAbi, parseUnits } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { anvilMnemonic, devSandboxFile, devTokenAddress } from './devnet.ts'

type Sandbox = { graphqlUrl: string; apiKey: string; rpcUrl: string }
type Payment = { id: string; address: string; clientSecret: string; paymentUri: string }

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

async function createPayment(asset: string, amount: string): Promise<Payment> {
  const res = await fetch(sandbox.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sandbox.apiKey}` },
    body: JSON.stringify({
      query: `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
        ... on CreatePaymentPayload { payment { id address clientSecret paymentUri } }
        ... on UserError { code message } } }`,
      variables: { input: { chain: 'devnet', asset, amount, orderId: `demo-${Date.now()}` } },
    }),
  }).catch(() => undefined)
  const body = (await res?.json().catch(() => undefined)) as
    | { data?: { createPayment?: { payment?: Payment } } }
    | undefined
  const result = body?.data?.createPayment
  if (!result?.payment)
    throw new Error(
      `createPayment failed (is \`bun run dev\` still running?): ${JSON.stringify(body ?? 'no answer')}`,
    )
  return result.payment
}

const ws = createClient({
  url: sandbox.graphqlUrl.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  retryAttempts: 0,
})

/** Follows a payment like a checkout page would, printing each status, until it completes. */
function follow(payment: Payment, started: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no COMPLETED within 60 s')), 60_000)
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
          if (errors) return reject(new Error(JSON.stringify(errors)))
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

async function demo(asset: 'ETH' | 'USDT', amount: string) {
  const payment = await createPayment(asset, amount)
  console.log(
    `\n${amount} ${asset}: payment ${payment.id}\n  pay to ${payment.address}\n  ${payment.paymentUri}`,
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
}

try {
  await demo('ETH', '0.05')
  await demo('USDT', '12.5')
  console.log('\nBoth payments completed.')
  await ws.dispose()
  process.exit(0)
} catch (err) {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
