import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { apiKeys, auditLog } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// API keys over GraphQL: an optional end of validity, an audit entry for every creation and revocation (with the
// acting key and the request), and hostile input refused typed with nothing written.

let app: TestApp
let shop: { id: string; key: string }
let rival: { id: string; key: string }

beforeAll(async () => {
  app = await createTestApp()
  shop = await app.merchant('Key shop')
  rival = await app.merchant('Rival shop')
})
afterAll(() => app.close())

const createKey = /* GraphQL */ `
  mutation ($name: String!, $scopes: [ApiKeyScope!]!, $expiresAt: DateTime) {
    createApiKey(name: $name, scopes: $scopes, expiresAt: $expiresAt) {
      __typename
      ... on ApiKeyCreated { key apiKey { id prefix scopes expiresAt revokedAt } }
      ... on UserError { code field message }
    }
  }
`
const revokeKey = /* GraphQL */ `
  mutation ($id: ID!) { revokeApiKey(id: $id) { __typename ... on RevokeApiKeyPayload { id } ... on UserError { code field } } }
`

/** A GraphQL call with a request id of our choosing (what the audit log records). */
async function gqlWithRequestId(
  query: string,
  variables: Record<string, unknown>,
  key: string,
  requestId: string,
) {
  const res = await app.fetch(
    new Request('http://tollgate.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${key}`,
        'x-request-id': requestId,
      },
      body: JSON.stringify({ query, variables }),
    }),
  )
  return (await res.json()) as any
}

async function written() {
  const [keys] = await app.ctx.db.select({ n: count() }).from(apiKeys)
  const [audit] = await app.ctx.db.select({ n: count() }).from(auditLog)
  return { keys: keys!.n, audit: audit!.n }
}

async function expectNothingWritten<T>(action: () => Promise<T>): Promise<T> {
  const before = await written()
  const result = await action()
  expect(await written()).toEqual(before)
  return result
}

describe('createApiKey with expiresAt', () => {
  test('default: the key carries its expiry, lists it under me.apiKeys, and works until then', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString()
    const res = await app.gql(createKey, { name: 'temp', scopes: ['PAYMENTS_READ'], expiresAt }, shop.key)
    const created = res.data.createApiKey
    expect(created.__typename).toBe('ApiKeyCreated')
    expect(created.apiKey.expiresAt).toBe(expiresAt)
    const me = await app.gql('{ me { id apiKeys { id expiresAt } } }', {}, shop.key)
    expect(me.data.me.apiKeys).toContainEqual({ id: created.apiKey.id, expiresAt })
    const asTemp = await app.gql('{ payments(first: 1) { edges { node { id } } } }', {}, created.key)
    expect(asTemp.errors).toBeUndefined()
  })

  test('default: without expiresAt the key has none (null)', async () => {
    const res = await app.gql(createKey, { name: 'forever', scopes: ['PAYMENTS_READ'] }, shop.key)
    expect(res.data.createApiKey.apiKey.expiresAt).toBeNull()
  })

  test('behavior: past its expiry a key is refused like a revoked one, on queries, mutations and the merchant stream', async () => {
    const expired = (
      await app.gql(
        createKey,
        { name: 'soon', scopes: ['ADMIN'], expiresAt: new Date(Date.now() + 60_000).toISOString() },
        shop.key,
      )
    ).data.createApiKey
    const revoked = (await app.gql(createKey, { name: 'gone', scopes: ['ADMIN'] }, shop.key)).data
      .createApiKey
    await app.gql(revokeKey, { id: revoked.apiKey.id }, shop.key)
    await app.ctx.query(`update api_keys set expires_at = now() - interval '1 second' where id = $1`, [
      expired.apiKey.id,
    ])
    app.ctx.authCache.evict(expired.apiKey.id)
    for (const operation of [
      '{ me { id } }',
      'mutation { createApiKey(name: "x", scopes: [ADMIN]) { __typename } }',
    ]) {
      const a = await app.gql(operation, {}, expired.key)
      const b = await app.gql(operation, {}, revoked.key)
      expect(a.errors[0].extensions.code).toBe('UNAUTHENTICATED')
      expect(a.errors[0].message).toBe(b.errors[0].message)
    }
  })

  test('error: an expiry in the past, now, or more than 10 years ahead is a UserError on expiresAt; nothing written', async () => {
    for (const expiresAt of [
      new Date(0).toISOString(),
      new Date(Date.now() - 1000).toISOString(),
      new Date(Date.now() + 11 * 366 * 86_400_000).toISOString(),
      '+275760-09-13T00:00:00.000Z',
    ]) {
      const res = await expectNothingWritten(() =>
        app.gql(createKey, { name: 'bad', scopes: ['ADMIN'], expiresAt }, shop.key),
      )
      expect(res.data.createApiKey).toMatchObject({
        __typename: 'UserError',
        code: 'INVALID_INPUT',
        field: 'expiresAt',
      })
    }
  })

  test('error: an expiresAt that is not an ISO instant is refused before anything runs; nothing written', async () => {
    for (const expiresAt of [
      'tomorrow',
      '',
      '2030-13-01T00:00:00Z',
      'NaN',
      12345,
      true,
      { at: 1 },
      ['2030-01-01'],
    ]) {
      const res = await expectNothingWritten(() =>
        app.gql(createKey, { name: 'bad', scopes: ['ADMIN'], expiresAt }, shop.key),
      )
      expect(res.data ?? null).toBeNull()
      expect(res.errors.length).toBeGreaterThan(0)
    }
  })

  test('error: hostile names (empty, 101 characters, NUL, line breaks, escapes) are UserErrors on name; nothing written', async () => {
    for (const name of ['', 'n'.repeat(101), 'a\u0000b', 'line\nbreak', '\u001b[2Jcleared', 'bell\u0007']) {
      const res = await expectNothingWritten(() => app.gql(createKey, { name, scopes: ['ADMIN'] }, shop.key))
      expect(res.data.createApiKey).toMatchObject({
        __typename: 'UserError',
        code: 'INVALID_INPUT',
        field: 'name',
      })
    }
  })

  test('error: without the admin scope, creating or revoking a key is FORBIDDEN; nothing written', async () => {
    const reader = (await app.gql(createKey, { name: 'reader', scopes: ['PAYMENTS_READ'] }, shop.key)).data
      .createApiKey
    const create = await expectNothingWritten(() =>
      app.gql(createKey, { name: 'escalate', scopes: ['ADMIN'] }, reader.key),
    )
    expect(create.errors[0].extensions.code).toBe('FORBIDDEN')
    const revoke = await expectNothingWritten(() => app.gql(revokeKey, { id: reader.apiKey.id }, reader.key))
    expect(revoke.errors[0].extensions.code).toBe('FORBIDDEN')
  })
})

describe('audit of API keys', () => {
  test('default: creating and revoking a key are recorded with the acting key and the request id', async () => {
    const [actor] = await app.ctx.db.select().from(apiKeys).where(eq(apiKeys.merchantId, shop.id)).limit(1)
    const created = await gqlWithRequestId(
      createKey,
      { name: 'audited', scopes: ['WEBHOOKS_WRITE'] },
      shop.key,
      'req-create-1',
    )
    const id = created.data.createApiKey.apiKey.id
    await gqlWithRequestId(revokeKey, { id }, shop.key, 'req-revoke-1')
    const entries = await app.ctx.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.targetId, id))
      .orderBy(auditLog.id)
    expect(entries.map((e) => [e.action, e.actor, e.requestId, e.merchantId])).toEqual([
      ['apikey.created', actor!.id, 'req-create-1', shop.id],
      ['apikey.revoked', actor!.id, 'req-revoke-1', shop.id],
    ])
    expect(entries[0]!.data).toMatchObject({ name: 'audited', scopes: ['webhooks:write'] })
    expect(JSON.stringify(entries)).not.toContain(created.data.createApiKey.key)
  })

  test('behavior: revoking by prefix answers the key’s id', async () => {
    const created = (await app.gql(createKey, { name: 'by-prefix', scopes: ['ADMIN'] }, shop.key)).data
      .createApiKey
    const res = await app.gql(revokeKey, { id: created.apiKey.prefix }, shop.key)
    expect(res.data.revokeApiKey).toEqual({ __typename: 'RevokeApiKeyPayload', id: created.apiKey.id })
  })

  test('error: revoking another merchant’s key, an unknown, revoked or hostile id is NOT_FOUND; nothing written, their key works', async () => {
    const theirs = (await app.gql(createKey, { name: 'theirs', scopes: ['ADMIN'] }, rival.key)).data
      .createApiKey
    const mine = (await app.gql(createKey, { name: 'mine', scopes: ['ADMIN'] }, shop.key)).data.createApiKey
    await app.gql(revokeKey, { id: mine.apiKey.id }, shop.key)
    for (const id of [
      theirs.apiKey.id,
      theirs.apiKey.prefix,
      mine.apiKey.id,
      'key_00000000000000000000000000000000',
      '',
      'x'.repeat(10_000),
      'key_\u0000',
      "' or 1=1 --",
      '%',
      '../../etc/passwd',
    ]) {
      const res = await expectNothingWritten(() => app.gql(revokeKey, { id }, shop.key))
      expect(res.data.revokeApiKey).toMatchObject({ __typename: 'UserError', code: 'NOT_FOUND' })
    }
    expect((await app.gql('{ me { id } }', {}, theirs.key)).data.me.id).toBe(rival.id)
  })
})
