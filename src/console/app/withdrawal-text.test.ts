import { describe, expect, test } from 'bun:test'
import { signaturesText } from './multisig-card.ts'
import { actionOutcome, quorumText, refusalText } from './withdrawal-text.ts'

describe('withdrawals and proposals in words', () => {
  test('default: quorum and signature progress count what was given of what is needed', () => {
    expect(quorumText({ approvalsRequired: 2, approvalsMissing: 2 })).toBe('0 of 2 approvals')
    expect(quorumText({ approvalsRequired: 2, approvalsMissing: 1 })).toBe('1 of 2 approvals')
    expect(quorumText({ approvalsRequired: 1, approvalsMissing: 0 })).toBe('1 of 1 approval')
    expect(signaturesText({ threshold: 2, signers: ['0xA'] })).toBe('1 of 2 signatures')
  })

  test('error: refusals read as sentences, the code kept at the end; a missing scope reads as FORBIDDEN', () => {
    expect(refusalText('SELF_APPROVAL', 'the key that requested it cannot approve it')).toBe(
      'You requested this withdrawal, so you cannot approve it: another approver must. (the key that requested it cannot approve it; SELF_APPROVAL)',
    )
    expect(refusalText('SOMETHING_NEW', 'why')).toBe('The gateway refused it. (why; SOMETHING_NEW)')
    expect(
      actionOutcome(
        { kind: 'data', data: { approveWithdrawal: { code: 'ALREADY_DECIDED', message: 'decided' } } },
        'approveWithdrawal',
        'Approved.',
      ),
    ).toEqual({
      ok: false,
      message:
        'You have already decided on this withdrawal: another approver must decide now. (decided; ALREADY_DECIDED)',
    })
    expect(
      actionOutcome(
        { kind: 'error', message: 'this API key lacks the scope for this field (withdrawals:approve)' },
        'approveWithdrawal',
        'Approved.',
      ),
    ).toEqual({
      ok: false,
      message:
        'Your role does not allow this. (this API key lacks the scope for this field (withdrawals:approve); FORBIDDEN)',
    })
    expect(actionOutcome({ kind: 'signed-out' }, 'x', 'Done.')).toEqual({
      ok: false,
      message: 'Your session ended: sign in again.',
    })
    expect(
      actionOutcome(
        { kind: 'data', data: { approveWithdrawal: { id: 'wd_1' } } },
        'approveWithdrawal',
        'Approved.',
      ),
    ).toEqual({ ok: true, message: 'Approved.' })
  })
})
