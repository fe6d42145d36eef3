import { describe, expect, test } from 'bun:test'
import {
  collectWithdrawalChanges,
  noteWithdrawalChange,
  type WithdrawalChange,
} from './withdrawal-changes.ts'

const change = (withdrawalId: string, seq = 1): WithdrawalChange => ({
  withdrawalId,
  merchantId: 'mer_1',
  seq,
  type: 'withdrawal.queued',
})

describe('collectWithdrawalChanges', () => {
  test('default: answers the changes noted while it runs, across awaits, in order', async () => {
    const { result, changes } = await collectWithdrawalChanges(async () => {
      noteWithdrawalChange(change('wd_a'))
      await Bun.sleep(1)
      noteWithdrawalChange(change('wd_a', 2))
      return 'done'
    })
    expect(result).toBe('done')
    expect(changes).toEqual([change('wd_a'), change('wd_a', 2)])
  })

  test('behavior: runs at the same time keep their own changes', async () => {
    const run = (id: string) =>
      collectWithdrawalChanges(async () => {
        await Bun.sleep(1)
        noteWithdrawalChange(change(id))
      })
    const [a, b] = await Promise.all([run('wd_a'), run('wd_b')])
    expect(a.changes).toEqual([change('wd_a')])
    expect(b.changes).toEqual([change('wd_b')])
  })

  test('edge: a change noted outside any run is dropped, not kept for a later one', async () => {
    noteWithdrawalChange(change('wd_outside'))
    const { changes } = await collectWithdrawalChanges(async () => {})
    expect(changes).toEqual([])
  })
})
