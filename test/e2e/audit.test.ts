import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestApp, type TestApp } from '../helpers/app.ts'

let app: TestApp
let shop: { id: string; key: string }
let neighbour: { id: string; key: string }
/** The shop's key without admin: it may rotate webhook secrets but not read the audit log. */
let operatorKey: string
let operatorId: string
let endpointId: string

const auditQuery = `query ($first: Int, $after: String, $last: Int, $before: String) {
  auditLog(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id action actor targetType targetId requestId data createdAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  } }`

type Page = {
  edges: Array<{ cursor: string; node: Record<string, unknown> & { id: string; action: string } }>
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null }
}

const auditLog = (variables: Record<string, unknown>, key: string | null = shop.key) =>
  app.gql(auditQuery, variables, key)

/** Every entry of a merchant's audit log, newest first, read page by page. */
async function allEntries(key: string, pageSize = 100) {
  const entries: Page['edges'][number]['node'][] = []
  let after: string | null = null
  for (;;) {
    const res = await auditLog({ first: pageSize, after }, key)
    const page = res.data.auditLog as Page
    entries.push(...page.edges.map((e) => e.node))
    if (!page.pageInfo.hasNextPage) return entries
    after = page.pageInfo.endCursor
  }
}

async function rotate(key: string, id = endpointId, overlapSeconds = 60) {
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        query: `mutation ($id: ID!, $o: Int) { rotateWebhookSecret(id: $id, overlapSeconds: $o) {
          __typename ... on UserError { code } } }`,
        variables: { id, o: overlapSeconds },
      }),
    }),
  )
  return { body: (await res.json()) as any, requestId: res.headers.get('x-request-id') }
}

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Audited shop')
  neighbour = await app.merchant('Neighbour shop')
  const created = await app.gql(
    `mutation { createApiKey(name: "operator", scopes: [WEBHOOKS_WRITE, PAYMENTS_READ]) { ... on ApiKeyCreated { key apiKey { id } } } }`,
    {},
    shop.key,
  )
  operatorKey = created.data.createApiKey.key
  operatorId = created.data.createApiKey.apiKey.id
  const endpoint = await app.gql(
    `mutation { createWebhookEndpoint(input: { url: "https://93.184.215.14/hooks", events: [PAYMENT_COMPLETED] }) {
      ... on WebhookEndpointWithSecret { endpoint { id } } ... on UserError { code message } } }`,
    {},
    shop.key,
  )
  endpointId = endpoint.data.createWebhookEndpoint.endpoint.id
}, 60_000)
afterAll(() => app.close())

describe('auditLog', () => {
  test('default: a rotated webhook secret is in the audit log with the key, the request and the overlap', async () => {
    const { body, requestId } = await rotate(operatorKey, endpointId, 3600)
    expect(body.data.rotateWebhookSecret.__typename).toBe('WebhookEndpointWithSecret')
    const [latest] = (await auditLog({ first: 1 })).data.auditLog.edges as Page['edges']
    expect(latest?.node).toMatchObject({
      action: 'webhook.secret_rotated',
      targetType: 'webhook_endpoint',
      targetId: endpointId,
      requestId,
      data: { overlapSeconds: 3600 },
    })
    expect(latest?.node.actor).toBe(operatorId)
  })

  test('behavior: pages are newest first, do not overlap, and together hold every entry once', async () => {
    for (let i = 0; i < 5; i++) await rotate(shop.key, endpointId, i)
    const whole = await allEntries(shop.key)
    const paged = await allEntries(shop.key, 2)
    expect(paged.map((e) => e.id)).toEqual(whole.map((e) => e.id))
    expect(new Set(paged.map((e) => e.id)).size).toBe(paged.length)
    const rotations = whole.filter((e) => e.action === 'webhook.secret_rotated')
    expect(rotations.length).toBe(6)
    // newest first: the last rotation (overlap 4) leads
    expect(rotations.map((e) => (e.data as { overlapSeconds: number }).overlapSeconds)).toEqual([
      4, 3, 2, 1, 0, 3600,
    ])
    const first = (await auditLog({ first: 2 })).data.auditLog as Page
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false })
    const second = (await auditLog({ first: 2, after: first.pageInfo.endCursor })).data.auditLog as Page
    expect(second.pageInfo.hasPreviousPage).toBe(true)
    expect(second.edges.map((e) => e.node.id)).toEqual(whole.slice(2, 4).map((e) => e.id))
  })

  test('error: another merchant sees none of it, not even through a cursor of this merchant’s log', async () => {
    const mine = await allEntries(shop.key)
    const theirs = await allEntries(neighbour.key)
    const mineIds = new Set(mine.map((e) => e.id))
    expect(theirs.some((e) => mineIds.has(e.id))).toBe(false)
    expect(theirs.some((e) => e.targetId === endpointId)).toBe(false)
    const cursor = ((await auditLog({ first: 1 })).data.auditLog as Page).edges[0]!.cursor
    const through = (await auditLog({ first: 100, after: cursor }, neighbour.key)).data.auditLog as Page
    expect(through.edges.some((e) => mineIds.has(e.node.id))).toBe(false)
    // and their admin key cannot rotate this merchant's secret into the log
    const before = mine.length
    expect((await rotate(neighbour.key)).body.data.rotateWebhookSecret).toEqual({
      __typename: 'UserError',
      code: 'NOT_FOUND',
    })
    expect((await allEntries(shop.key)).length).toBe(before)
  })

  test('error: a key without admin is FORBIDDEN and no key is UNAUTHENTICATED; neither sees an entry', async () => {
    const forbidden = await auditLog({ first: 5 }, operatorKey)
    expect(forbidden.data?.auditLog ?? null).toBeNull()
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    const anonymous = await auditLog({ first: 5 }, null)
    expect(anonymous.data?.auditLog ?? null).toBeNull()
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED')
    const revoked = 'tg_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
    const wrong = await auditLog({ first: 5 }, revoked)
    expect(wrong.data?.auditLog ?? null).toBeNull()
    expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED')
  })

  const badPaging: Array<[string, Record<string, unknown>]> = [
    ['first 0', { first: 0 }],
    ['first -1', { first: -1 }],
    ['first 101', { first: 101 }],
    ['after not a cursor', { first: 5, after: 'garbage' }],
    [
      'after an empty string cursor of nothing',
      { first: 5, after: Buffer.from('aud_').toString('base64url') },
    ],
    [
      'after a payment cursor',
      { first: 5, after: Buffer.from(`pay_${'0'.repeat(32)}`).toString('base64url') },
    ],
    ['after an injection', { first: 5, after: Buffer.from("aud_' or 1=1 --").toString('base64url') }],
    [
      'after a cursor with a NUL',
      { first: 5, after: Buffer.from(`aud_${'0'.repeat(31)}\u0000`).toString('base64url') },
    ],
    ['last', { last: 5 }],
    ['before', { first: 5, before: 'x' }],
  ]
  for (const [name, variables] of badPaging)
    test(`error: ${name} is INVALID_INPUT and shows nothing`, async () => {
      const res = await auditLog(variables)
      expect(res.data?.auditLog ?? null).toBeNull()
      expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
    })

  test('error: a huge first is refused before anything is read', async () => {
    const res = await auditLog({ first: 1_000_000_000 })
    expect(res.data?.auditLog ?? null).toBeNull()
    expect(res.errors?.length).toBeGreaterThan(0)
  })

  test('error: a first that is not an integer is refused by GraphQL', async () => {
    for (const first of [1.5, '5', true]) {
      const res = await auditLog({ first })
      expect(res.data?.auditLog ?? null).toBeNull()
      expect(res.errors?.length).toBeGreaterThan(0)
    }
  })
})
