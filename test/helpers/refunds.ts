import { expect } from 'bun:test'
import type postgres from 'postgres'
import { spawnCli, waitFor } from './processes.ts'

/** A GraphQL client holding a merchant's API key (`SplitGateway.gql`). */
export type Gql = (query: string, variables?: Record<string, unknown>) => Promise<any>

export type PaymentView = {
  id: string
  address: string
  status: string
  resolution: string | null
  exception: string | null
  amountConfirmed: string
  refundable: { uncredited: string; credited: string; overpaid: string }
}

export type RefundView = {
  id: string
  status: string
  amount: string
  amountSent: string | null
  source: string
  feePaidBy: string
  to: string | null
  failureReason: string | null
  payment: { id: string }
  withdrawal: { id: string; status: string; txHash: string | null; networkFee: string | null } | null
}

const paymentFields =
  'id address status resolution exception amountConfirmed refundable { uncredited credited overpaid }'
const refundFields = `id status amount amountSent source feePaidBy to failureReason payment { id }
  withdrawal { id status txHash networkFee }`

/**
 * Creates a payment of `amount` (whole units) through the API.
 *
 * @example
 * const p = await createPayment(gql, 'regtest', 'BTC', '0.5')
 */
export async function createPayment(gql: Gql, chain: string, asset: string, amount: string) {
  const res = await gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } ... on UserError { code message } } }`,
    { input: { chain, asset, amount } },
  )
  const payment = res.data?.createPayment?.payment as { id: string; address: string } | undefined
  if (!payment) throw new Error(`createPayment: ${JSON.stringify(res)}`)
  return payment
}

/** A payment as the API shows it, with what it may still refund. */
export async function paymentOf(gql: Gql, id: string): Promise<PaymentView> {
  const res = await gql(`query ($id: ID!) { payment(id: $id) { ${paymentFields} } }`, { id })
  if (!res.data?.payment) throw new Error(`payment ${id}: ${JSON.stringify(res)}`)
  return res.data.payment
}

/** Polls the payment until `done` holds; returns it. */
export function waitPayment(
  gql: Gql,
  id: string,
  what: string,
  done: (p: PaymentView) => boolean,
  timeoutMs = 30_000,
): Promise<PaymentView> {
  return waitFor(
    `payment ${what}`,
    async () => {
      const p = await paymentOf(gql, id)
      return done(p) ? p : undefined
    },
    timeoutMs,
  )
}

/**
 * Moves a payment's deadline into the past (the clock jumping past it, without waiting the minimum minute):
 * the worker's expiry job, which reads the deadline from the database, then ends it as it would at its deadline.
 */
export async function passDeadline(sql: postgres.Sql, paymentId: string): Promise<void> {
  await sql`update payments set expires_at = now() - interval '1 second' where id = ${paymentId}`
}

/**
 * Ends a partly paid payment UNDERPAID: waits until `confirmed` (whole units) of it is confirmed, passes its
 * deadline, and waits for the worker's expiry to end it.
 */
export async function endUnderpaid(gql: Gql, sql: postgres.Sql, id: string, confirmed: string) {
  await waitPayment(gql, id, 'partly paid, confirmed', (p) => p.amountConfirmed === confirmed)
  await passDeadline(sql, id)
  return waitPayment(gql, id, 'UNDERPAID', (p) => p.status === 'UNDERPAID')
}

/**
 * `refundPayment` through the API: the payload (`refund`, `replayed`) or the UserError (`code`, `field`).
 *
 * @example
 * const res = await refundPayment(gql, { paymentId, to, idempotencyKey: 'rf-1' })
 */
export async function refundPayment(gql: Gql, input: Record<string, unknown>) {
  const res = await gql(
    `mutation ($input: RefundPaymentInput!) { refundPayment(input: $input) { __typename
      ... on RefundPaymentPayload { replayed refund { ${refundFields} } }
      ... on UserError { code field message } } }`,
    { input },
  )
  if (!res.data?.refundPayment) throw new Error(`refundPayment: ${JSON.stringify(res)}`)
  return res.data.refundPayment as
    | { __typename: 'RefundPaymentPayload'; replayed: boolean; refund: RefundView }
    | { __typename: 'UserError'; code: string; field: string | null; message: string }
}

/** A refund as the API shows it. */
export async function refundOf(gql: Gql, id: string): Promise<RefundView> {
  const res = await gql(`query ($id: ID!) { refund(id: $id) { ${refundFields} } }`, { id })
  if (!res.data?.refund) throw new Error(`refund ${id}: ${JSON.stringify(res)}`)
  return res.data.refund
}

/** Polls until the refund is CONFIRMED (a FAILED or CANCELED one throws at once, with its reason). */
export function waitRefundConfirmed(gql: Gql, id: string, timeoutMs = 30_000): Promise<RefundView> {
  return waitFor(
    `refund ${id} CONFIRMED`,
    async () => {
      const r = await refundOf(gql, id)
      if (r.status === 'FAILED' || r.status === 'CANCELED')
        throw new Error(`refund ${id} ${r.status}: ${r.failureReason}`)
      return r.status === 'CONFIRMED' ? r : undefined
    },
    timeoutMs,
  )
}

/**
 * A refund asked for through the API that the gateway takes (a new PENDING refund, `expected` besides) and pays:
 * returns it once CONFIRMED.
 *
 * @example
 * const done = await refundConfirmed(gql, { paymentId, to, idempotencyKey: 'rf-1' }, { source: 'BALANCE' })
 */
export async function refundConfirmed(
  gql: Gql,
  input: Record<string, unknown>,
  expected: Partial<RefundView>,
): Promise<RefundView> {
  const res = await refundPayment(gql, input)
  expect(res).toMatchObject({
    __typename: 'RefundPaymentPayload',
    replayed: false,
    refund: { status: 'PENDING', ...expected },
  })
  if (res.__typename !== 'RefundPaymentPayload') throw new Error('refused')
  return waitRefundConfirmed(gql, res.refund.id)
}

/** Expects an UNDERPAID payment with `uncredited` (whole units) to refund, nothing credited, nothing decided yet. */
export async function expectUnderpaidOpen(gql: Gql, id: string, uncredited: string) {
  expect(await paymentOf(gql, id)).toMatchObject({
    status: 'UNDERPAID',
    exception: 'UNDERPAID',
    resolution: null,
    refundable: { uncredited, credited: '0' },
  })
}

/**
 * Expects an UNDERPAID payment's uncredited funds refunded whole by `withdrawalId`: the payment REFUNDED with
 * nothing left to refund, and `amount` (base units) reserved from what the gateway holds uncredited, never from the
 * merchant's balance.
 */
export async function expectUnderpaidRefunded(
  gql: Gql,
  sql: postgres.Sql,
  id: string,
  withdrawalId: string,
  amount: bigint,
) {
  expect(await paymentOf(gql, id)).toMatchObject({
    status: 'UNDERPAID',
    resolution: 'REFUNDED',
    exception: null,
    refundable: { uncredited: '0', credited: '0' },
  })
  expect(await postedTo(sql, `${withdrawalId}#reserve`, 'gateway:uncredited')).toBe(-amount)
  expect(await postedTo(sql, `${withdrawalId}#reserve`, 'merchant:available')).toBe(0n)
}

/** The merchant's balance of one asset on one chain, in base units (zero when it has none). */
export async function balanceOf(gql: Gql, chain: string, symbol: string, decimals: number) {
  const res = await gql('{ balances { chain asset { symbol } available reserved } }')
  const row = (
    res.data.balances as Array<{
      chain: string
      asset: { symbol: string }
      available: string
      reserved: string
    }>
  ).find((b) => b.chain === chain && b.asset.symbol === symbol)
  return {
    available: row ? baseUnits(row.available, decimals) : 0n,
    reserved: row ? baseUnits(row.reserved, decimals) : 0n,
  }
}

/** A decimal string in whole units as base units, exactly. */
export function baseUnits(decimal: string, decimals: number): bigint {
  const negative = decimal.startsWith('-')
  const [whole = '0', fraction = ''] = (negative ? decimal.slice(1) : decimal).split('.')
  if (fraction.length > decimals) throw new Error(`${decimal} has more than ${decimals} decimals`)
  const units = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0')
  return negative ? -units : units
}

/**
 * Runs the operator's reconciliation (`tollgate reconcile --chain C --json`, the CLI the money tests use) and
 * expects the books and the chain to agree exactly: settled, no discrepancy, and no surplus booked as the
 * operator's funding (a refund the ledger under-counted would show as one). Returns the report.
 */
export async function expectReconciled(env: Record<string, string>, chain: string) {
  const run = spawnCli(['reconcile', '--chain', chain, '--json'], env)
  const code = await run.proc.exited
  const report = JSON.parse(run.output().trim().split('\n').at(-1)!)
  expect({
    chain,
    settled: report.settled,
    discrepancies: report.discrepancies,
    funding: report.funding,
  }).toEqual({ chain, settled: true, discrepancies: [], funding: [] })
  expect(code).toBe(0)
  return report as {
    lines: Array<{ asset: string; role: string; ledger: string; onChain: string; difference: string }>
  }
}

/** Row counts of everything a refund request writes, to show a refused one wrote nothing. */
export async function refundFootprint(sql: postgres.Sql) {
  const [row] = await sql`select
    (select count(*)::int from refunds) as refunds,
    (select count(*)::int from refund_events) as refund_events,
    (select count(*)::int from withdrawals) as withdrawals,
    (select count(*)::int from withdrawal_events) as withdrawal_events,
    (select count(*)::int from ledger_postings) as ledger_postings,
    (select count(*)::int from audit_log) as audit_log,
    (select count(*)::int from payments where resolution is not null) as resolved_payments`
  return row
}

/** The sum of one account's postings under one reference (e.g. a withdrawal's `#settle`). */
export async function postedTo(sql: postgres.Sql, refId: string, account: string): Promise<bigint> {
  const [row] = await sql`select coalesce(sum(amount), 0)::text as total from ledger_postings
    where ref_id = ${refId} and account = ${account}`
  return BigInt(row!.total)
}

/**
 * What the ledger booked as the operator's funding of a chain's wallets (reconciliations book a treasury or
 * gas-tank surplus so), in all assets: unchanged across a refund shows no run hid a refund's miscount as funding.
 */
export async function fundingBooked(sql: postgres.Sql, chain: string): Promise<string> {
  const rows = await sql`select asset, sum(amount)::text as total from ledger_postings
    where chain = ${chain} and ref_type = 'funding' group by asset order by asset`
  return JSON.stringify(rows.map((r) => [r.asset, r.total]))
}
