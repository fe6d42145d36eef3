import type { Transfer } from '@tollgate/sdk'
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { anyAsset, customerAddresses, outboundTxs, payments, transfers } from '../../db/schema/index.ts'
import type { LoadedChain } from '../../plugins/registry.ts'
import { openTransferChecks } from '../compliance/checks.ts'
import type { CustomerAddressRow } from '../deposits/addresses.ts'
import { type DepositChange, openDeposits, settleDeposits } from '../deposits/lifecycle.ts'
import { newId } from '../ids.ts'
import type { WatchSet } from './watch-set.ts'

/** A transfer found by a scan, and the payment (and merchant) it pays. */
export type Deposit = { transfer: Transfer; paymentId: string; merchantId: string }

/**
 * A transfer found by a scan into a customer's permanent address: one given for this chain, or (`wrongNetwork`)
 * one given for a sibling chain deriving the same address.
 */
export type CustomerDeposit = {
  transfer: Transfer
  address: Pick<CustomerAddressRow, 'id' | 'merchantId' | 'customerId' | 'asset'>
  wrongNetwork: boolean
}

/**
 * Which scanned transfers are customer deposits: those into a customer address of this chain (a payment's own
 * address wins a key both claim), in the address's asset or, for a chain-wide address (common and cross modes),
 * in any asset; and, as wrong-network deposits held for the merchant, those in any asset into a customer address
 * given only for a sibling chain (the same key is the same address there). What the gateway sent itself (the gas
 * tank topping up the address to sweep a token) is never a deposit. The watch set's customer keys are a compact
 * filter; the addresses themselves are read here.
 *
 * @example
 * const customer = await matchCustomerDeposits(tx, watch, scanned.transfers)
 */
export async function matchCustomerDeposits(
  tx: Tx,
  watch: WatchSet,
  found: readonly Transfer[],
): Promise<CustomerDeposit[]> {
  const candidates = found.filter((t) => !watch.byKey.has(t.to) && watch.customers.has(t.to))
  if (candidates.length === 0) return []
  const keys = [...new Set(candidates.map((t) => t.to))]
  const family = [watch.chain, ...watch.siblings]
  const rows: Array<CustomerDeposit['address'] & { addressKey: string; chain: string }> = []
  for (let i = 0; i < keys.length; i += 1000)
    rows.push(
      ...(await tx
        .select({
          id: customerAddresses.id,
          merchantId: customerAddresses.merchantId,
          customerId: customerAddresses.customerId,
          asset: customerAddresses.asset,
          addressKey: customerAddresses.addressKey,
          chain: customerAddresses.chain,
        })
        .from(customerAddresses)
        .where(
          and(
            inArray(customerAddresses.chain, family),
            inArray(customerAddresses.addressKey, keys.slice(i, i + 1000)),
          ),
        )
        .orderBy(customerAddresses.id)),
    )
  const byKey = new Map<string, Array<(typeof rows)[number]>>()
  for (const r of rows) byKey.set(r.addressKey, [...(byKey.get(r.addressKey) ?? []), r])
  const hashes = [...new Set(candidates.map((t) => t.txHash))]
  const own = new Set(
    (
      await tx
        .select({ hash: outboundTxs.hash })
        .from(outboundTxs)
        .where(and(eq(outboundTxs.chain, watch.chain), inArray(outboundTxs.hash, hashes)))
    ).map((r) => r.hash),
  )
  return candidates.flatMap((transfer): CustomerDeposit[] => {
    if (own.has(transfer.txHash)) return []
    const holders = byKey.get(transfer.to) ?? []
    const here = holders.filter((a) => a.chain === watch.chain)
    if (here.length > 0) {
      // a key given on this chain: its own asset (single) or any (common, cross); another asset is not a deposit
      const address = here.find((a) => a.asset === anyAsset || a.asset === transfer.asset)
      return address ? [{ transfer, address, wrongNetwork: false }] : []
    }
    const elsewhere = holders[0]
    return elsewhere ? [{ transfer, address: elsewhere, wrongNetwork: true }] : []
  })
}

/**
 * Stores customer deposits' transfers once per `(chain, txHash, index)` like payments' (a rescan or a reorg
 * revives one, never doubles it), opens their screenings (with `screen`) and their deposits, then settles the
 * chain's open deposits at `tip`: all in the range's transaction.
 *
 * @example
 * const changes = await recordCustomerDeposits(tx, chain, customer, last.height, { screen: true })
 */
export async function recordCustomerDeposits(
  tx: Tx,
  chain: LoadedChain,
  found: readonly CustomerDeposit[],
  tip: bigint,
  options: { screen?: boolean; now?: Date } = {},
): Promise<DepositChange[]> {
  const now = options.now ?? new Date()
  const changes: DepositChange[] = []
  const touched: string[] = []
  for (let i = 0; i < found.length; i += 500) {
    const slice = found.slice(i, i + 500)
    const stored = await upsertTransfers(
      tx,
      slice.map(({ transfer: t }) => ({ ...transferRow(chain, t), paymentId: null })),
    )
    const idOf = new Map(stored.map((r) => [`${r.txHash}:${r.index}`, r.id]))
    const opened = slice.map((d) => ({
      ...d,
      transferId: idOf.get(`${d.transfer.txHash}:${d.transfer.index}`) as string,
    }))
    touched.push(...opened.map((d) => d.transferId))
    if (options.screen)
      await openTransferChecks(
        tx,
        chain,
        opened.map(({ transfer: t, transferId, address }) =>
          screeningOf(t, transferId, null, address.merchantId),
        ),
      )
    changes.push(...(await openDeposits(tx, chain, opened, now)))
  }
  changes.push(...(await settleDeposits(tx, chain, tip, { transferIds: touched, now })))
  return changes
}

/**
 * Which scanned transfers pay a payment: those into a watched address in the payment's own asset. The gas
 * tank's top-up of a token payment's address, or any other coin sent there, is not a payment. A transfer into
 * an address issued for a payment on another chain (`watch.elsewhere`), in any asset, is a wrong-network
 * deposit: `misdirected`, never a payment of this chain.
 *
 * @example
 * const { deposits, misdirected } = await matchDeposits(tx, watch, scanned.transfers)
 */
export async function matchDeposits(
  tx: Tx,
  watch: WatchSet,
  found: readonly Transfer[],
): Promise<{ deposits: Deposit[]; misdirected: Deposit[]; deadlines: Map<string, Date> }> {
  const candidates = found.flatMap((transfer) => {
    const paymentId = watch.byKey.get(transfer.to)
    return paymentId ? [{ transfer, paymentId, merchantId: '' }] : []
  })
  const strays = found.flatMap((transfer) => {
    const paymentId = watch.byKey.has(transfer.to) ? undefined : watch.elsewhere.get(transfer.to)
    return paymentId ? [{ transfer, paymentId, merchantId: '' }] : []
  })
  const deadlines = new Map<string, Date>()
  if (candidates.length === 0 && strays.length === 0) return { deposits: [], misdirected: [], deadlines }
  const rows = await tx
    .select({
      id: payments.id,
      expiresAt: payments.expiresAt,
      asset: payments.asset,
      merchantId: payments.merchantId,
    })
    .from(payments)
    .where(inArray(payments.id, [...new Set([...candidates, ...strays].map((m) => m.paymentId))]))
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const r of rows) deadlines.set(r.id, r.expiresAt)
  const deposits = candidates.flatMap((c) => {
    const p = byId.get(c.paymentId)
    return p && p.asset === c.transfer.asset ? [{ ...c, merchantId: p.merchantId }] : []
  })
  const misdirected = strays.flatMap((c) => {
    const p = byId.get(c.paymentId)
    return p ? [{ ...c, merchantId: p.merchantId }] : []
  })
  return { deposits, misdirected, deadlines }
}

/** What a deposit's screening is asked about: who paid it, what and how much, for which payment. */
export function screeningOf(
  t: Pick<Transfer, 'senders' | 'from' | 'asset' | 'amount' | 'txHash'>,
  transferId: string,
  paymentId: string | null,
  merchantId: string,
) {
  return {
    transferId,
    paymentId,
    merchantId,
    senders: sendersOf(t),
    asset: t.asset,
    amount: t.amount,
    txHash: t.txHash,
  }
}

/**
 * The addresses whose funds paid a transfer, as the driver reports them (`senders`), or its `from` for a driver
 * that reports only that.
 */
export const sendersOf = (t: Pick<Transfer, 'senders' | 'from'>): string[] => [
  ...(t.senders ?? (t.from ? [t.from] : [])),
]

/**
 * Stores deposits once per `(chain, txHash, index)`: a transfer seen again (the same range rescanned, or
 * re-included after a reorg) is revived and moved to its new block, never stored twice. A deposit in a block
 * mined after its payment's deadline is marked late (judged again when it moves to another block). With
 * `screen`, each new deposit gets a pending KYT screening in the same transaction: nothing is credited before
 * it is decided.
 *
 * @example
 * await recordDeposits(tx, chain, deposits, deadlines, { screen: true })
 */
export async function recordDeposits(
  tx: Tx,
  chain: LoadedChain,
  deposits: readonly Deposit[],
  deadlines: ReadonlyMap<string, Date>,
  options: { screen?: boolean } = {},
): Promise<void> {
  for (let i = 0; i < deposits.length; i += 500) {
    const stored = await upsertTransfers(
      tx,
      deposits.slice(i, i + 500).map(({ transfer: t, paymentId }) => ({
        ...transferRow(chain, t),
        paymentId,
        late: t.block.time * 1000 > (deadlines.get(paymentId)?.getTime() ?? Number.POSITIVE_INFINITY),
      })),
    )
    if (!options.screen) continue
    const idOf = new Map(stored.map((r) => [`${r.txHash}:${r.index}`, r.id]))
    await openTransferChecks(
      tx,
      chain,
      deposits
        .slice(i, i + 500)
        .map(({ transfer: t, paymentId, merchantId }) =>
          screeningOf(t, idOf.get(`${t.txHash}:${t.index}`) as string, paymentId, merchantId),
        ),
    )
  }
}

/**
 * The columns of a transfer row that come from the scanned transfer itself: in a block (`seen`), or in the mempool
 * (`pending`, no block).
 */
export function transferRow(chain: LoadedChain, t: Omit<Transfer, 'block'> & { block?: Transfer['block'] }) {
  return {
    id: newId('trf'),
    chain: chain.name,
    txHash: t.txHash,
    index: t.index,
    asset: t.asset,
    toAddress: t.to,
    fromAddress: t.from ?? null,
    amount: t.amount,
    blockHeight: t.block?.height ?? null,
    blockHash: t.block?.hash ?? null,
    status: t.block ? ('seen' as const) : ('pending' as const),
  }
}

/**
 * Inserts transfers once per `(chain, txHash, index)`: one seen again (the same range rescanned, re-included after
 * a reorg, or mined after the mempool showed it, even once it had left the mempool) is revived and moved to its
 * block, its lateness judged again. `fresh` says which rows this statement inserted.
 */
export async function upsertTransfers(tx: Tx, rows: Array<typeof transfers.$inferInsert>) {
  return (
    tx
      .insert(transfers)
      .values(rows)
      .onConflictDoUpdate({
        target: [transfers.chain, transfers.txHash, transfers.index],
        set: {
          status: sql`case when ${transfers.status} in ('orphaned', 'pending', 'dropped') then 'seen' else ${transfers.status} end`,
          blockHeight: sql`excluded.block_height`,
          blockHash: sql`excluded.block_hash`,
          // lateness belongs to the block the transfer is in now
          late: sql`excluded.late`,
          // mined after all: whatever the mempool seemed to say of it no longer holds
          fate: sql`null`,
          fateBy: sql`null`,
        },
      })
      // xmax is 0 on a row this statement inserted, not on one it updated
      .returning({
        id: transfers.id,
        txHash: transfers.txHash,
        index: transfers.index,
        fresh: sql<boolean>`xmax = 0`,
      })
  )
}
