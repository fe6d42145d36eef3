import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newId } from '../../src/core/ids.ts'
import { createPayment } from '../../src/core/payments/create.ts'
import { listPaymentEvents } from '../../src/core/payments/queries.ts'
import { listPaymentTransfers } from '../../src/core/payments/views.ts'
import { chainCursors, transfers } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { recordStatements, type StatementLog } from '../helpers/sql-count.ts'

// Query cost: a document is priced by what it makes the server do (fields × the list sizes they repeat under),
// refused before it runs when one operation costs too much, and charged to its API key's budget per minute.
// Per-payment fields that read the database are batched, so a page costs a handful of statements.

type GqlError = { message: string; extensions?: Record<string, unknown> }
type GqlResponse = { data?: any; errors?: GqlError[] }

let app: TestApp
let log: StatementLog
let merchant: { id: string; key: string }
const pageSize = 100

/** `n` aliases of `selection`: `a0: selection a1: selection …`. */
const aliased = (n: number, selection: string) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${selection}`).join(' ')} }`

/** The document of the finding: 50 pages of 100 payments, each payment reading its transfers three times. */
const attack = aliased(
  50,
  'payments(first: 100) { edges { node { id status confirmations late transfers { txHash amount } } } }',
)

function onlyError(res: GqlResponse): GqlError {
  expect(res.data ?? null).toBeNull()
  expect(res.errors?.length).toBe(1)
  return res.errors![0]!
}

beforeAll(async () => {
  app = await createTestApp()
  merchant = await app.merchant('Cost')
  const created = []
  for (let i = 0; i < pageSize + 5; i++)
    created.push(
      (await createPayment(app.ctx, merchant.id, { chain: 'devnet', asset: 'USDT', amount: '5' })).payment,
    )
  // deposits on a third of the payments (two each, one of them late), some mined and some only seen
  await app.ctx.db.insert(chainCursors).values({ chain: 'devnet', height: 120n, hash: '0xcursor' })
  const rows = created
    .filter((_, i) => i % 3 === 0)
    .flatMap((p, i) =>
      [
        { blockHeight: 100n + BigInt(i % 20), late: false },
        { blockHeight: i % 2 === 0 ? null : 119n, late: i % 4 === 1 },
      ].map((t, n) => ({
        id: newId('trf'),
        chain: 'devnet',
        txHash: `0x${p.id.slice(4)}${n}`,
        index: n,
        asset: p.asset,
        toAddress: p.address,
        amount: 2_000_000n,
        blockHeight: t.blockHeight,
        paymentId: p.id,
        status: t.blockHeight === null ? ('seen' as const) : ('confirmed' as const),
        late: t.late,
      })),
    )
  await app.ctx.db.insert(transfers).values(rows)
  log = recordStatements(app)
})
afterAll(async () => {
  await log.close()
  await app.close()
})

describe('cost per operation', () => {
  test('error: the finding — 50 aliases of payments(first: 100) with confirmations, late and transfers are QUERY_TOO_COSTLY before any SQL runs', async () => {
    const fresh = await app.merchant('Attacker')
    expect((await app.gql('{ me { id } }', {}, fresh.key)).errors).toBeUndefined() // the key is looked up once
    log.reset()
    const res = await app.gql(attack, {}, fresh.key)
    const error = onlyError(res)
    expect(error.extensions?.code).toBe('QUERY_TOO_COSTLY')
    expect(error.extensions?.maxCost).toBe(app.ctx.env.GRAPHQL_MAX_COST)
    expect(error.extensions?.cost as number).toBeGreaterThan(app.ctx.env.GRAPHQL_MAX_COST)
    expect(error.message).toContain(String(app.ctx.env.GRAPHQL_MAX_COST))
    expect(log.statements).toEqual([])
  })
})

describe('batching', () => {
  test('behavior: a page of 100 payments selecting confirmations, late, transfers and events costs a handful of statements', async () => {
    const query = `{ payments(first: ${pageSize}) { edges { node {
      id confirmations late transfers { txHash index amount blockHeight status confirmations late }
      events { seq type toStatus }
    } } } }`
    await app.gql(query, {}, merchant.key) // the key is looked up and cached once
    log.reset()
    const res = await app.gql(query, {}, merchant.key)
    expect(res.errors).toBeUndefined()
    const nodes = res.data.payments.edges.map((e: { node: unknown }) => e.node)
    expect(nodes.length).toBe(pageSize)
    // the page, the transfers of all its payments (with their chains' cursors), their events
    expect(log.statements.length).toBeLessThanOrEqual(4)
    await log.close()
    log = recordStatements(app)

    // and the batched answers are what each payment's own reads give
    let withTransfers = 0
    for (const node of nodes) {
      const own = await listPaymentTransfers(app.ctx, { id: node.id })
      if (own.length > 0) withTransfers++
      expect(node.transfers).toEqual(
        own.map((t) => ({
          txHash: t.txHash,
          index: t.index,
          amount: t.amount.toString(),
          blockHeight: t.blockHeight?.toString() ?? null,
          status: t.status,
          confirmations: t.confirmations,
          late: t.late,
        })),
      )
      expect(node.late).toBe(own.some((t) => t.late && t.status !== 'orphaned'))
      const live = own.filter((t) => t.status !== 'orphaned')
      expect(node.confirmations).toBe(
        live.length === 0 ? 0 : Math.min(3, ...live.map((t) => t.confirmations)),
      )
      const events = await listPaymentEvents(app.ctx, node.id)
      expect(node.events).toEqual(events.map((e) => ({ seq: e.seq, type: e.type, toStatus: e.toStatus })))
    }
    expect(withTransfers).toBeGreaterThan(20)
  })
})
