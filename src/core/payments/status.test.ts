import { describe, expect, test } from 'bun:test'
import { deriveStatus, transitionEvent } from './status.ts'

const now = new Date('2026-01-01T12:00:00Z')
const later = new Date('2026-01-01T13:00:00Z')
const earlier = new Date('2026-01-01T11:00:00Z')
const base = { amountDue: 100n, amountTolerance: 0n, received: 0n, confirmed: 0n, expiresAt: later, now }

describe('deriveStatus', () => {
  test('default: nothing received before the deadline is PENDING', () => {
    expect(deriveStatus(base)).toBe('PENDING')
  })
  test('behavior: partial sums are PARTIALLY_PAID, full sums PROCESSING until confirmed', () => {
    expect(deriveStatus({ ...base, received: 40n })).toBe('PARTIALLY_PAID')
    expect(deriveStatus({ ...base, received: 100n })).toBe('PROCESSING')
    expect(deriveStatus({ ...base, received: 100n, confirmed: 60n })).toBe('PROCESSING')
    expect(deriveStatus({ ...base, received: 100n, confirmed: 100n })).toBe('COMPLETED')
  })
  test('behavior: overpayment completes; tolerance accepts a small shortfall', () => {
    expect(deriveStatus({ ...base, received: 150n, confirmed: 150n })).toBe('COMPLETED')
    expect(deriveStatus({ ...base, amountTolerance: 2n, received: 98n, confirmed: 98n })).toBe('COMPLETED')
    expect(deriveStatus({ ...base, amountTolerance: 2n, received: 97n, confirmed: 97n })).toBe(
      'PARTIALLY_PAID',
    )
  })
  test('behavior: past the deadline, nothing is EXPIRED and a partial sum UNDERPAID', () => {
    expect(deriveStatus({ ...base, expiresAt: earlier })).toBe('EXPIRED')
    expect(deriveStatus({ ...base, expiresAt: earlier, received: 1n })).toBe('UNDERPAID')
  })
  test('behavior: late funds still complete an expired payment', () => {
    expect(deriveStatus({ ...base, expiresAt: earlier, received: 100n })).toBe('PROCESSING')
    expect(deriveStatus({ ...base, expiresAt: earlier, received: 100n, confirmed: 100n })).toBe('COMPLETED')
  })
})

describe('transitionEvent', () => {
  test('default: forward moves are named after the new status', () => {
    expect(transitionEvent('PENDING', 'PARTIALLY_PAID')).toBe('payment.partially_paid')
    expect(transitionEvent('PROCESSING', 'COMPLETED')).toBe('payment.completed')
    expect(transitionEvent('EXPIRED', 'PROCESSING')).toBe('payment.processing')
    expect(transitionEvent('PENDING', 'EXPIRED')).toBe('payment.expired')
  })
  test('behavior: losing ground is payment.reverted', () => {
    expect(transitionEvent('COMPLETED', 'PROCESSING')).toBe('payment.reverted')
    expect(transitionEvent('PROCESSING', 'PENDING')).toBe('payment.reverted')
    expect(transitionEvent('PARTIALLY_PAID', 'PENDING')).toBe('payment.reverted')
    expect(transitionEvent('UNDERPAID', 'EXPIRED')).toBe('payment.reverted')
  })
})
