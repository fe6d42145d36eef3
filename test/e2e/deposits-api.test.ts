import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chain, defineConfig } from '@tollgate/sdk'
import { count, eq } from 'drizzle-orm'
import { settleDeposits } from '../../src/core/deposits/lifecycle.ts'
import { newId } from '../../src/core/ids.ts'
import { recordCustomerDeposits } from '../../src/core/scanning/deposits.ts'
import {
  auditLog,
  chainCursors,
  customerAddresses,
  customers,
  kytChecks,
  merchants,
} from '../../src/db/schema/index.ts'
import { startServer } from '../../src/server.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// The customer deposit API over the real app: permanent addresses per mode, isolation between merchants, hostile
// input refused with nothing written, scopes, and deposits read back (queries and depositsUpdated) after the
// core wrote them as the scanner would.

/** Two EVM chains deriving the same addresses (one account path): CROSS addresses receive on both. */
const evmChain = (id: number, name: string) =>
  chain(
    () => import('../../src/plugins/evm/index.ts'),
    {
      chain: { id, name, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } },
      rpcUrls: ['http://127.0.0.1:1'],
      tokens: [{ symbol: 'USDT', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6 }],
      confirmations: 3,
      timeoutMs: 1000,
      headPollMs: 100,
    },
    { startHeight: 0, scanIntervalMs: 500 },
  )

let app: TestApp
let server: ReturnType<typeof Bun.serve>

beforeAll(async () => {
  app = await createTestApp({
    config: defineConfig({
      chains: { devnet: evmChain(31337, 'Anvil'), devnet2: evmChain(31338, 'Anvil 2') },
    }),
  })
  server = startServer(app.ctx, { port: 0, hostname: '127.0.0.1' })
}, 60_000)
afterAll(async () => {
  server?.stop(true)
  await app?.close()
})

const addressMutation = /* GraphQL */ `
  mutation ($input: DepositAddressInput!) {
    depositAddress(input: $input) {
      __typename
      ... on CustomerAddress { id customerId chain asset { symbol } mode address networks createdAt }
      ... on UserError { code field message }
    }
  }
`

const settingsMutation = /* GraphQL */ `
  mutation ($input: SetDepositSettingsInput!) {
    setDepositSettings(input: $input) {
      __typename
      ... on DepositSettings { addressMode minimums { chain asset { symbol } amount } }
      ... on UserError { code field message }
    }
  }
`

const settingsQuery = '{ depositSettings { addressMode minimums { chain asset { symbol } amount } } }'

const customerQuery = /* GraphQL */ `
  query ($id: String!) {
    customer(id: $id) {
      id
      addressMode
      createdAt
      addresses { id customerId chain asset { symbol } mode address networks }
      deposits { edges { node { id status } } pageInfo { hasNextPage } }
      balance { chain asset { symbol } credited pending uncredited deposits }
    }
  }
`

const depositFields =
  'id customerId chain asset { symbol } amount credited belowMinimum status address txHash index blockHeight confirmations confirmationsRequired screening createdAt updatedAt confirmedAt'

type Merchant = { id: string; key: string }

const address = (input: Record<string, unknown>, key: string | null) =>
  app.gql(addressMutation, { input }, key)

/** The CustomerAddress a depositAddress call answered (fails on anything else). */
async function addressOf(input: Record<string, unknown>, key: string) {
  const res = await address(input, key)
  expect(res.errors).toBeUndefined()
  expect(res.data.depositAddress.__typename).toBe('CustomerAddress')
  return res.data.depositAddress
}

async function setMode(mode: string, key: string) {
  const res = await app.gql(settingsMutation, { input: { addressMode: mode } }, key)
  expect(res.data.setDepositSettings).toMatchObject({ __typename: 'DepositSettings', addressMode: mode })
}

/** A new key of `merchant` with `scopes`, made through the API by its admin key. */
async function keyWith(merchant: Merchant, scopes: string[]): Promise<string> {
  const res = await app.gql(
    `mutation ($name: String!, $scopes: [ApiKeyScope!]!) {
      createApiKey(name: $name, scopes: $scopes) { ... on ApiKeyCreated { key } } }`,
    { name: scopes.join('+'), scopes },
    merchant.key,
  )
  return res.data.createApiKey.key
}

type WriteCounts = { customers: number; customerAddresses: number; allocatedAddresses: number }

async function writeCounts(): Promise<WriteCounts> {
  const [c] = await app.ctx.db.select({ n: count() }).from(customers)
  const [a] = await app.ctx.db.select({ n: count() }).from(customerAddresses)
  // derived minus still offered: a pool refill adds to both (one statement, so one snapshot)
  const [p] = await app.ctx.query<{ n: string }>(
    'select (select count(*) from addresses) - (select count(*) from address_pool) as n',
    [],
  )
  return { customers: c!.n, customerAddresses: a!.n, allocatedAddresses: Number(p!.n) }
}

/** A depositAddress refused as a typed UserError (not a top-level error), with nothing written. */
async function expectAddressRefused(
  input: Record<string, unknown>,
  key: string,
  code: string,
  field: string,
) {
  const before = await writeCounts()
  const res = await address(input, key)
  expect(await writeCounts()).toEqual(before)
  expect(res.errors).toBeUndefined()
  expect(res.data.depositAddress).toMatchObject({ __typename: 'UserError', code, field })
  expect(res.data.depositAddress.message.length).toBeGreaterThan(0)
}

/** The code of a top-level error of a response refused before any data. */
function topLevelCode(res: any): string {
  expect(Array.isArray(res.errors)).toBe(true)
  expect(res.data?.[Object.keys(res.data ?? {})[0] ?? ''] ?? null).toBeNull()
  return String(res.errors[0].extensions?.code)
}

/** The message of a request refused by GraphQL validation (no data, nothing run). */
function validationError(res: any): string {
  expect(Array.isArray(res.errors)).toBe(true)
  expect(res.data ?? null).toBeNull()
  return res.errors.map((e: { message: string }) => e.message).join('\n')
}

const devnet = () => app.ctx.chains.get('devnet')!
const randomHex = (bytes: number) =>
  `0x${[...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')}`

/** The chain's scanned tip as the scanner would store it (deposits' depth and admin decisions read it). */
async function setTip(height: bigint) {
  await app.ctx.db
    .insert(chainCursors)
    .values({ chain: 'devnet', height, hash: randomHex(32) })
    .onConflictDoUpdate({ target: chainCursors.chain, set: { height } })
}

/**
 * A transfer of `amount` wei into the customer's devnet address, stored as the scanner stores it: a SEEN deposit
 * in block 10 (3 confirmations required), held by screening with `held`. Answers its id and the changes made.
 */
async function seenDeposit(merchant: Merchant, customerId: string, amount: bigint, held = false) {
  const given = await addressOf({ customerId, chain: 'devnet' }, merchant.key)
  const [row] = await app.ctx.db.select().from(customerAddresses).where(eq(customerAddresses.id, given.id))
  const transfer = {
    txHash: randomHex(32),
    index: -1,
    block: { height: 10n, hash: randomHex(32), parentHash: randomHex(32), time: 0 },
    asset: devnet().driver.nativeAsset.id,
    to: row!.addressKey,
    amount,
  }
  const changes = await app.ctx.db.transaction((tx) =>
    recordCustomerDeposits(tx, devnet(), [{ transfer, address: row!, wrongNetwork: false }], 10n),
  )
  expect(changes.map((c) => c.status)).toEqual(['SEEN'])
  const change = changes[0]!
  if (held) {
    const [deposit] = await app.ctx.query<{ transfer_id: string }>(
      'select transfer_id from deposits where id = $1',
      [change.depositId],
    )
    await app.ctx.db.insert(kytChecks).values({
      id: newId('kyc'),
      merchantId: merchant.id,
      subjectType: 'transfer',
      subjectId: deposit!.transfer_id,
      chain: 'devnet',
      direction: 'inbound',
      addresses: [],
      asset: transfer.asset,
      amount,
      state: 'held',
      reason: 'KYT_REVIEW',
    })
  }
  return change
}

/** Settles devnet's open deposits at block 12 (3 confirmations for block 10), as a scan range would. */
async function settleAtTwelve() {
  await setTip(12n)
  return app.ctx.db.transaction((tx) => settleDeposits(tx, devnet(), 12n))
}

describe('depositAddress', () => {
  test('default: a new merchant is COMMON; one address per customer and chain, the same on every call and for every asset', async () => {
    const shop = await app.merchant('Common shop')
    expect((await app.gql(settingsQuery, {}, shop.key)).data.depositSettings).toEqual({
      addressMode: 'COMMON',
      minimums: [],
    })
    const first = await addressOf({ customerId: 'user-1', chain: 'devnet' }, shop.key)
    expect(first).toMatchObject({
      customerId: 'user-1',
      chain: 'devnet',
      asset: null,
      mode: 'COMMON',
      networks: ['devnet'],
    })
    expect(first.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(await addressOf({ customerId: 'user-1', chain: 'devnet' }, shop.key)).toEqual(first)
    expect(await addressOf({ customerId: 'user-1', chain: 'devnet', asset: 'USDT' }, shop.key)).toEqual(first)
    // the other chain is another slot: its own address (COMMON is per chain)
    const other = await addressOf({ customerId: 'user-1', chain: 'devnet2' }, shop.key)
    expect(other).toMatchObject({ chain: 'devnet2', mode: 'COMMON', networks: ['devnet2'] })
    expect(other.address).not.toBe(first.address)
    // ids are compared exactly: a trailing space is another customer
    const spaced = await addressOf({ customerId: 'user-1 ', chain: 'devnet' }, shop.key)
    expect(spaced.address).not.toBe(first.address)
  })

  test('behavior: five concurrent first calls for one customer create one customer and one address', async () => {
    const shop = await app.merchant('Concurrent shop')
    const before = await writeCounts()
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => addressOf({ customerId: 'racer', chain: 'devnet' }, shop.key)),
    )
    expect(new Set(answers.map((a) => a.address)).size).toBe(1)
    expect(new Set(answers.map((a) => a.id)).size).toBe(1)
    expect(await writeCounts()).toEqual({
      customers: before.customers + 1,
      customerAddresses: before.customerAddresses + 1,
      allocatedAddresses: before.allocatedAddresses + 1,
    })
  })

  test('behavior: SINGLE gives one address per asset (native by default) to new customers; an existing customer keeps its mode and address', async () => {
    const shop = await app.merchant('Single shop')
    const old = await addressOf({ customerId: 'old', chain: 'devnet' }, shop.key)
    await setMode('SINGLE', shop.key)
    const native = await addressOf({ customerId: 'new', chain: 'devnet' }, shop.key)
    expect(native).toMatchObject({ mode: 'SINGLE', asset: { symbol: 'ETH' }, networks: ['devnet'] })
    expect(await addressOf({ customerId: 'new', chain: 'devnet', asset: 'ETH' }, shop.key)).toEqual(native)
    const token = await addressOf({ customerId: 'new', chain: 'devnet', asset: 'USDT' }, shop.key)
    expect(token).toMatchObject({ mode: 'SINGLE', asset: { symbol: 'USDT' } })
    expect(token.address).not.toBe(native.address)
    expect(await addressOf({ customerId: 'new', chain: 'devnet', asset: 'USDT' }, shop.key)).toEqual(token)
    // the customer created under COMMON stays COMMON, whatever asset it asks for
    expect(await addressOf({ customerId: 'old', chain: 'devnet', asset: 'USDT' }, shop.key)).toEqual(old)
    const customer = (await app.gql(customerQuery, { id: 'old' }, shop.key)).data.customer
    expect(customer.addressMode).toBe('COMMON')
    expect(customer.addresses.map((a: { address: string }) => a.address)).toEqual([old.address])
    const single = (await app.gql(customerQuery, { id: 'new' }, shop.key)).data.customer
    expect(single.addressMode).toBe('SINGLE')
    expect(single.addresses.map((a: { asset: { symbol: string } }) => a.asset.symbol)).toEqual([
      'ETH',
      'USDT',
    ])
  })

  test('behavior: CROSS gives one address for the chain and every chain deriving the same addresses, listed in networks', async () => {
    const shop = await app.merchant('Cross shop')
    await setMode('CROSS', shop.key)
    const onDevnet = await addressOf({ customerId: 'wanderer', chain: 'devnet' }, shop.key)
    expect(onDevnet).toMatchObject({ mode: 'CROSS', asset: null, networks: ['devnet', 'devnet2'] })
    const onDevnet2 = await addressOf({ customerId: 'wanderer', chain: 'devnet2', asset: 'USDT' }, shop.key)
    expect(onDevnet2).toMatchObject({ chain: 'devnet2', address: onDevnet.address })
    expect(onDevnet2.networks).toEqual(['devnet', 'devnet2'])
    const customer = (await app.gql(customerQuery, { id: 'wanderer' }, shop.key)).data.customer
    expect(customer.addressMode).toBe('CROSS')
    expect(
      customer.addresses.map((a: { chain: string; address: string; networks: string[] }) => [
        a.chain,
        a.address,
        a.networks,
      ]),
    ).toEqual([
      ['devnet', onDevnet.address, ['devnet', 'devnet2']],
      ['devnet2', onDevnet.address, ['devnet', 'devnet2']],
    ])
  })

  test('behavior: the same customer id at two merchants is two customers with two addresses; neither sees the other’s', async () => {
    const a = await app.merchant('Shop A')
    const b = await app.merchant('Shop B')
    const ofA = await addressOf({ customerId: 'shared-id', chain: 'devnet' }, a.key)
    const ofB = await addressOf({ customerId: 'shared-id', chain: 'devnet' }, b.key)
    expect(ofA.address).not.toBe(ofB.address)
    expect(ofA.id).not.toBe(ofB.id)
    expect(
      (await app.gql(customerQuery, { id: 'shared-id' }, b.key)).data.customer.addresses.map(
        (x: { address: string }) => x.address,
      ),
    ).toEqual([ofB.address])
    await addressOf({ customerId: 'only-at-a', chain: 'devnet' }, a.key)
    const seenByB = await app.gql(customerQuery, { id: 'only-at-a' }, b.key)
    expect(seenByB.errors).toBeUndefined()
    expect(seenByB.data.customer).toBeNull()
    // a deposit of A's customer: not B's to read, list or decide
    const { depositId } = await seenDeposit(a, 'only-at-a', 10n ** 15n)
    const read = `query ($id: ID!) { deposit(id: $id) { id } }`
    expect((await app.gql(read, { id: depositId }, a.key)).data.deposit).toEqual({ id: depositId })
    expect((await app.gql(read, { id: depositId }, b.key)).data.deposit).toBeNull()
    const listed = await app.gql('{ deposits { edges { node { id } } } }', {}, b.key)
    expect(listed.data.deposits.edges).toEqual([])
    const byCustomer = await app.gql(
      'query ($c: String) { deposits(customerId: $c) { edges { node { id } } } }',
      { c: 'only-at-a' },
      b.key,
    )
    expect(byCustomer.data.deposits.edges).toEqual([])
    const released = await app.gql(
      'mutation ($id: ID!) { releaseDeposit(id: $id, note: "mine") { __typename ... on UserError { code } } }',
      { id: depositId },
      b.key,
    )
    expect(released.data.releaseDeposit).toEqual({ __typename: 'UserError', code: 'NOT_FOUND' })
  })

  test('error: hostile input is a typed UserError and writes nothing', async () => {
    const shop = await app.merchant('Hostile shop')
    // the pool exists, so a refusal that slipped through would find an address to take
    await addressOf({ customerId: 'warm-up', chain: 'devnet' }, shop.key)
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ customerId: 'u', chain: 'nochain' }, 'UNKNOWN_CHAIN', 'chain'],
      [{ customerId: 'u', chain: '' }, 'UNKNOWN_CHAIN', 'chain'],
      [{ customerId: 'u', chain: 'devnet', asset: 'DOGE' }, 'UNKNOWN_ASSET', 'asset'],
      [{ customerId: 'u', chain: 'devnet', asset: '' }, 'UNKNOWN_ASSET', 'asset'],
      [{ customerId: 'x'.repeat(10_240), chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
      [{ customerId: 'x'.repeat(257), chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
      [{ customerId: '', chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
      [{ customerId: 'user\u0000', chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
      [{ customerId: 'user\nnext', chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
      [{ customerId: 'user\u202egnp.exe', chain: 'devnet' }, 'INVALID_INPUT', 'customerId'],
    ]
    for (const [input, code, field] of cases) await expectAddressRefused(input, shop.key, code, field)
    // the longest id allowed is taken
    const longest = await addressOf({ customerId: 'y'.repeat(256), chain: 'devnet' }, shop.key)
    expect(longest.customerId).toBe('y'.repeat(256))
    // a missing required field never reaches the resolver
    const before = await writeCounts()
    expect(validationError(await address({ chain: 'devnet' }, shop.key))).toContain('customerId')
    expect(await writeCounts()).toEqual(before)
  })
})

describe('setDepositSettings', () => {
  test('default: sets the mode and the minimums, read back in whole units by chain and symbol', async () => {
    const shop = await app.merchant('Settings shop')
    const res = await app.gql(
      settingsMutation,
      {
        input: {
          addressMode: 'SINGLE',
          minimums: [
            { chain: 'devnet', asset: 'USDT', amount: '5' },
            { chain: 'devnet', asset: 'ETH', amount: '0.001' },
            { chain: 'devnet2', asset: 'USDT', amount: '0.000001' },
          ],
        },
      },
      shop.key,
    )
    const expected = {
      addressMode: 'SINGLE',
      minimums: [
        { chain: 'devnet', asset: { symbol: 'ETH' }, amount: '0.001' },
        { chain: 'devnet', asset: { symbol: 'USDT' }, amount: '5' },
        { chain: 'devnet2', asset: { symbol: 'USDT' }, amount: '0.000001' },
      ],
    }
    expect(res.data.setDepositSettings).toEqual({ __typename: 'DepositSettings', ...expected })
    expect((await app.gql(settingsQuery, {}, shop.key)).data.depositSettings).toEqual(expected)
    // the mode alone leaves the minimums; an empty list clears them
    await setMode('CROSS', shop.key)
    expect((await app.gql(settingsQuery, {}, shop.key)).data.depositSettings.minimums).toEqual(
      expected.minimums,
    )
    const cleared = await app.gql(settingsMutation, { input: { minimums: [] } }, shop.key)
    expect(cleared.data.setDepositSettings).toEqual({
      __typename: 'DepositSettings',
      addressMode: 'CROSS',
      minimums: [],
    })
  })

  test('error: hostile settings are refused, typed, with nothing changed or audited', async () => {
    const shop = await app.merchant('Hostile settings shop')
    const valid = { chain: 'devnet', asset: 'USDT', amount: '5' }
    await app.gql(settingsMutation, { input: { addressMode: 'SINGLE', minimums: [valid] } }, shop.key)
    const stored = async () => {
      const [row] = await app.ctx.db
        .select({ mode: merchants.depositAddressMode, minimums: merchants.depositMinimums })
        .from(merchants)
        .where(eq(merchants.id, shop.id))
      const [audited] = await app.ctx.db
        .select({ n: count() })
        .from(auditLog)
        .where(eq(auditLog.merchantId, shop.id))
      return { ...row, audited: audited!.n }
    }
    const before = await stored()
    const minimum = (m: Record<string, string>) => ({ addressMode: 'CROSS', minimums: [valid, m] })
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '-1' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '0' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '0.000' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: 'lots' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '1e5' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'USDT', amount: '0.0000001' }), 'INVALID_AMOUNT', 'amount'],
      [minimum({ chain: 'devnet', asset: 'ETH', amount: '1'.repeat(101) }), 'INVALID_INPUT', 'amount'],
      [minimum({ chain: 'nochain', asset: 'ETH', amount: '1' }), 'UNKNOWN_CHAIN', 'chain'],
      [minimum({ chain: 'devnet', asset: 'DOGE', amount: '1' }), 'UNKNOWN_ASSET', 'asset'],
      // the same asset twice, by symbol and by CAIP-19 id
      [minimum({ chain: 'devnet', asset: devnetAssetId('USDT'), amount: '6' }), 'INVALID_INPUT', 'minimums'],
      [{ minimums: Array.from({ length: 501 }, () => valid) }, 'INVALID_INPUT', 'minimums'],
    ]
    for (const [input, code, field] of cases) {
      const res = await app.gql(settingsMutation, { input }, shop.key)
      expect(res.errors).toBeUndefined()
      expect(res.data.setDepositSettings).toMatchObject({ __typename: 'UserError', code, field })
      expect(await stored()).toEqual(before)
    }
    // a mode that is not one is refused by validation, before anything runs
    const badMode = await app.gql(settingsMutation, { input: { addressMode: 'EVERYWHERE' } }, shop.key)
    expect(validationError(badMode)).toContain('AddressMode')
    const lowercase = await app.gql(settingsMutation, { input: { addressMode: 'cross' } }, shop.key)
    expect(validationError(lowercase)).toContain('AddressMode')
    expect(await stored()).toEqual(before)
  })
})

function devnetAssetId(symbol: string): string {
  return devnet().driver.assets.find((a) => a.symbol === symbol)!.id
}

describe('scopes', () => {
  test('error: payments:read cannot ask for an address; only admin sets settings and decides deposits', async () => {
    const shop = await app.merchant('Scoped shop')
    const reader = await keyWith(shop, ['PAYMENTS_READ'])
    const writer = await keyWith(shop, ['PAYMENTS_WRITE'])
    const before = await writeCounts()
    expect(topLevelCode(await address({ customerId: 'c', chain: 'devnet' }, reader))).toBe('FORBIDDEN')
    expect(topLevelCode(await address({ customerId: 'c', chain: 'devnet' }, null))).toBe('UNAUTHENTICATED')
    expect(await writeCounts()).toEqual(before)
    // payments:write may
    expect((await addressOf({ customerId: 'c', chain: 'devnet' }, writer)).customerId).toBe('c')
    for (const key of [reader, writer]) {
      expect(topLevelCode(await app.gql(settingsMutation, { input: { addressMode: 'CROSS' } }, key))).toBe(
        'FORBIDDEN',
      )
      for (const name of ['releaseDeposit', 'rejectDeposit'])
        expect(
          topLevelCode(
            await app.gql(
              `mutation { ${name}(id: "dep_00000000000000000000000000000000", note: "n") { __typename } }`,
              {},
              key,
            ),
          ),
        ).toBe('FORBIDDEN')
    }
    expect((await app.gql(settingsQuery, {}, shop.key)).data.depositSettings.addressMode).toBe('COMMON')
    // reads need payments:read
    const customer = await app.gql(customerQuery, { id: 'c' }, reader)
    expect(customer.data.customer.id).toBe('c')
    expect((await app.gql(settingsQuery, {}, reader)).data.depositSettings.addressMode).toBe('COMMON')
    expect(topLevelCode(await app.gql(customerQuery, { id: 'c' }, null))).toBe('UNAUTHENTICATED')
    expect(topLevelCode(await app.gql('{ deposits { edges { cursor } } }', {}, null))).toBe('UNAUTHENTICATED')
  })
})

describe('customer and deposits', () => {
  test('default: a customer shows its addresses, no deposits and no balance at first; unknown or impossible ids are null', async () => {
    const shop = await app.merchant('Fresh shop')
    const given = await addressOf({ customerId: 'fresh', chain: 'devnet' }, shop.key)
    const res = await app.gql(customerQuery, { id: 'fresh' }, shop.key)
    expect(res.errors).toBeUndefined()
    expect(res.data.customer).toMatchObject({
      id: 'fresh',
      addressMode: 'COMMON',
      addresses: [
        {
          id: given.id,
          customerId: 'fresh',
          chain: 'devnet',
          asset: null,
          mode: 'COMMON',
          address: given.address,
          networks: ['devnet'],
        },
      ],
      deposits: { edges: [], pageInfo: { hasNextPage: false } },
      balance: [],
    })
    for (const id of ['nobody', '', 'x'.repeat(10_240), 'a\u0000b']) {
      const missing = await app.gql(customerQuery, { id }, shop.key)
      expect(missing.errors).toBeUndefined()
      expect(missing.data.customer).toBeNull()
    }
    expect((await app.gql('{ deposit(id: "dep_nope") { id } }', {}, shop.key)).data.deposit).toBeNull()
  })

  test('behavior: deposits read back with their customer, depth, credit and balance; pages, filters; a deposit not held cannot be released', async () => {
    const shop = await app.merchant('Deposit shop')
    const first = await seenDeposit(shop, 'payer', 1_500_000_000_000_000_000n)
    const seen = await app.gql(
      `query ($id: ID!) { deposit(id: $id) { ${depositFields} } }`,
      {
        id: first.depositId,
      },
      shop.key,
    )
    expect(seen.data.deposit).toMatchObject({
      id: first.depositId,
      customerId: 'payer',
      chain: 'devnet',
      asset: { symbol: 'ETH' },
      amount: '1.5',
      credited: '0',
      belowMinimum: false,
      status: 'SEEN',
      index: -1,
      blockHeight: '10',
      confirmationsRequired: 3,
      screening: null,
      confirmedAt: null,
    })
    const pending = (await app.gql(customerQuery, { id: 'payer' }, shop.key)).data.customer
    expect(pending.balance).toEqual([
      {
        chain: 'devnet',
        asset: { symbol: 'ETH' },
        credited: '0',
        pending: '1.5',
        uncredited: '0',
        deposits: 1,
      },
    ])
    expect(pending.deposits.edges).toEqual([{ node: { id: first.depositId, status: 'SEEN' } }])

    await settleAtTwelve()
    const second = await seenDeposit(shop, 'payer', 250_000_000_000_000_000n)
    const confirmed = await app.gql(
      `query ($id: ID!) { deposit(id: $id) { ${depositFields} } }`,
      {
        id: first.depositId,
      },
      shop.key,
    )
    expect(confirmed.data.deposit).toMatchObject({
      status: 'CONFIRMED',
      credited: '1.5',
      confirmations: 3,
      confirmationsRequired: 3,
    })
    expect(typeof confirmed.data.deposit.confirmedAt).toBe('string')
    const customer = (await app.gql(customerQuery, { id: 'payer' }, shop.key)).data.customer
    expect(customer.balance).toEqual([
      {
        chain: 'devnet',
        asset: { symbol: 'ETH' },
        credited: '1.5',
        pending: '0.25',
        uncredited: '0',
        deposits: 2,
      },
    ])
    expect(customer.addresses[0].address).toBe(confirmed.data.deposit.address)
    // newest first, a page at a time
    const page = `query ($first: Int, $after: String, $status: DepositStatus, $customerId: String) {
      deposits(first: $first, after: $after, status: $status, customerId: $customerId) {
        edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`
    const one = (await app.gql(page, { first: 1 }, shop.key)).data.deposits
    expect(one.edges.map((e: any) => e.node.id)).toEqual([second.depositId])
    expect(one.pageInfo.hasNextPage).toBe(true)
    const two = (await app.gql(page, { first: 1, after: one.pageInfo.endCursor }, shop.key)).data.deposits
    expect(two.edges.map((e: any) => e.node.id)).toEqual([first.depositId])
    expect(two.pageInfo.hasNextPage).toBe(false)
    const byStatus = (await app.gql(page, { status: 'CONFIRMED' }, shop.key)).data.deposits
    expect(byStatus.edges.map((e: any) => e.node.id)).toEqual([first.depositId])
    const byCustomer = (await app.gql(page, { customerId: 'nobody' }, shop.key)).data.deposits
    expect(byCustomer.edges).toEqual([])
    const customerPage = await app.gql(
      `query { customer(id: "payer") { deposits(first: 1, status: SEEN) { edges { node { id } } } } }`,
      {},
      shop.key,
    )
    expect(customerPage.data.customer.deposits.edges).toEqual([{ node: { id: second.depositId } }])
    const badCursor = await app.gql(page, { after: 'not-a-cursor' }, shop.key)
    expect(badCursor.errors[0].extensions.code).toBe('INVALID_INPUT')

    const release = await app.gql(
      'mutation ($id: ID!) { releaseDeposit(id: $id, note: "looks fine") { __typename ... on UserError { code field } } }',
      { id: first.depositId },
      shop.key,
    )
    expect(release.data.releaseDeposit).toEqual({
      __typename: 'UserError',
      code: 'INVALID_STATE',
      field: 'id',
    })
    const noNote = await app.gql(
      'mutation ($id: ID!) { rejectDeposit(id: $id, note: "") { __typename ... on UserError { code field } } }',
      { id: first.depositId },
      shop.key,
    )
    expect(noNote.data.rejectDeposit).toEqual({
      __typename: 'UserError',
      code: 'INVALID_INPUT',
      field: 'note',
    })
    const unknown = await app.gql(
      'mutation ($id: ID!) { rejectDeposit(id: $id, note: "n") { __typename ... on UserError { code } } }',
      { id: 'x'.repeat(10_240) },
      shop.key,
    )
    expect(unknown.data.rejectDeposit).toEqual({ __typename: 'UserError', code: 'NOT_FOUND' })
  })

  test('behavior: a held deposit is credited when an admin releases it and never when one rejects it', async () => {
    const shop = await app.merchant('Review shop')
    const kept = await seenDeposit(shop, 'reviewed', 2n * 10n ** 18n, true)
    const refused = await seenDeposit(shop, 'reviewed', 3n * 10n ** 18n, true)
    await settleAtTwelve()
    const decide = (name: string, id: string) =>
      app.gql(
        `mutation ($id: ID!) { ${name}(id: $id, note: "checked the sender") { __typename ... on Deposit { status credited screening } ... on UserError { code } } }`,
        { id },
        shop.key,
      )
    const status = `query ($id: ID!) { deposit(id: $id) { status screening } }`
    expect((await app.gql(status, { id: kept.depositId }, shop.key)).data.deposit).toEqual({
      status: 'HELD',
      screening: 'held',
    })
    expect((await decide('releaseDeposit', kept.depositId)).data.releaseDeposit).toEqual({
      __typename: 'Deposit',
      status: 'CONFIRMED',
      credited: '2',
      screening: 'released',
    })
    expect((await decide('rejectDeposit', refused.depositId)).data.rejectDeposit).toEqual({
      __typename: 'Deposit',
      status: 'REJECTED',
      credited: '0',
      screening: 'rejected',
    })
    // decided once
    expect((await decide('rejectDeposit', kept.depositId)).data.rejectDeposit).toEqual({
      __typename: 'UserError',
      code: 'INVALID_STATE',
    })
    const customer = (await app.gql(customerQuery, { id: 'reviewed' }, shop.key)).data.customer
    expect(customer.balance).toEqual([
      {
        chain: 'devnet',
        asset: { symbol: 'ETH' },
        credited: '2',
        pending: '0',
        uncredited: '3',
        deposits: 2,
      },
    ])
  })
})

describe('depositsUpdated', () => {
  const wsUrl = () => `ws://127.0.0.1:${server.port}/graphql`
  const httpUrl = () => `http://127.0.0.1:${server.port}/graphql`
  const subscription = `subscription ($customerId: String) { depositsUpdated(customerId: $customerId) { ${depositFields} } }`

  /** Every deposit a stream was sent, as [id, status], in order. */
  const sent = (stream: LiveStream) =>
    stream.data().map((d) => [d.depositsUpdated.id, d.depositsUpdated.status] as [string, string])

  /** Signals `change` again (as the worker would) until every stream was sent its deposit `times` times. */
  async function untilSent(
    streams: LiveStream[],
    change: { depositId: string; merchantId: string; customerId: string },
    times = 1,
  ) {
    await waitFor('the streams to be sent the deposit', async () => {
      app.ctx.bus.publishDeposits([{ ...change, status: 'SEEN', type: 'deposit.seen' }])
      await Bun.sleep(50)
      return streams.every((s) => sent(s).filter(([id]) => id === change.depositId).length >= times)
    })
  }

  test('behavior: every change of the merchant’s deposits reaches graphql-ws and SSE subscribers, read from the database; customerId keeps one customer’s; another merchant hears none', async () => {
    const shop = await app.merchant('Live shop')
    const rival = await app.merchant('Live rival')
    const reader = await keyWith(shop, ['PAYMENTS_READ'])
    const mine = await seenDeposit(shop, 'watched', 10n ** 18n, true)
    const theirs = await seenDeposit(shop, 'other', 2n * 10n ** 18n)
    const rivals = await seenDeposit(rival, 'watched', 5n * 10n ** 18n)
    const socket = openSocket(wsUrl(), `Bearer ${reader}`)
    const rivalSocket = openSocket(wsUrl(), `Bearer ${rival.key}`)
    await Promise.all([socket.ready, rivalSocket.ready])
    const all = socket.subscribe(subscription)
    const one = socket.subscribe(subscription, { customerId: 'watched' })
    const allSse = openSse(httpUrl(), subscription, {}, reader)
    const oneSse = openSse(httpUrl(), subscription, { customerId: 'watched' }, reader)
    const rivalAll = rivalSocket.subscribe(subscription)
    try {
      await untilSent([all, one, allSse, oneSse], mine)
      await untilSent([rivalAll], rivals)
      // nothing before the first signal, then the deposit as stored
      expect(all.data()[0].depositsUpdated).toMatchObject({
        id: mine.depositId,
        customerId: 'watched',
        status: 'SEEN',
        amount: '1',
        chain: 'devnet',
      })

      // the scan range that confirms them, published once committed
      app.ctx.bus.publishDeposits(await settleAtTwelve())
      await waitFor('both deposits’ new states on the merchant streams', () =>
        [all, allSse].every(
          (s) =>
            sent(s).some(([id, st]) => id === mine.depositId && st === 'HELD') &&
            sent(s).some(([id, st]) => id === theirs.depositId && st === 'CONFIRMED'),
        ),
      )
      // the admin's release is published by the mutation
      const released = await app.gql(
        'mutation ($id: ID!) { releaseDeposit(id: $id, note: "verified") { __typename } }',
        { id: mine.depositId },
        shop.key,
      )
      expect(released.data.releaseDeposit.__typename).toBe('Deposit')
      await waitFor('the release on every stream of the shop', () =>
        [all, allSse, one, oneSse].every((s) => sent(s).at(-1)?.[1] === 'CONFIRMED'),
      )
      const last = one.data().at(-1).depositsUpdated
      expect(last).toMatchObject({
        id: mine.depositId,
        status: 'CONFIRMED',
        credited: '1',
        screening: 'released',
      })

      // signals arrive in order: once a later one was sent, every earlier one was read
      await untilSent([one, oneSse], mine, sent(one).length + 1)
      await untilSent([rivalAll], rivals, 2)
      for (const s of [one, oneSse]) expect(sent(s).every(([id]) => id === mine.depositId)).toBe(true)
      expect(sent(one).map(([, st]) => st)).toContain('HELD')
      expect(sent(rivalAll).every(([id]) => id === rivals.depositId)).toBe(true)
      for (const s of [all, allSse, one, oneSse, rivalAll]) expect(s.errorCodes()).toEqual([])
    } finally {
      socket.close()
      rivalSocket.close()
      allSse.close()
      oneSse.close()
    }
  })

  test('error: a customerId no customer can have and a key without payments:read are refused before the stream starts', async () => {
    const shop = await app.merchant('Refusing shop')
    const writer = await keyWith(shop, ['WEBHOOKS_WRITE'])
    const socket = openSocket(wsUrl(), `Bearer ${shop.key}`)
    const writerSocket = openSocket(wsUrl(), `Bearer ${writer}`)
    await Promise.all([socket.ready, writerSocket.ready])
    try {
      const bad = socket.subscribe(subscription, { customerId: 'x'.repeat(10_240) })
      const forbidden = writerSocket.subscribe(subscription)
      const sse = openSse(httpUrl(), subscription, { customerId: '' }, shop.key)
      await Promise.all([bad.untilEnded(), forbidden.untilEnded(), sse.untilEnded()])
      expect(bad.errorCodes()).toEqual(['INVALID_INPUT'])
      expect(sse.errorCodes()).toEqual(['INVALID_INPUT'])
      expect(forbidden.errorCodes()).toEqual(['FORBIDDEN'])
    } finally {
      socket.close()
      writerSocket.close()
    }
  })
})
