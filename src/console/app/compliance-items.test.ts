import { describe, expect, test } from 'bun:test'
import type { KytCheck } from './compliance-check.ts'
import { type HeldDeposit, queueItems } from './compliance-items.ts'

const check = (id: string, extra: Partial<KytCheck>): KytCheck => ({
  id,
  subjectType: 'transfer',
  subjectId: `trf_${id}`,
  paymentId: null,
  chain: 'devnet',
  direction: 'inbound',
  addresses: ['0xabc'],
  asset: { symbol: 'ETH' },
  amount: '1',
  txHash: '0x01',
  state: 'HELD',
  verdict: 'block',
  reason: 'KYT_BLOCKED',
  failMode: null,
  versions: null,
  decidedBy: null,
  decidedAt: null,
  note: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  screenedAt: null,
  answers: [],
  ...extra,
})

const deposit = (id: string, extra: Partial<HeldDeposit>): HeldDeposit => ({
  id,
  customerId: 'user-1',
  address: '0xdef',
  amount: '1',
  asset: { symbol: 'ETH' },
  chain: 'devnet',
  txHash: '0x01',
  screening: 'held',
  wrongNetwork: false,
  createdAt: '2026-01-01T00:00:00.000Z',
  ...extra,
})

describe('queueItems', () => {
  test('default: a payment’s held screenings are one item, decided together', () => {
    const items = queueItems(
      [
        check('k1', { paymentId: 'pay_1' }),
        check('k2', { paymentId: 'pay_2' }),
        check('k3', { paymentId: 'pay_1' }),
      ],
      [],
      new Map(),
    )
    expect(
      items.map((i) => (i.kind === 'payment' ? [i.paymentId, i.checks.map((c) => c.id)] : i.kind)),
    ).toEqual([
      ['pay_1', ['k1', 'k3']],
      ['pay_2', ['k2']],
    ])
  })

  test('behavior: a customer deposit’s screening meets its deposit by transaction, asset and amount', () => {
    const items = queueItems(
      [check('k1', { txHash: '0x01', amount: '2' }), check('k2', { txHash: '0x02' })],
      [deposit('dep_a', { txHash: '0x01', amount: '1' }), deposit('dep_b', { txHash: '0x01', amount: '2' })],
      new Map(),
    )
    const summary = items.map((i) =>
      i.kind === 'deposit' ? [i.deposit?.id ?? null, i.checks.map((c) => c.id)] : i,
    )
    // k2's deposit was not loaded: it stays, without one; dep_a has no held screening (another network, say)
    expect(summary).toEqual([
      ['dep_b', ['k1']],
      [null, ['k2']],
      ['dep_a', []],
    ])
  })

  test('behavior: a withdrawal’s screening carries its withdrawal when known', () => {
    const w = { id: 'wd_1', status: 'AWAITING_APPROVAL', approvalsMissing: 1 }
    const items = queueItems(
      [check('k1', { subjectType: 'withdrawal', subjectId: 'wd_1', direction: 'outbound' })],
      [],
      new Map([['wd_1', w]]),
    )
    expect(items).toEqual([
      { kind: 'withdrawal', key: 'withdrawal k1', check: expect.any(Object), withdrawal: w },
    ])
  })
})
