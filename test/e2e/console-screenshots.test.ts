import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { type ConsoleDemo, captureConsole, startConsoleDemo } from '../../scripts/console-screenshots.ts'
import { artifactsDir } from '../helpers/browser.ts'

// The README's screenshot script, as `bun scripts/console-screenshots.ts` runs it but into test-artifacts/: the
// demo it seeds has what each picture is about (checked through the API), and every page is captured signed in as
// the admin, with no page error, failed response, dialog, CSP violation or request to another host on the way.

const outDir = join(artifactsDir, 'console-screenshots')

let demo: ConsoleDemo

beforeAll(async () => {
  rmSync(outDir, { recursive: true, force: true })
  demo = await startConsoleDemo()
}, 60_000)

afterAll(() => demo?.stop())

/** A PNG's width and height, from its IHDR chunk. */
function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path)
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG')
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

describe('the console screenshots script', () => {
  test('default: the demo holds what the pictures show: completed, pending and held payments, a withdrawal at 1 of 2 approvals, delivered webhooks', async () => {
    const { app, ids, merchant } = demo
    const res = await app.gql(
      `query ($payment: ID!, $pending: ID!, $held: ID!, $withdrawal: ID!, $endpoint: ID!) {
        payment(id: $payment) { status orderId transfers { amount } kyt { state } }
        pending: payment(id: $pending) { status }
        held: payment(id: $held) { status kyt { state verdict } }
        withdrawal(id: $withdrawal) { status approvalsRequired approvalsMissing }
        webhookDeliveries(endpointId: $endpoint, first: 20) { edges { node { eventType status } } }
        overview { volume(interval: DAY) { count } }
        me { apiKeys { name } }
      }`,
      ids,
      merchant.key,
    )
    expect(res.errors).toBeUndefined()
    const d = res.data
    expect(d.payment).toEqual({
      status: 'COMPLETED',
      orderId: 'order-1044',
      transfers: [{ amount: '149900000' }],
      kyt: [{ state: 'CLEAR' }],
    })
    expect(d.pending.status).toBe('PENDING')
    expect(d.held).toEqual({ status: 'HELD', kyt: [{ state: 'HELD', verdict: 'BLOCK' }] })
    expect(d.withdrawal).toEqual({ status: 'AWAITING_APPROVAL', approvalsRequired: 2, approvalsMissing: 1 })
    const deliveries = d.webhookDeliveries.edges.map((e: { node: unknown }) => e.node)
    expect(deliveries).toHaveLength(8)
    expect(deliveries[0]).toEqual({ eventType: 'payment.held', status: 'succeeded' })
    expect(deliveries.every((n: { status: string }) => n.status === 'succeeded')).toBe(true)
    // a week of days with volume, one payment each
    expect(d.overview.volume.map((p: { count: number }) => p.count)).toEqual([1, 1, 1, 1, 1, 1, 1])
    expect(d.me.apiKeys.map((k: { name: string }) => k.name)).toEqual(
      expect.arrayContaining(['Storefront backend', 'Payout service', 'Treasury approver']),
    )
  })

  test('default: every page is captured, each PNG its width and under 300 KB, with nothing going wrong on the way', async () => {
    const { written, problems } = await captureConsole(demo, outDir)
    expect(problems).toEqual([])
    expect(written.map((p) => basename(p))).toEqual([
      'console-sign-in.png',
      'console-overview.png',
      'console-payment.png',
      'console-withdrawals.png',
      'console-compliance.png',
      'console-webhooks.png',
      'console-overview-phone.png',
    ])
    for (const path of written) {
      const { width, height } = pngSize(path)
      expect({ path, width }).toEqual({ path, width: path.endsWith('-phone.png') ? 375 : 1280 })
      expect(height).toBeGreaterThan(300)
      expect(height).toBeLessThanOrEqual(2400)
      expect(statSync(path).size).toBeLessThan(300_000)
    }
  }, 60_000)
})
