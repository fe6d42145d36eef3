import type { Db } from '../../db/client.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'

export const webhookEventTypes = [
  'payment.created',
  'payment.partially_paid',
  'payment.processing',
  'payment.completed',
  'payment.expired',
  'payment.underpaid',
  'payment.reverted',
  'payment.held',
  'payment.released',
  'payment.rejected',
  'payment.requoted',
  'payment.misdirected',
  'payment.detected',
  'payment.replaced',
  'payment.double_spent',
  'payment.dropped',
  'payment.canceled',
  'payment.resolved',
  'payment.exception',
  'invoice.created',
  'invoice.partially_paid',
  'invoice.processing',
  'invoice.completed',
  'invoice.expired',
  'invoice.underpaid',
  'invoice.reverted',
  'invoice.held',
  'invoice.released',
  'invoice.rejected',
  'invoice.requoted',
  'withdrawal.requested',
  'withdrawal.awaiting_approval',
  'withdrawal.queued',
  'withdrawal.broadcast',
  'withdrawal.confirmed',
  'withdrawal.failed',
  'withdrawal.canceled',
  'withdrawal.held',
  'withdrawal.approval_added',
  'refund.created',
  'refund.claimed',
  'refund.sent',
  'refund.confirmed',
  'refund.failed',
  'refund.canceled',
  'multisig.proposed',
  'multisig.signed',
  'multisig.executed',
  'multisig.confirmed',
  'multisig.failed',
  'multisig.canceled',
  'deposit.seen',
  'deposit.confirmed',
  'deposit.held',
  'deposit.rejected',
  'deposit.reverted',
] as const

export type WebhookSettings = {
  /** Development: let endpoints point at loopback and private addresses. */
  allowInternal: boolean
  /** Delay before each retry; its length is the number of retries. */
  retrySchedule: readonly number[]
  timeoutMs: number
}

export type WebhookContext = { db: Db; chains: ChainRegistry; webhooks: WebhookSettings }
