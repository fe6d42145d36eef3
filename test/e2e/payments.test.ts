import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { addressPool, paymentEvents, payments } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

const createMutation = /* GraphQL */ `
  mutation ($input: CreatePaymentInput!) {
    createPayment(input: $input) {
      __typename
      ... on CreatePaymentPayload {
        replayed
        payment { id status chain address paymentUri amountDue amountReceived expiresAt confirmationsRequired
          clientSecret orderId metadata asset { id symbol decimals } events { seq type toStatus } }
      }
      ... on UserError { code field message }
    }
  }
`

let app: TestApp
let key: string
beforeAll(async () => {
  app = await createTestApp()
  key = (await app.merchant('Shop')).key
})
afterAll(() => app.close())

const create = (input: Record<string, unknown>, apiKey = key) => app.gql(createMutation, { input }, apiKey)

describe('createPayment', () => {
  test('default: a token payment with its own address, exact amount and an EIP-681 URI', async () => {
    const res = await create({
      chain: 'devnet',
      asset: 'USDT',
      amount: '12.5',
      orderId: 'order-1',
      metadata: { cart: [1, 2] },
    })
    const p = res.data.createPayment.payment
    expect(res.data.createPayment.__typename).toBe('CreatePaymentPayload')
    expect(p.status).toBe('PENDING')
    expect(p.amountDue).toBe('12.5')
    expect(p.amountReceived).toBe('0')
    expect(p.asset).toEqual({
      id: 'eip155:31337/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3',
      symbol: 'USDT',
      decimals: 6,
    })
    expect(p.paymentUri).toBe(
      `ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@31337/transfer?address=${p.address}&uint256=12500000`,
    )
    expect(p.confirmationsRequired).toBe(3)
    expect(p.metadata).toEqual({ cart: [1, 2] })
    expect(p.events).toEqual([{ seq: 1, type: 'payment.created', toStatus: 'PENDING' }])
    const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, p.id))
    expect(row?.amountDue).toBe(12_500_000n)
  })

  test('behavior: native amounts keep all 18 decimals exactly', async () => {
    const res = await create({ chain: 'devnet', asset: 'ETH', amount: '123456789.123456789123456789' })
    const p = res.data.createPayment.payment
    expect(p.amountDue).toBe('123456789.123456789123456789')
    expect(p.paymentUri).toBe(`ethereum:${p.address}@31337?value=123456789123456789123456789`)
  })

  test('behavior: 200 concurrent creations get 200 distinct addresses on contiguous derivation indexes', async () => {
    const fresh = await createTestApp()
    try {
      const m = await fresh.merchant()
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          fresh.gql(createMutation, { input: { chain: 'devnet', asset: 'ETH', amount: `${i + 1}` } }, m.key),
        ),
      )
      const addrs = results.map((r) => r.data.createPayment.payment.address)
      expect(new Set(addrs).size).toBe(200)
      const used = await fresh.ctx.db.select().from(payments)
      const indexes = used.map((p) => p.derivationIndex)
      expect(indexes.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i))
      // every payment's address is the one derived at its index, and none is still offered by the pool
      for (const p of used) {
        const derived = fresh.ctx.chains.get('devnet')!.driver.deriveAddress({
          xpub: fresh.ctx.xpubFor("m/44'/60'/0'"),
          index: p.derivationIndex,
        })
        expect(p.address).toBe(derived.address)
      }
      const offered = await fresh.ctx.db.select().from(addressPool)
      expect(offered.filter((a) => indexes.includes(a.derivationIndex))).toEqual([])
    } finally {
      await fresh.close()
    }
  })

  test("behavior: the first deposit address is m/44'/60'/0'/0/0 of the seed", async () => {
    const fresh = await createTestApp()
    try {
      const m = await fresh.merchant()
      const res = await fresh.gql(
        createMutation,
        { input: { chain: 'devnet', asset: 'ETH', amount: '1' } },
        m.key,
      )
      // anvil's first account: the well-known address of the test mnemonic at index 0
      expect(res.data.createPayment.payment.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    } finally {
      await fresh.close()
    }
  })
})

describe('idempotency', () => {
  test('default: same key and parameters return the same payment', async () => {
    const input = {
      chain: 'devnet',
      asset: 'ETH',
      amount: '1.5',
      idempotencyKey: 'idem-1',
      metadata: { a: 1, b: 2 },
    }
    const first = await create(input)
    const second = await create({ ...input, metadata: { b: 2, a: 1 } })
    expect(second.data.createPayment.replayed).toBe(true)
    expect(second.data.createPayment.payment.id).toBe(first.data.createPayment.payment.id)
    expect(first.data.createPayment.replayed).toBe(false)
  })

  test('error: same key with other parameters is IDEMPOTENCY_KEY_REUSED and writes nothing', async () => {
    await create({ chain: 'devnet', asset: 'ETH', amount: '2', idempotencyKey: 'idem-2' })
    const before = (await app.ctx.db.select().from(payments)).length
    const res = await create({ chain: 'devnet', asset: 'ETH', amount: '3', idempotencyKey: 'idem-2' })
    expect(res.data.createPayment).toMatchObject({
      __typename: 'UserError',
      code: 'IDEMPOTENCY_KEY_REUSED',
      field: 'idempotencyKey',
    })
    expect((await app.ctx.db.select().from(payments)).length).toBe(before)
  })

  test('behavior: 20 concurrent calls with one key create one payment and one address', async () => {
    const input = { chain: 'devnet', asset: 'ETH', amount: '4', idempotencyKey: 'idem-race' }
    const results = await Promise.all(Array.from({ length: 20 }, () => create(input)))
    const ids = new Set(results.map((r) => r.data.createPayment.payment.id))
    expect(ids.size).toBe(1)
    expect(results.filter((r) => !r.data.createPayment.replayed).length).toBe(1)
    const rows = await app.ctx.db.select().from(payments).where(eq(payments.idempotencyKey, 'idem-race'))
    expect(rows.length).toBe(1)
    // the 19 losers gave their addresses back: exactly one index left the pool
    const offered = await app.ctx.db
      .select()
      .from(addressPool)
      .where(eq(addressPool.derivationIndex, rows[0]!.derivationIndex))
    expect(offered).toEqual([])
    const lower = (await app.ctx.db.select().from(addressPool)).filter(
      (a) => a.derivationIndex < rows[0]!.derivationIndex,
    )
    expect(lower).toEqual([])
  })

  test('behavior: creations grouped in one statement still fail alone: a key clash refuses only the clashing call', async () => {
    const m = await app.merchant('Batch')
    const inputs = Array.from({ length: 12 }, (_, i) => ({
      chain: 'devnet',
      asset: 'ETH',
      amount: `${i + 1}`,
    }))
    // two new calls share a key with different amounts: they land in the same group, which must then split up
    inputs[3] = { ...inputs[3]!, idempotencyKey: 'clash' } as never
    inputs[4] = { ...inputs[4]!, idempotencyKey: 'clash' } as never
    const results = await Promise.all(inputs.map((input) => create(input, m.key)))
    const outcomes = results.map((r) => r.data.createPayment.__typename)
    expect(outcomes.filter((o) => o === 'CreatePaymentPayload').length).toBe(11)
    const refused = results.find((r) => r.data.createPayment.__typename === 'UserError')
    expect(refused?.data.createPayment.code).toBe('IDEMPOTENCY_KEY_REUSED')
    const rows = await app.ctx.db.select().from(payments).where(eq(payments.merchantId, m.id))
    expect(rows.length).toBe(11)
    expect(new Set(rows.map((r) => r.address)).size).toBe(11)
  })

  test('behavior: idempotency keys are per merchant', async () => {
    const other = await app.merchant('Other')
    const a = await create({ chain: 'devnet', asset: 'ETH', amount: '5', idempotencyKey: 'shared' })
    const b = await create(
      { chain: 'devnet', asset: 'ETH', amount: '6', idempotencyKey: 'shared' },
      other.key,
    )
    expect(b.data.createPayment.payment.id).not.toBe(a.data.createPayment.payment.id)
  })
})

describe('reading payments', () => {
  test('default: payment(id) returns the payment with its events', async () => {
    const created = (await create({ chain: 'devnet', asset: 'ETH', amount: '0.1' })).data.createPayment
      .payment
    const res = await app.gql(
      `query ($id: ID!) { payment(id: $id) { id amountDue events { type } } }`,
      { id: created.id },
      key,
    )
    expect(res.data.payment).toEqual({
      id: created.id,
      amountDue: '0.1',
      events: [{ type: 'payment.created' }],
    })
  })

  test("behavior: another merchant's payment is not found, never data", async () => {
    const created = (await create({ chain: 'devnet', asset: 'ETH', amount: '0.2' })).data.createPayment
      .payment
    const other = await app.merchant('Intruder')
    const res = await app.gql(`query ($id: ID!) { payment(id: $id) { id } }`, { id: created.id }, other.key)
    expect(res.data.payment).toBeNull()
    const list = await app.gql(`{ payments(first: 100) { edges { node { id } } } }`, {}, other.key)
    expect(list.data.payments.edges).toEqual([])
  })

  test('default: payments pages through everything newest first, with filters', async () => {
    const m = await app.merchant('Pager')
    for (let i = 0; i < 7; i++)
      await create(
        { chain: 'devnet', asset: i % 2 ? 'USDT' : 'ETH', amount: `${i + 1}`, orderId: `o-${i}` },
        m.key,
      )
    const seen: string[] = []
    let after: string | null = null
    for (;;) {
      const res: any = await app.gql(
        `query ($after: String) { payments(first: 3, after: $after) { edges { cursor node { orderId } } pageInfo { hasNextPage endCursor } } }`,
        { after },
        m.key,
      )
      seen.push(...res.data.payments.edges.map((e: any) => e.node.orderId))
      if (!res.data.payments.pageInfo.hasNextPage) break
      after = res.data.payments.pageInfo.endCursor
    }
    expect(seen).toEqual(['o-6', 'o-5', 'o-4', 'o-3', 'o-2', 'o-1', 'o-0'])
    const filtered = await app.gql(
      `{ payments(first: 10, filter: { orderId: "o-3" }) { edges { node { amountDue } } } }`,
      {},
      m.key,
    )
    expect(filtered.data.payments.edges).toEqual([{ node: { amountDue: '4' } }])
  })

  test('default: chains lists assets, decimals and confirmations', async () => {
    const res = await app.gql(
      `{ chains { name chainId confirmations assets { symbol decimals native } } }`,
      {},
      null,
    )
    expect(res.data.chains).toEqual([
      {
        name: 'devnet',
        chainId: 'eip155:31337',
        confirmations: 3,
        assets: [
          { symbol: 'ETH', decimals: 18, native: true },
          { symbol: 'USDT', decimals: 6, native: false },
        ],
      },
    ])
  })
})

describe('API keys', () => {
  test('default: me shows the merchant of the key', async () => {
    const m = await app.merchant('Me Inc')
    const res = await app.gql(`{ me { id name apiKeys { prefix scopes revokedAt } } }`, {}, m.key)
    expect(res.data.me.id).toBe(m.id)
    expect(res.data.me.name).toBe('Me Inc')
    expect(res.data.me.apiKeys[0].scopes).toContain('ADMIN')
    expect(m.key).toContain(res.data.me.apiKeys[0].prefix)
  })

  test('behavior: a revoked key stops working on the next request', async () => {
    const m = await app.merchant('Revoker')
    const created = await app.gql(
      `mutation { createApiKey(name: "ci", scopes: [PAYMENTS_READ]) { ... on ApiKeyCreated { key apiKey { id } } } }`,
      {},
      m.key,
    )
    const { key: second, apiKey } = created.data.createApiKey
    expect(
      (await app.gql(`{ payments(first: 1) { edges { cursor } } }`, {}, second)).data.payments,
    ).toBeTruthy()
    const revoked = await app.gql(
      `mutation ($id: ID!) { revokeApiKey(id: $id) { __typename } }`,
      { id: apiKey.id },
      m.key,
    )
    expect(revoked.data.revokeApiKey.__typename).toBe('RevokeApiKeyPayload')
    const after = await app.gql(`{ payments(first: 1) { edges { cursor } } }`, {}, second)
    expect(after.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    expect(after.data).toBeNull()
  })

  test('behavior: a key revoked in another process stops working here as soon as the revocation commits', async () => {
    const m = await app.merchant('Elsewhere')
    const me = () => app.gql(`{ me { id } }`, {}, m.key)
    expect((await me()).data.me.id).toBe(m.id) // now cached in this process
    const { openDb } = await import('../../src/db/client.ts')
    const other = await openDb({ url: app.databaseUrl, maxConnections: 1 })
    const { revokeApiKey } = await import('../../src/core/access/api-keys.ts')
    await revokeApiKey(other, { keyId: m.key.split('_')[1]! })
    await other.close()
    const deadline = Date.now() + 2000
    let res = await me()
    while (!res.errors && Date.now() < deadline) {
      await Bun.sleep(5)
      res = await me()
    }
    expect(res.errors[0].extensions.code).toBe('UNAUTHENTICATED')
  })

  test('error: a key without payments:write cannot create payments, and nothing is written', async () => {
    const m = await app.merchant('Scoped')
    const created = await app.gql(
      `mutation { createApiKey(name: "ro", scopes: [PAYMENTS_READ]) { ... on ApiKeyCreated { key } } }`,
      {},
      m.key,
    )
    const before = (await app.ctx.db.select().from(payments)).length
    const res = await create({ chain: 'devnet', asset: 'ETH', amount: '1' }, created.data.createApiKey.key)
    expect(res.errors[0].extensions.code).toBe('FORBIDDEN')
    expect((await app.ctx.db.select().from(payments)).length).toBe(before)
  })

  test('error: missing, malformed and unknown keys are UNAUTHENTICATED', async () => {
    for (const k of [null, 'nope', `tg_0000000000000000_${'A'.repeat(43)}`]) {
      const res = await app.gql(`{ me { id } }`, {}, k)
      expect(res.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    }
  })

  test('behavior: keys are stored hashed, never in plain text', async () => {
    const m = await app.merchant('Hashed')
    const rows = await app.ctx.db.select().from((await import('../../src/db/schema/index.ts')).apiKeys)
    // the secret part is everything after tg_<prefix>_ (it may itself contain underscores)
    const secret = m.key.slice(m.key.indexOf('_', 3) + 1)
    expect(secret.length).toBe(43)
    expect(JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(secret)
  })
})

test('behavior: every payment has exactly one creation event row', async () => {
  const rows = await app.ctx.db.select().from(payments)
  const events = await app.ctx.db.select().from(paymentEvents)
  expect(events.filter((e) => e.seq === 1).length).toBe(rows.length)
})

describe('watch-only API', () => {
  test('behavior: given TOLLGATE_XPUBS the API process loads no signer, even with a seed present', async () => {
    const { createSigner } = await import('../../src/core/payouts/signer.ts')
    const { testMnemonic } = await import('../helpers/app.ts')
    const xpub = createSigner(testMnemonic).xpub("m/44'/60'/0'")
    const watchOnly = await createTestApp({ role: 'api', env: { TOLLGATE_XPUBS: `m/44'/60'/0'=${xpub}` } })
    try {
      expect(watchOnly.ctx.signer).toBeUndefined()
      const m = await watchOnly.merchant()
      const res = await watchOnly.gql(
        createMutation,
        { input: { chain: 'devnet', asset: 'ETH', amount: '1' } },
        m.key,
      )
      expect(res.data.createPayment.payment.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
    } finally {
      await watchOnly.close()
    }
  })

  test('behavior: the API process without xpubs falls back to the seed and says so', async () => {
    const withSeed = await createTestApp({ role: 'api' })
    try {
      expect(withSeed.ctx.signer).toBeDefined()
      expect(withSeed.logs.some((l) => String(l.msg).includes('TOLLGATE_XPUBS'))).toBe(true)
    } finally {
      await withSeed.close()
    }
  })
})
