import { describe, expect, test } from 'bun:test'
import { listDocument, mergePayments } from './payment-search.ts'
import { baseToUnits, type PaymentSummary, safeHttpUrl, statusText } from './payment-text.ts'

// The payments pages' pure parts: amounts in whole units without floats, the only links rendered from API answers,
// and the one-request search document and its merge.

describe('payments in words', () => {
  test('default: base units in whole units, exactly', () => {
    expect(baseToUnits('1500000000000000000', 18)).toBe('1.5')
    expect(baseToUnits('12', 6)).toBe('0.000012')
    expect(baseToUnits('1000000', 6)).toBe('1')
    expect(baseToUnits('0', 6)).toBe('0')
    expect(baseToUnits('123456789012345678901234567890', 18)).toBe('123456789012.34567890123456789')
    expect(baseToUnits('5', 0)).toBe('5')
  })

  test('default: statuses read as words', () => {
    expect(statusText('PARTIALLY_PAID')).toBe('Partially paid')
    expect(statusText('PAID_AFTER_CANCEL')).toBe('Paid after cancel')
  })

  test('error: only http and https URLs become links', () => {
    expect(safeHttpUrl('https://etherscan.io/tx/0xab')).toBe('https://etherscan.io/tx/0xab')
    expect(safeHttpUrl('http://127.0.0.1:4000/address/x')).toBe('http://127.0.0.1:4000/address/x')
    expect(safeHttpUrl('javascript:alert(1)')).toBeNull()
    expect(safeHttpUrl(' JavaScript:alert(1)')).toBeNull()
    expect(safeHttpUrl('data:text/html,<script>alert(1)</script>')).toBeNull()
    expect(safeHttpUrl('/relative/path')).toBeNull()
    expect(safeHttpUrl(null)).toBeNull()
    expect(safeHttpUrl('')).toBeNull()
  })
})

describe('the search request', () => {
  test('default: a search asks the id and every list alternative in one document, the text only in variables', () => {
    const doc = listDocument(['orderId', 'address', 'txHash'], true)
    expect(doc).toStartWith(
      'query ($first: Int!, $status: PaymentStatus, $id: ID!, $text: String!, $after_orderId: String, $after_address: String, $after_txHash: String)',
    )
    expect(doc).toContain('byId: payment(id: $id)')
    for (const source of ['orderId', 'address', 'txHash'])
      expect(doc).toContain(
        `${source}: payments(first: $first, after: $after_${source}, filter: { status: $status, ${source}: $text })`,
      )
  })

  test('default: every payment is one list, no text', () => {
    const doc = listDocument(['all'], false)
    expect(doc).toContain('all: payments(first: $first, after: $after_all, filter: { status: $status })')
    expect(doc).not.toContain('$text')
    expect(doc).not.toContain('payment(id')
  })

  test('behavior: merged results hold each payment once, newest first', () => {
    const p = (id: string) => ({ id }) as PaymentSummary
    const merged = mergePayments([p('pay_03'), p('pay_01')], [p('pay_02'), p('pay_03'), p('pay_04')])
    expect(merged.map((x) => x.id)).toEqual(['pay_04', 'pay_03', 'pay_02', 'pay_01'])
  })
})
