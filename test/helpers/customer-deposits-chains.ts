import { expect } from 'bun:test'
import { and, asc, eq, like } from 'drizzle-orm'
import { merchantAvailable } from '../../src/core/ledger/postings.ts'
import type { Db } from '../../src/db/client.ts'
import { depositEvents, deposits, ledgerPostings } from '../../src/db/schema/index.ts'

/** A GraphQL client bound to a merchant's key. */
export type Gql = (query: string, variables?: Record<string, unknown>) => Promise<any>

/** A customer address as the API returns it. */
export type CustomerAddressView = {
  id: string
  customerId: string
  chain: string
  asset: { symbol: string } | null
  mode: 'SINGLE' | 'COMMON' | 'CROSS'
  address: string
  networks: string[]
}

/** A deposit as the API returns it (amounts are decimal strings of its asset). */
export type DepositView = {
  id: string
  customerId: string
  chain: string
  asset: { symbol: string }
  amount: string
  credited: string
  belowMinimum: boolean
  wrongNetwork: boolean
  status: 'SEEN' | 'CONFIRMED' | 'HELD' | 'REJECTED' | 'REVERTED'
  address: string
  txHash: string
  index: number
  blockHeight: string | null
  confirmations: number
  confirmationsRequired: number
  screening: string | null
  confirmedAt: string | null
}

const addressFields = 'id customerId chain asset { symbol } mode address networks'
export const depositFields = `id customerId chain asset { symbol } amount credited belowMinimum wrongNetwork status address txHash
  index blockHeight confirmations confirmationsRequired screening confirmedAt`

/**
 * Asks for a customer's deposit address (`depositAddress`); fails the test on a UserError or a GraphQL error.
 *
 * @example
 * const alice = await depositAddressOf(gql, { customerId: 'alice', chain: 'regtest' })
 */
export async function depositAddressOf(
  gql: Gql,
  input: { customerId: string; chain: string; asset?: string },
): Promise<CustomerAddressView> {
  const res = await gql(
    `mutation ($input: DepositAddressInput!) { depositAddress(input: $input) {
      __typename ... on CustomerAddress { ${addressFields} } ... on UserError { code field message } } }`,
    { input },
  )
  expect(res.errors).toBeUndefined()
  expect(res.data.depositAddress.__typename).toBe('CustomerAddress')
  const { __typename: _, ...address } = res.data.depositAddress
  return address as CustomerAddressView
}

/**
 * Sets the address mode the merchant's new customers get (`setDepositSettings`).
 *
 * @example
 * await setAddressMode(gql, 'SINGLE')
 */
export async function setAddressMode(gql: Gql, mode: CustomerAddressView['mode']): Promise<void> {
  const res = await gql(
    `mutation ($input: SetDepositSettingsInput!) { setDepositSettings(input: $input) {
      __typename ... on DepositSettings { addressMode } ... on UserError { code message } } }`,
    { input: { addressMode: mode } },
  )
  expect(res.errors).toBeUndefined()
  expect(res.data.setDepositSettings).toEqual({ __typename: 'DepositSettings', addressMode: mode })
}

/** A customer as the API shows them (null when the merchant has none by that id). */
export async function customerOf(gql: Gql, id: string) {
  const res = await gql(
    `query ($id: String!) { customer(id: $id) {
      id addressMode addresses { ${addressFields} }
      deposits(first: 50) { edges { node { ${depositFields} } } }
      balance { chain asset { symbol } credited pending uncredited deposits } } }`,
    { id },
  )
  expect(res.errors).toBeUndefined()
  const customer = res.data.customer
  if (!customer) return null
  return {
    ...customer,
    deposits: customer.deposits.edges.map((e: { node: DepositView }) => e.node) as DepositView[],
  } as {
    id: string
    addressMode: string
    addresses: CustomerAddressView[]
    deposits: DepositView[]
    balance: Array<{
      chain: string
      asset: { symbol: string }
      credited: string
      pending: string
      uncredited: string
      deposits: number
    }>
  }
}

/**
 * A customer's deposits through `Query.deposits(customerId)`, oldest first (the API lists newest first).
 *
 * @example
 * const [first, second] = await depositsOf(gql, 'alice')
 */
export async function depositsOf(gql: Gql, customerId: string): Promise<DepositView[]> {
  const res = await gql(
    `query ($customerId: String!) { deposits(customerId: $customerId, first: 100) {
      edges { node { ${depositFields} } } pageInfo { hasNextPage } } }`,
    { customerId },
  )
  expect(res.errors).toBeUndefined()
  expect(res.data.deposits.pageInfo.hasNextPage).toBe(false)
  return (res.data.deposits.edges as Array<{ node: DepositView }>).map((e) => e.node).reverse()
}

/** One deposit through `Query.deposit(id)`. */
export async function depositOf(gql: Gql, id: string): Promise<DepositView | null> {
  const res = await gql(`query ($id: ID!) { deposit(id: $id) { ${depositFields} } }`, { id })
  expect(res.errors).toBeUndefined()
  return res.data.deposit
}

/**
 * The merchant's available balance of one asset of a chain, as a decimal string (`balances`).
 *
 * @example
 * expect(await availableOf(gql, 'regtest', 'BTC')).toBe('0.004')
 */
export async function availableOf(gql: Gql, chain: string, symbol: string): Promise<string> {
  const res = await gql('{ balances { chain asset { symbol } available } }')
  expect(res.errors).toBeUndefined()
  const line = res.data.balances.find(
    (b: { chain: string; asset: { symbol: string } }) => b.chain === chain && b.asset.symbol === symbol,
  )
  return line?.available ?? '0'
}

/** A deposit's postings to the merchant's balance, in the order they were written (base units). */
export async function creditPostings(db: Db, depositId: string): Promise<bigint[]> {
  const rows = await db
    .select({ amount: ledgerPostings.amount })
    .from(ledgerPostings)
    .where(
      and(
        eq(ledgerPostings.refType, 'deposit'),
        like(ledgerPostings.refId, `${depositId}#%`),
        eq(ledgerPostings.account, merchantAvailable),
      ),
    )
    .orderBy(asc(ledgerPostings.id))
  return rows.map((r) => r.amount)
}

/** A deposit's event types, in order. */
export async function depositEventTypes(db: Db, depositId: string): Promise<string[]> {
  const rows = await db
    .select({ type: depositEvents.type })
    .from(depositEvents)
    .where(eq(depositEvents.depositId, depositId))
    .orderBy(asc(depositEvents.seq))
  return rows.map((r) => r.type)
}

/** Every deposit of a chain as stored (status and where it is on chain), oldest first. */
export function storedDeposits(db: Db, chain: string) {
  return db
    .select({ txHash: deposits.txHash, index: deposits.index, status: deposits.status })
    .from(deposits)
    .where(eq(deposits.chain, chain))
    .orderBy(asc(deposits.createdAt), asc(deposits.id))
}
