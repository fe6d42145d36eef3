import type { KytCheck } from './compliance-check.ts'

// The review queue as the compliance officer decides it: one item per thing a decision acts on. A payment's held
// screenings are decided together (releasePayment / rejectPayment), a customer deposit one by one
// (releaseDeposit / rejectDeposit), a withdrawal through its approval (approveWithdrawal / rejectWithdrawal).

/** A customer deposit held for a decision, as `deposits(status: HELD)` answers it. */
export type HeldDeposit = {
  id: string
  customerId: string
  address: string
  amount: string
  asset: { symbol: string }
  chain: string
  txHash: string
  screening: string | null
  wrongNetwork: boolean
  createdAt: string
}

/** The withdrawal a screening held, as much as the queue needs of it. */
export type HeldWithdrawal = { id: string; status: string; approvalsMissing: number }

/** One thing to decide, with the screenings behind it. */
export type QueueItem =
  | { kind: 'payment'; key: string; paymentId: string; checks: KytCheck[] }
  | { kind: 'deposit'; key: string; deposit: HeldDeposit | null; checks: KytCheck[] }
  | { kind: 'withdrawal'; key: string; check: KytCheck; withdrawal: HeldWithdrawal | null }

const sameTransaction = (c: KytCheck, d: HeldDeposit) => c.chain === d.chain && c.txHash === d.txHash

/**
 * The queue's items from the held screenings (newest first), the held customer deposits and the withdrawals the
 * screenings name. A customer deposit's screening names its transfer, not the deposit: it is matched to the held
 * deposit of the same chain and transaction (and asset and amount, when a transaction carries several). A held
 * deposit no held screening covers (sent on another network) is an item of its own; a held screening whose
 * deposit was not among those loaded stays an item, without the deposit.
 *
 * @example
 * queueItems(checks, deposits, new Map()) // [{ kind: 'payment', paymentId: 'pay_1', checks: [...] }, ...]
 */
export function queueItems(
  checks: readonly KytCheck[],
  deposits: readonly HeldDeposit[],
  withdrawals: ReadonlyMap<string, HeldWithdrawal>,
): QueueItem[] {
  const items: QueueItem[] = []
  const payments = new Map<string, Extract<QueueItem, { kind: 'payment' }>>()
  const byDeposit = new Map<string, Extract<QueueItem, { kind: 'deposit' }>>()
  for (const check of checks) {
    if (check.subjectType === 'withdrawal') {
      items.push({
        kind: 'withdrawal',
        key: `withdrawal ${check.id}`,
        check,
        withdrawal: withdrawals.get(check.subjectId) ?? null,
      })
    } else if (check.paymentId !== null) {
      const known = payments.get(check.paymentId)
      if (known) known.checks.push(check)
      else {
        const item = {
          kind: 'payment' as const,
          key: `payment ${check.paymentId}`,
          paymentId: check.paymentId,
          checks: [check],
        }
        payments.set(check.paymentId, item)
        items.push(item)
      }
    } else {
      const inTx = deposits.filter((d) => sameTransaction(check, d))
      const deposit =
        inTx.find((d) => d.amount === check.amount && d.asset.symbol === check.asset.symbol) ??
        inTx[0] ??
        null
      const known = deposit ? byDeposit.get(deposit.id) : undefined
      if (known) known.checks.push(check)
      else {
        const item = {
          kind: 'deposit' as const,
          key: deposit ? `deposit ${deposit.id}` : `check ${check.id}`,
          deposit,
          checks: [check],
        }
        if (deposit) byDeposit.set(deposit.id, item)
        items.push(item)
      }
    }
  }
  for (const deposit of deposits)
    if (!byDeposit.has(deposit.id))
      items.push({ kind: 'deposit', key: `deposit ${deposit.id}`, deposit, checks: [] })
  return items
}
