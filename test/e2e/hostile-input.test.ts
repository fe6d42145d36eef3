import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count } from 'drizzle-orm'
import { getIntrospectionQuery } from 'graphql'
import { paymentEvents, payments } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// Hostile input for createPayment and the API's request limits: every refusal is a clear, typed error, and
// nothing is written (no payment, no payment event, no allocated deposit address).

const createMutation = /* GraphQL */ `
  mutation ($input: CreatePaymentInput!) {
    createPayment(input: $input) {
      __typename
      ... on CreatePaymentPayload { payment { id amountDue expiresAt orderId metadata } }
      ... on UserError { code field message }
    }
  }
`

const valid = { chain: 'devnet', asset: 'USDT', amount: '10' } as const

let app: TestApp
let key: string

beforeAll(async () => {
  app = await createTestApp()
  key = (await app.merchant('Hostile input')).key
  // one real payment first, so the deposit wallet and its address pool exist: a refused call that slipped
  // through validation would find an address to allocate, and the snapshot would see it
  const warmup = await create(valid)
  expect(warmup.data.createPayment.__typename).toBe('CreatePaymentPayload')
})
afterAll(() => app.close())

const create = (input: Record<string, unknown>, apiKey: string | null = key) =>
  app.gql(createMutation, { input }, apiKey)

type WriteCounts = { payments: number; paymentEvents: number; allocatedAddresses: number }

async function writeCounts(): Promise<WriteCounts> {
  const [p] = await app.ctx.db.select({ n: count() }).from(payments)
  const [e] = await app.ctx.db.select({ n: count() }).from(paymentEvents)
  // derived minus still offered: background pool refills add to both and leave this alone
  // (one statement, so one snapshot)
  const [a] = await app.ctx.query<{ n: string }>(
    'select (select count(*) from addresses) - (select count(*) from address_pool) as n',
    [],
  )
  return { payments: p!.n, paymentEvents: e!.n, allocatedAddresses: Number(a!.n) }
}

/** Counts the rows a payment creation writes; `expectUnchanged` fails if any of them moved since. */
async function snapshot() {
  const before = await writeCounts()
  return {
    before,
    expectUnchanged: async () => expect(await writeCounts()).toEqual(before),
  }
}

/** Runs `action` and asserts it wrote no payment, payment event or address allocation. */
async function expectNothingWritten<T>(action: () => Promise<T>): Promise<T> {
  const snap = await snapshot()
  const result = await action()
  await snap.expectUnchanged()
  return result
}

/** A createPayment refused as a typed `UserError` result (not a top-level error), with nothing written. */
async function expectRefused(input: Record<string, unknown>, code: string, field: string) {
  const res = await expectNothingWritten(() => create(input))
  expect(res.errors).toBeUndefined()
  expect(res.data.createPayment).toMatchObject({ __typename: 'UserError', code, field })
  expect(typeof res.data.createPayment.message).toBe('string')
  expect(res.data.createPayment.message.length).toBeGreaterThan(0)
  return res.data.createPayment as { code: string; field: string; message: string }
}

/** A response refused with top-level errors and no data; returns the first error. */
function expectTopLevelError(res: any) {
  expect(Array.isArray(res.errors)).toBe(true)
  expect(res.errors.length).toBeGreaterThan(0)
  expect(res.data ?? null).toBeNull()
  return res.errors[0] as { message: string; extensions?: Record<string, unknown> }
}

/** Every top-level error message of a refused response (the order of validation errors is not a contract). */
function errorMessages(res: any): string[] {
  expectTopLevelError(res)
  return res.errors.map((e: { message: string }) => e.message)
}

const label = (value: string) => (value.length > 24 ? `${value.length} chars` : JSON.stringify(value))

test('behavior: the write snapshot sees a successful creation (control for every "writes nothing" check)', async () => {
  const snap = await snapshot()
  const res = await create({ ...valid, amount: '1.5' })
  expect(res.data.createPayment.__typename).toBe('CreatePaymentPayload')
  expect(await writeCounts()).toEqual({
    payments: snap.before.payments + 1,
    paymentEvents: snap.before.paymentEvents + 1,
    allocatedAddresses: snap.before.allocatedAddresses + 1,
  })
})

describe('amount', () => {
  const hostileAmounts: Array<[string, string]> = [
    ['-1', 'negative'],
    ['0', 'zero'],
    ['0.000', 'zero with decimals'],
    ['-0', 'negative zero'],
    ['+1', 'explicit sign'],
    ['1e5', 'exponent'],
    ['0x10', 'hex'],
    [' 1', 'leading space'],
    ['1 ', 'trailing space'],
    ['1\n', 'trailing newline'],
    ['1.', 'trailing dot'],
    ['.5', 'leading dot'],
    ['01', 'leading zero'],
    ['00.5', 'leading zeros before a fraction'],
    ['1,5', 'decimal comma'],
    ['1_000', 'digit separator'],
    ['1.5.5', 'two dots'],
    ['１', 'fullwidth digit'],
    ['٣', 'Arabic-Indic digit'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['', 'empty'],
    ['1.1234567', 'more decimals than USDT has (6)'],
    ['0.0000001', 'below the smallest USDT unit'],
    [`1${'0'.repeat(79)}`, 'an 80-digit number (does not fit numeric(78,0))'],
    ['1'.repeat(200), 'a 200-digit string'],
    ['x'.repeat(200), 'a 200-char non-numeric string'],
  ]
  for (const [amount, why] of hostileAmounts)
    test(`error: amount ${label(amount)} (${why}) is INVALID_AMOUNT on field amount and writes nothing`, async () => {
      await expectRefused({ ...valid, amount }, 'INVALID_AMOUNT', 'amount')
    })

  test('error: 19 decimals on the 18-decimal native asset is INVALID_AMOUNT', async () => {
    const refused = await expectRefused(
      { chain: 'devnet', asset: 'ETH', amount: '0.0000000000000000001' },
      'INVALID_AMOUNT',
      'amount',
    )
    expect(refused.message).toContain('18')
  })

  test('error: an amount that is 79 base-unit digits long on ETH (1e60 ETH) is INVALID_AMOUNT', async () => {
    await expectRefused(
      { chain: 'devnet', asset: 'ETH', amount: `1${'0'.repeat(60)}` },
      'INVALID_AMOUNT',
      'amount',
    )
  })

  test('error: a JSON number instead of a string is a GraphQL variable error and writes nothing', async () => {
    const res = await expectNothingWritten(() => create({ ...valid, amount: 12.5 }))
    expect(expectTopLevelError(res).message).toContain('String')
  })

  test('behavior: the smallest unit and exactly 6 decimals are accepted (the checks are not over-strict)', async () => {
    const res = await create({ ...valid, amount: '0.000001' })
    expect(res.data.createPayment.payment.amountDue).toBe('0.000001')
    const six = await create({ ...valid, amount: '1.123456' })
    expect(six.data.createPayment.payment.amountDue).toBe('1.123456')
  })
})

describe('chain and asset', () => {
  for (const chain of [
    'bitcoin',
    'DEVNET',
    ' devnet',
    'devnet ',
    '',
    '__proto__',
    'constructor',
    'eip155:31337',
  ])
    test(`error: chain ${label(chain)} is UNKNOWN_CHAIN on field chain and writes nothing`, async () => {
      const refused = await expectRefused({ ...valid, chain }, 'UNKNOWN_CHAIN', 'chain')
      expect(refused.message).toContain('devnet')
    })

  const hostileAssets: Array<[string, string]> = [
    ['DOGE', 'a symbol the chain does not have'],
    ['', 'empty'],
    ['eip155:1/slip44:60', 'the native coin of another chain id'],
    [
      'eip155:1/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3',
      'the same token address on another chain id',
    ],
    ['eip155:31337/erc20:0x0000000000000000000000000000000000000000', 'an unlisted token on this chain'],
    ['eip155:31337/slip44:0', 'a foreign coin type on this chain'],
  ]
  for (const [asset, why] of hostileAssets)
    test(`error: asset ${label(asset)} (${why}) is UNKNOWN_ASSET on field asset and writes nothing`, async () => {
      await expectRefused({ ...valid, asset }, 'UNKNOWN_ASSET', 'asset')
    })
})

describe('expiresIn', () => {
  for (const expiresIn of [0, -5, 59, 604_801, 2_147_483_647])
    test(`error: expiresIn ${expiresIn} is INVALID_INPUT on field expiresIn and writes nothing`, async () => {
      const refused = await expectRefused({ ...valid, expiresIn }, 'INVALID_INPUT', 'expiresIn')
      expect(refused.message).toContain('604800')
    })

  for (const expiresIn of [1.5, 2_147_483_648, '3600'])
    test(`error: expiresIn ${JSON.stringify(expiresIn)} via variables is a GraphQL error and writes nothing`, async () => {
      const res = await expectNothingWritten(() => create({ ...valid, expiresIn }))
      expect(expectTopLevelError(res).message).toContain('Int')
    })

  test('error: a float literal for expiresIn fails GraphQL validation and writes nothing', async () => {
    const res = await expectNothingWritten(() =>
      app.gql(
        `mutation { createPayment(input: { chain: "devnet", asset: "USDT", amount: "1", expiresIn: 1.5 }) { __typename } }`,
        {},
        key,
      ),
    )
    expect(expectTopLevelError(res).message).toContain('Int')
  })

  test('behavior: the bounds themselves, 60 and 604800 seconds, are accepted', async () => {
    for (const expiresIn of [60, 604_800]) {
      const started = Date.now()
      const res = await create({ ...valid, expiresIn })
      const expiresAt = Date.parse(res.data.createPayment.payment.expiresAt)
      expect(expiresAt - started).toBeGreaterThanOrEqual(expiresIn * 1000 - 1000)
      expect(expiresAt - started).toBeLessThanOrEqual(expiresIn * 1000 + 5000)
    }
  })
})

describe('orderId', () => {
  const hostileOrderIds: Array<[string, string]> = [
    ['', 'empty'],
    ['o'.repeat(129), '129 chars'],
    ['a\tb', 'a tab'],
    ['a\nb', 'a newline'],
    ['a\rb', 'a carriage return'],
    ['a\u0000b', 'a NUL'],
    ['a\u001bb', 'an ESC'],
    ['a\u007fb', 'a DEL'],
    ['café', 'non-ASCII Latin'],
    ['注文-1', 'CJK'],
    ['a\u200bb', 'a zero-width space'],
    ['order-🙂', 'an emoji'],
  ]
  for (const [orderId, why] of hostileOrderIds)
    test(`error: orderId with ${why} is INVALID_INPUT on field orderId and writes nothing`, async () => {
      await expectRefused({ ...valid, orderId }, 'INVALID_INPUT', 'orderId')
    })

  test('behavior: 128 printable ASCII characters, spaces and punctuation included, are accepted as given', async () => {
    const orderId = ` !"#$%&'()*+,-./0123456789:;<=>?@[\\]^_\`{|}~`.padEnd(128, 'z')
    const res = await create({ ...valid, orderId })
    expect(res.data.createPayment.payment.orderId).toBe(orderId)
  })
})

describe('idempotencyKey', () => {
  const hostileKeys: Array<[string, string]> = [
    ['', 'empty'],
    ['k'.repeat(256), '256 chars'],
    ['key\nnext', 'a newline'],
    ['key\u0000', 'a NUL'],
    ['clé', 'non-ASCII'],
  ]
  for (const [idempotencyKey, why] of hostileKeys)
    test(`error: idempotencyKey with ${why} is INVALID_INPUT on field idempotencyKey and writes nothing`, async () => {
      await expectRefused({ ...valid, idempotencyKey }, 'INVALID_INPUT', 'idempotencyKey')
    })

  test('behavior: a 255-character key is accepted and replays', async () => {
    const idempotencyKey = 'k'.repeat(255)
    const first = await create({ ...valid, idempotencyKey })
    const again = await expectNothingWritten(() => create({ ...valid, idempotencyKey }))
    expect(again.data.createPayment.payment.id).toBe(first.data.createPayment.payment.id)
  })
})

describe('metadata', () => {
  const manyKeys = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]))
  const hostileMetadata: Array<[unknown, string]> = [
    [[1, 2], 'an array'],
    ['a string', 'a string'],
    [42, 'a number'],
    [true, 'a boolean'],
    [{ blob: 'x'.repeat(4100) }, 'over 4 KiB of JSON'],
    [{ text: 'é'.repeat(2100) }, 'under 4096 characters but over 4096 UTF-8 bytes'],
    [manyKeys, '51 keys'],
  ]
  for (const [metadata, why] of hostileMetadata)
    test(`error: metadata that is ${why} is INVALID_INPUT on field metadata and writes nothing`, async () => {
      await expectRefused({ ...valid, metadata }, 'INVALID_INPUT', 'metadata')
    })

  test('error: metadata given as an inline list literal is INVALID_INPUT and writes nothing', async () => {
    const res = await expectNothingWritten(() =>
      app.gql(
        `mutation { createPayment(input: { chain: "devnet", asset: "USDT", amount: "1", metadata: [1, 2] }) {
          ... on UserError { code field } } }`,
        {},
        key,
      ),
    )
    expect(res.data.createPayment).toEqual({ code: 'INVALID_INPUT', field: 'metadata' })
  })

  // Postgres jsonb cannot store U+0000 or an unpaired surrogate: such metadata must be refused up front as a
  // typed error, not reach the INSERT and come back as a masked INTERNAL_SERVER_ERROR.
  const unstorable: Array<[Record<string, unknown>, string]> = [
    [{ note: 'a\u0000b' }, 'a NUL in a value'],
    [{ 'k\u0000': 1 }, 'a NUL in a key'],
    [{ nested: { deeper: ['\u0000'] } }, 'a NUL deep inside'],
    [{ note: '\ud800' }, 'an unpaired surrogate'],
  ]
  for (const [metadata, why] of unstorable)
    test(`error: metadata with ${why} is INVALID_INPUT on field metadata, not an internal error`, async () => {
      await expectRefused({ ...valid, metadata }, 'INVALID_INPUT', 'metadata')
    })

  test('behavior: exactly 50 keys and exactly 4096 bytes of JSON are accepted and returned as given', async () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]))
    const res = await create({ ...valid, metadata: fifty })
    expect(res.data.createPayment.payment.metadata).toEqual(fifty)
    const full = { blob: 'x'.repeat(4096 - '{"blob":""}'.length) }
    expect(Buffer.byteLength(JSON.stringify(full))).toBe(4096)
    const big = await create({ ...valid, metadata: full })
    expect(big.data.createPayment.payment.metadata).toEqual(full)
  })
})

describe('authentication', () => {
  test('error: createPayment without an API key is UNAUTHENTICATED and writes nothing', async () => {
    const res = await expectNothingWritten(() => create(valid, null))
    expect(expectTopLevelError(res).extensions?.code).toBe('UNAUTHENTICATED')
  })

  test('error: without a key, invalid input is still UNAUTHENTICATED (auth comes before validation)', async () => {
    const res = await expectNothingWritten(() => create({ ...valid, amount: '-1' }, null))
    expect(expectTopLevelError(res).extensions?.code).toBe('UNAUTHENTICATED')
  })

  test('error: malformed Authorization headers are UNAUTHENTICATED and write nothing', async () => {
    const unknownKey = `tg_${'0'.repeat(16)}_${'A'.repeat(43)}`
    for (const authorization of [
      key,
      `Basic ${key}`,
      `Bearer ${key}x`,
      `Bearer ${key.slice(0, -1)}`,
      'Bearer',
      `Bearer ${unknownKey}`,
    ]) {
      const res = await expectNothingWritten(async () => {
        const response = await app.fetch(
          new Request('http://tollgate.test/graphql', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization },
            body: JSON.stringify({ query: createMutation, variables: { input: valid } }),
          }),
        )
        return response.json()
      })
      expect(expectTopLevelError(res).extensions?.code).toBe('UNAUTHENTICATED')
    }
  })

  test('error: a revoked key is UNAUTHENTICATED on createPayment and writes nothing', async () => {
    const created = await app.gql(
      `mutation { createApiKey(name: "to-revoke", scopes: [PAYMENTS_WRITE]) { ... on ApiKeyCreated { key apiKey { id } } } }`,
      {},
      key,
    )
    const { key: doomed, apiKey } = created.data.createApiKey
    const works = await create(valid, doomed)
    expect(works.data.createPayment.__typename).toBe('CreatePaymentPayload')
    const revoked = await app.gql(
      `mutation ($id: ID!) { revokeApiKey(id: $id) { __typename } }`,
      { id: apiKey.id },
      key,
    )
    expect(revoked.data.revokeApiKey.__typename).toBe('RevokeApiKeyPayload')
    const res = await expectNothingWritten(() => create(valid, doomed))
    expect(expectTopLevelError(res).extensions?.code).toBe('UNAUTHENTICATED')
  })

  test('error: a key without payments:write is FORBIDDEN on createPayment and writes nothing', async () => {
    const created = await app.gql(
      `mutation { createApiKey(name: "read-only", scopes: [PAYMENTS_READ, WEBHOOKS_WRITE]) { ... on ApiKeyCreated { key } } }`,
      {},
      key,
    )
    const res = await expectNothingWritten(() => create(valid, created.data.createApiKey.key))
    expect(expectTopLevelError(res).extensions?.code).toBe('FORBIDDEN')
  })
})

/** `{ __schema { types { fields { type { ofType … { name } } } } } }` with `ofTypes` levels of ofType. */
const introspectionOfDepth = (ofTypes: number) =>
  `{ __schema { types { fields { type { ${'ofType { '.repeat(ofTypes)}name${' }'.repeat(ofTypes)} } } } } }`

describe('request limits', () => {
  test('error: a query nested deeper than GRAPHQL_MAX_DEPTH (10) is QUERY_TOO_DEEP and is not executed', async () => {
    // payment 1, then invoice and payments in turn 2-10, id 11
    const res = await app.gql(
      `{ payment(id: "pay_x") { ${'invoice { payments { '.repeat(4)}invoice { id }${' } }'.repeat(4)} } }`,
      {},
      null,
    )
    const error = expectTopLevelError(res)
    expect(error.extensions?.code).toBe('QUERY_TOO_DEEP')
    expect(error.message).toContain('10')
  })

  test("behavior: the standard introspection query (GraphiQL's, 14 deep) runs at the default depth; introspection deeper than 15 does not", async () => {
    const res = await app.gql(getIntrospectionQuery(), {}, null)
    expect(res.errors).toBeUndefined()
    expect(res.data.__schema.queryType.name).toBe('Query')
    // __schema 1, types 2, fields 3, type 4, twelve ofType 5-16, name 17
    const deeper = expectTopLevelError(await app.gql(introspectionOfDepth(12), {}, null))
    expect(deeper.extensions?.code).toBe('QUERY_TOO_DEEP')
    expect(deeper.message).toContain('15')
  })

  test('behavior: a query exactly GRAPHQL_MAX_DEPTH deep runs', async () => {
    const res = await app.gql(introspectionOfDepth(5), {}, null)
    expect(res.errors).toBeUndefined()
    expect(res.data.__schema.types.length).toBeGreaterThan(0)
  })

  test('error: depth hidden in a chain of fragments is still QUERY_TOO_DEEP', async () => {
    const fragments = Array.from(
      { length: 16 },
      (_, i) => `fragment T${i} on __Type { ofType { ${i < 15 ? `...T${i + 1}` : 'name'} } }`,
    ).join('\n')
    const res = await app.gql(`{ __type(name: "Payment") { ...T0 } }\n${fragments}`, {}, null)
    expect(expectTopLevelError(res).extensions?.code).toBe('QUERY_TOO_DEEP')
  })

  test('error: the payments connection fanned out by doubling fragments is QUERY_TOO_COMPLEX, promptly', async () => {
    // L0 spreads L1 twice, L1 spreads L2 twice, …: 2^16 payment selections from about 150 tokens
    const fragments = Array.from(
      { length: 16 },
      (_, i) => `fragment L${i} on Payment { ...L${i + 1} ...L${i + 1} }`,
    )
    const query = `{ payments(first: 100) { edges { node { ...L0 } } } }
      ${fragments.join('\n')}
      fragment L16 on Payment { id amountDue address metadata events { seq type } }`
    const started = performance.now()
    const res = await app.gql(query, {}, key)
    expect(expectTopLevelError(res).extensions?.code).toBe('QUERY_TOO_COMPLEX')
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test('error: 501 aliased fields are QUERY_TOO_COMPLEX (GRAPHQL_MAX_FIELDS is 500)', async () => {
    const aliases = Array.from({ length: 501 }, (_, i) => `a${i}: __typename`).join(' ')
    const res = await app.gql(`{ ${aliases} }`, {}, null)
    const error = expectTopLevelError(res)
    expect(error.extensions?.code).toBe('QUERY_TOO_COMPLEX')
    expect(error.message).toContain('500')
  })

  test('behavior: exactly 500 aliased fields run', async () => {
    const aliases = Array.from({ length: 500 }, (_, i) => `a${i}: __typename`).join(' ')
    const res = await app.gql(`{ ${aliases} }`, {}, null)
    expect(res.errors).toBeUndefined()
    expect(Object.keys(res.data).length).toBe(500)
  })

  test('error: createPayment fanned out by 60 aliases is QUERY_TOO_COMPLEX and creates nothing', async () => {
    const calls = Array.from({ length: 60 }, (_, i) => `p${i}: createPayment(input: $input) { ...P }`).join(
      ' ',
    )
    const query = `
      mutation ($input: CreatePaymentInput!) { ${calls} }
      fragment P on CreatePaymentResult {
        ... on CreatePaymentPayload {
          payment { id address amountDue chain status orderId expiresAt createdAt updatedAt clientSecret }
        }
      }`
    const res = await expectNothingWritten(() => app.gql(query, { input: valid }, key))
    expect(expectTopLevelError(res).extensions?.code).toBe('QUERY_TOO_COMPLEX')
  })

  test('error: a document over GRAPHQL_MAX_TOKENS (2000) is refused at parse time and writes nothing', async () => {
    const list = Array.from({ length: 2100 }, () => '1').join(',')
    const query = `mutation { createPayment(input: { chain: "devnet", asset: "USDT", amount: "1", metadata: { l: [${list}] } }) { __typename } }`
    const res = await expectNothingWritten(() => app.gql(query, {}, key))
    const error = expectTopLevelError(res)
    expect(error.message).toContain('tokens')
    expect(error.message).toContain('2000')
  })

  test('error: a self-referencing fragment fails validation promptly instead of hanging', async () => {
    const started = performance.now()
    const res = await app.gql(`{ ...Loop } fragment Loop on Query { __typename ...Loop }`, {}, null)
    expect(errorMessages(res)).toContain('Cannot spread fragment "Loop" within itself.')
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test('error: a two-fragment cycle inside a mutation fails validation and writes nothing', async () => {
    const query = `
      mutation ($input: CreatePaymentInput!) { createPayment(input: $input) { ...A } }
      fragment A on CreatePaymentResult { __typename ...B }
      fragment B on CreatePaymentResult { ...A }`
    const res = await expectNothingWritten(() => app.gql(query, { input: valid }, key))
    expect(errorMessages(res).some((m) => m.startsWith('Cannot spread fragment'))).toBe(true)
  })

  test('error: a mesh of 12 mutually spreading fragments (≈340 tokens) fails validation promptly instead of hanging', async () => {
    // Every fragment spreads every other one and selects no field, so neither the field budget nor the
    // depth budget ever stops a walk that follows each simple path through the mesh (≈ e·11! of them).
    const names = Array.from({ length: 12 }, (_, i) => `F${i}`)
    const fragments = names
      .map(
        (f) =>
          `fragment ${f} on Query { ${names
            .filter((g) => g !== f)
            .map((g) => `...${g}`)
            .join(' ')} }`,
      )
      .join('\n')
    const started = performance.now()
    const res = await app.gql(`{ ...F0 }\n${fragments}`, {}, null)
    const elapsed = performance.now() - started
    expect(errorMessages(res).some((m) => m.startsWith('Cannot spread fragment'))).toBe(true)
    expect(elapsed).toBeLessThan(2000)
  }, 120_000)

  test('error: a body over MAX_BODY_BYTES with a correct Content-Length is 413 and writes nothing', async () => {
    const body = JSON.stringify({
      query: createMutation,
      variables: { input: { ...valid, orderId: 'big-body' } },
      padding: 'x'.repeat(66 * 1024),
    })
    const length = Buffer.byteLength(body)
    expect(length).toBeGreaterThan(65_536)
    const response = await expectNothingWritten(() =>
      app.fetch(
        new Request('http://tollgate.test/graphql', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': String(length),
            authorization: `Bearer ${key}`,
          },
          body,
        }),
      ),
    )
    expect(response.status).toBe(413)
    expect((await response.json()).errors[0].message).toContain('too large')
  })

  test('behavior: the same mutation under the body limit is processed (the 413 is about size only)', async () => {
    const body = JSON.stringify({
      query: createMutation,
      variables: { input: { ...valid, orderId: 'small-body' } },
    })
    const response = await app.fetch(
      new Request('http://tollgate.test/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          authorization: `Bearer ${key}`,
        },
        body,
      }),
    )
    expect(response.status).toBe(200)
    expect((await response.json()).data.createPayment.payment.orderId).toBe('small-body')
  })

  test('error: createPayment over GET is refused with 405 and writes nothing', async () => {
    const url = new URL('http://tollgate.test/graphql')
    url.searchParams.set('query', createMutation)
    url.searchParams.set('variables', JSON.stringify({ input: valid }))
    const response = await expectNothingWritten(() =>
      app.fetch(new Request(url, { headers: { authorization: `Bearer ${key}` } })),
    )
    expect(response.status).toBe(405)
    expect(expectTopLevelError(await response.json()).message).toContain('POST')
  })
})
