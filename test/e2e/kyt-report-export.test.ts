import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createConsoleUser } from '../../src/core/access/console-users.ts'
import { reportColumns } from '../../src/core/compliance/report.ts'
import { kytChecks } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// GET /exports/kyt.csv: the compliance report `tollgate kyt report` prints, for the merchant of the key (or of
// the console session), over a period. compliance:review or admin; a bad period is a 400 naming the parameter.

const password = 'correct horse battery staple'
const nativeAsset = 'eip155:31337/slip44:60'
const listed = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const formulaNote = '=HYPERLINK("http://evil.example","click")'

let app: TestApp
let shop: { id: string; key: string }
let otherShop: { id: string; key: string }
let ipCounter = 0
const send = (request: Request) =>
  (app.fetch as (request: Request, peer?: string) => Promise<Response>)(request, `198.51.100.${++ipCounter}`)

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Report shop')
  otherShop = await app.merchant('Other shop')
  const row = (
    id: string,
    merchantId: string,
    createdAt: string,
    extra: Partial<typeof kytChecks.$inferInsert>,
  ) => ({
    id,
    merchantId,
    subjectType: 'transfer' as const,
    subjectId: `trf_${id}`,
    paymentId: `pay_${id}`,
    chain: 'devnet',
    direction: 'inbound' as const,
    addresses: [listed],
    asset: nativeAsset,
    amount: 1_500_000_000_000_000_000n,
    txHash: `0x${id}`,
    state: 'clear' as const,
    verdict: 'allow' as const,
    createdAt: new Date(createdAt),
    ...extra,
  })
  await app.ctx.db.insert(kytChecks).values([
    row('kyt_before', shop.id, '2025-02-28T23:59:59.999Z', {}),
    row('kyt_held', shop.id, '2025-03-01T00:00:00.000Z', {
      state: 'held',
      verdict: 'block',
      reason: 'KYT_BLOCKED',
      answers: [
        {
          provider: 'sanctions',
          address: listed,
          verdict: 'block',
          categories: ['sanctions'],
          version: 'v1',
        },
      ],
      screenedAt: new Date('2025-03-01T00:00:02.000Z'),
    }),
    row('kyt_released', shop.id, '2025-03-10T12:00:00.000Z', {
      state: 'released',
      verdict: 'review',
      reason: 'KYT_REVIEW',
      decidedBy: 'user:usr_1',
      decidedAt: new Date('2025-03-11T00:00:00.000Z'),
      note: formulaNote,
    }),
    row('kyt_at_end', shop.id, '2025-04-01T00:00:00.000Z', {}),
    row('kyt_elsewhere', otherShop.id, '2025-03-05T00:00:00.000Z', { state: 'held', verdict: 'block' }),
  ])
})
afterAll(() => app?.close())

const exportUrl = (query: string) => `http://tollgate.test/exports/kyt.csv${query}`

function get(query: string, headers: Record<string, string> = {}, method = 'GET') {
  return send(new Request(exportUrl(query), { method, headers }))
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

async function keyWith(scopes: string[]): Promise<string> {
  const res = await app.gql(
    `mutation ($scopes: [ApiKeyScope!]!) { createApiKey(name: "report", scopes: $scopes) {
      ... on ApiKeyCreated { key } ... on UserError { code } } }`,
    { scopes },
    shop.key,
  )
  return res.data.createApiKey.key
}

/** The CSV as rows of fields (the report's fields hold no line breaks here). */
function parseCsv(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1] as string).slice(0, -1))
}

describe('GET /exports/kyt.csv', () => {
  test('default: a compliance:review key downloads the merchant’s screenings opened in [from, to), oldest first', async () => {
    const key = await keyWith(['COMPLIANCE_REVIEW'])
    const res = await get('?from=2025-03-01&to=2025-04-01', bearer(key))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="kyt.csv"')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const [header, ...rows] = parseCsv(await res.text())
    expect(header).toEqual([...reportColumns])
    const column = (name: string) => reportColumns.indexOf(name as (typeof reportColumns)[number])
    // the first instant is in, the last out; another merchant's screening never
    expect(rows.map((r) => r[column('checkId')])).toEqual(['kyt_held', 'kyt_released'])
    const held = rows[0] as string[]
    expect(held[column('merchantId')]).toBe(shop.id)
    expect(held[column('state')]).toBe('held')
    expect(held[column('reason')]).toBe('KYT_BLOCKED')
    expect(held[column('providers')]).toBe(`sanctions:${listed}:block`)
    expect(held[column('amount')]).toBe('1500000000000000000')
    const released = rows[1] as string[]
    expect(released[column('decidedBy')]).toBe('user:usr_1')
    // a note a spreadsheet would run as a formula is written as text
    expect(released[column('note')]).toBe(`"'${formulaNote.replaceAll('"', '""')}"`)
  })

  test('behavior: an instant with its zone bounds the period as precisely; admin opens it too', async () => {
    const res = await get('?from=2025-02-28T23:59:59.999Z&to=2025-03-01T00:00:00Z', bearer(shop.key))
    expect(res.status).toBe(200)
    const [, ...rows] = parseCsv(await res.text())
    expect(rows.map((r) => r[1])).toEqual(['kyt_before'])
  })

  test('behavior: a period with nothing in it is the header alone', async () => {
    const res = await get('?from=2024-01-01&to=2024-02-01', bearer(shop.key))
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(`${reportColumns.join(',')}\n`)
  })

  test('error: without a key 401, with payments:read only 403 FORBIDDEN, not a GET 405', async () => {
    const none = await get('?from=2025-03-01&to=2025-04-01')
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
    const reader = await keyWith(['PAYMENTS_READ', 'PAYMENTS_WRITE', 'WITHDRAWALS_APPROVE'])
    const refused = await get('?from=2025-03-01&to=2025-04-01', bearer(reader))
    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({
      error: 'this API key lacks the scope compliance:review',
      code: 'FORBIDDEN',
    })
    const posted = await get('?from=2025-03-01&to=2025-04-01', bearer(shop.key), 'POST')
    expect(posted.status).toBe(405)
  })

  test('error: a bad period is 400 INVALID_INPUT naming the parameter, and no CSV', async () => {
    const cases: Array<[string, string]> = [
      ['', 'from'],
      ['?from=2025-03-01', 'to'],
      ['?from=yesterday&to=2025-04-01', 'from'],
      ['?from=2025-02-30&to=2025-04-01', 'from'],
      ['?from=2025-03-01&to=2025-03-01T10:00:00', 'to'],
      ['?from=2025-04-01&to=2025-03-01', 'to'],
      ['?from=2025-03-01&to=2025-03-01', 'to'],
      [`?from=2025-03-01&to=2025-04-01&merchant=${otherShop.id}`, 'merchant'],
      ['?from=2025-03-01&from=2025-03-02&to=2025-04-01', 'from'],
    ]
    for (const [query, field] of cases) {
      const res = await get(query, bearer(shop.key))
      expect({ query, status: res.status }).toEqual({ query, status: 400 })
      expect(res.headers.get('content-type')).toBe('application/json')
      const body = await res.json()
      expect({ query, code: body.code, field: body.field }).toEqual({ query, code: 'INVALID_INPUT', field })
      expect(body.error).toBeString()
    }
  })

  test('behavior: the console session opens it with the merchant header (no CSRF token, like the ledger CSV); a viewer’s is FORBIDDEN', async () => {
    const session = async (role: string) => {
      const email = `${role}-${crypto.randomUUID().slice(0, 8)}@example.com`
      await createConsoleUser(
        { db: app.ctx.db },
        { email, displayName: role, password, membership: { merchantId: shop.id, role } },
      )
      const res = await send(
        new Request('http://tollgate.test/console/api/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        }),
      )
      expect(res.status).toBe(200)
      return (res.headers.get('set-cookie') ?? '').split(';')[0] as string
    }
    const officer = await session('compliance')
    const ok = await get('?from=2025-03-01&to=2025-04-01', {
      cookie: officer,
      'x-tollgate-merchant': shop.id,
    })
    expect(ok.status).toBe(200)
    const [, ...rows] = parseCsv(await ok.text())
    expect(rows.map((r) => r[1])).toEqual(['kyt_held', 'kyt_released'])
    // another merchant than the user's, or none: refused before anything is read
    const elsewhere = await get('?from=2025-03-01&to=2025-04-01', {
      cookie: officer,
      'x-tollgate-merchant': otherShop.id,
    })
    expect(elsewhere.status).toBe(403)
    expect(await elsewhere.json()).toMatchObject({ code: 'FORBIDDEN' })
    const viewer = await session('viewer')
    const refused = await get('?from=2025-03-01&to=2025-04-01', {
      cookie: viewer,
      'x-tollgate-merchant': shop.id,
    })
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({ code: 'FORBIDDEN' })
  })
})
