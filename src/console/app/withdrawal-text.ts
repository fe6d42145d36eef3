import type { QueryResult } from './api.ts'
import type { ActionOutcome } from './ui.ts'

// Withdrawals and multisig proposals in words: quorum progress, what a status means, and the API's refusals as
// sentences for the person at the keyboard (the code stays at the end, for whoever reports it).

/** The withdrawal fields the console's pages read. */
export type WithdrawalView = {
  id: string
  status: string
  chain: string
  amount: string
  asset: { symbol: string }
  to: string
  txHash: string | null
  networkFee: string | null
  failureReason: string | null
  waitingReason: string | null
  requestedBy: string | null
  requestedByName: string | null
  approvalsRequired: number
  approvalsMissing: number
  approvals: Array<{
    keyId: string
    deciderName: string
    approve: boolean
    reason: string | null
    createdAt: string
  }>
  kyt: { state: string; reason: string | null } | null
  createdAt: string
  updatedAt: string
}

/** The GraphQL selection of WithdrawalView. */
export const withdrawalFields = `id status chain amount asset { symbol } to txHash networkFee failureReason
  waitingReason requestedBy requestedByName approvalsRequired approvalsMissing
  approvals { keyId deciderName approve reason createdAt } kyt { state reason } createdAt updatedAt`

/** Every status a withdrawal can have, in the order it moves through them. */
export const withdrawalStatuses = [
  'SCREENING',
  'AWAITING_APPROVAL',
  'QUEUED',
  'BATCHED',
  'BROADCAST',
  'CONFIRMED',
  'FAILED',
  'CANCELED',
] as const

/** The statuses a withdrawal may still be canceled in (it has not been picked for sending). */
export const cancelableStatuses: ReadonlySet<string> = new Set(['SCREENING', 'QUEUED', 'AWAITING_APPROVAL'])

/**
 * A status as a short phrase.
 *
 * @example
 * statusText('AWAITING_APPROVAL') // 'awaiting approval'
 */
export function statusText(status: string): string {
  return status.toLowerCase().replaceAll('_', ' ')
}

/**
 * How far a withdrawal is from its approval quorum: approvals given of those required.
 *
 * @example
 * quorumText({ approvalsRequired: 2, approvalsMissing: 1 }) // '1 of 2 approvals'
 */
export function quorumText(w: Pick<WithdrawalView, 'approvalsRequired' | 'approvalsMissing'>): string {
  const given = Math.max(0, w.approvalsRequired - w.approvalsMissing)
  return `${given} of ${w.approvalsRequired} approval${w.approvalsRequired === 1 ? '' : 's'}`
}

const refusals: Record<string, string> = {
  SELF_APPROVAL: 'You requested this withdrawal, so you cannot approve it: another approver must.',
  ALREADY_DECIDED: 'You have already decided on this withdrawal: another approver must decide now.',
  INVALID_STATE: 'It can no longer be done: the withdrawal (or proposal) has moved on.',
  NOT_FOUND: 'It no longer exists, or it belongs to another merchant.',
  INVALID_INPUT: 'The text was not accepted.',
  INVALID_SIGNATURE: 'That is not a valid signature of one of the wallet’s owners for this proposal.',
  FORBIDDEN: 'Your role does not allow this.',
}

/**
 * An API refusal in words, then the API's own message and code.
 *
 * @example
 * refusalText('ALREADY_DECIDED', 'this key already approved this withdrawal')
 * // 'You have already decided on this withdrawal: another approver must decide now. (this key already approved this withdrawal; ALREADY_DECIDED)'
 */
export function refusalText(code: string, message: string): string {
  const words = refusals[code] ?? 'The gateway refused it.'
  return `${words} (${message}; ${code})`
}

/**
 * What a mutation answering `Withdrawal | UserError` (or `MultisigProposal | UserError`) came to, its refusals in
 * words. A missing scope comes back as a top-level FORBIDDEN error and reads as such.
 *
 * @example
 * const result = await query(approveMutation, { id, reason })
 * return actionOutcome(result, 'approveWithdrawal', 'Approved.')
 */
export function actionOutcome(
  result: QueryResult<Record<string, unknown>>,
  field: string,
  doneText: string,
): ActionOutcome {
  if (result.kind === 'signed-out') return { ok: false, message: 'Your session ended: sign in again.' }
  if (result.kind === 'error')
    return {
      ok: false,
      message: /lacks the scope/.test(result.message)
        ? refusalText('FORBIDDEN', result.message)
        : `The gateway refused it: ${result.message}`,
    }
  const answer = result.data[field] as { code?: unknown; message?: unknown } | null | undefined
  if (answer && typeof answer.code === 'string')
    return { ok: false, message: refusalText(answer.code, String(answer.message ?? 'refused')) }
  return { ok: true, message: doneText }
}
