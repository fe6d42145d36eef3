import { describe, expect, test } from 'bun:test'
import { DriverError } from '@tollgate/sdk'
import { UnrecoverableError } from 'bullmq'
import { GatewayError, TollgateError } from '../core/errors.ts'
import type { Logger } from '../log.ts'
import { decideRetry, reportFailure } from './failures.ts'

/** A logger that keeps the lines it is given at warn and error, for the test to read. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string; errorKind?: string; errorCode?: string }> = []
  const keep = (level: number) => (obj: { errorKind?: string; errorCode?: string }, msg: string) => {
    lines.push({ level, msg, errorKind: obj.errorKind, errorCode: obj.errorCode })
  }
  const log = { warn: keep(40), error: keep(50) } as unknown as Logger
  return { log, lines }
}

const cases = [
  { name: 'a user error', err: new TollgateError('INVALID_INPUT', 'bad', 'x'), kind: 'user', retried: false },
  {
    name: 'a retryable room error',
    err: new GatewayError('retryable', 'LEASE_LOST', 'lease lost'),
    kind: 'retryable',
    retried: true,
  },
  {
    name: 'a permanent room error',
    err: new GatewayError('permanent', 'DRIVER_CAPABILITY_MISSING', 'cannot'),
    kind: 'permanent',
    retried: false,
  },
  {
    name: 'a bug',
    err: new GatewayError('bug', 'UNBALANCED_POSTINGS', 'unbalanced'),
    kind: 'bug',
    retried: false,
  },
  {
    name: 'a retryable driver error',
    err: new DriverError('RPC_TIMEOUT', 'timed out', { retryable: true }),
    kind: 'retryable',
    retried: true,
  },
  {
    name: 'a driver refusal for good',
    err: new DriverError('SIGERROR', 'bad signature', { retryable: false }),
    kind: 'permanent',
    retried: false,
  },
  { name: 'an error of no known type', err: new Error('ECONNRESET'), kind: 'retryable', retried: true },
] as const

describe('decideRetry', () => {
  test('default: the result of the work passes through', async () => {
    const { log } = capturedLogger()
    expect(await decideRetry(log, {}, async () => 42)).toBe(42)
  })

  for (const c of cases)
    test(`behavior: ${c.name} is ${c.retried ? 'thrown on for the queue to retry' : 'made unrecoverable'}, logged once as ${c.kind}`, async () => {
      const { log, lines } = capturedLogger()
      const thrown = await decideRetry(log, { queue: 'q' }, async () => {
        throw c.err
      }).catch((e: unknown) => e)
      if (c.retried) expect(thrown).toBe(c.err)
      else {
        expect(thrown).toBeInstanceOf(UnrecoverableError)
        expect((thrown as Error).message).toContain(c.err.message)
      }
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({
        errorKind: c.kind,
        level: c.kind === 'retryable' || c.kind === 'user' ? 40 : 50,
      })
      if ('code' in c.err) expect(lines[0]?.errorCode).toBe(c.err.code)
    })
})

describe('reportFailure', () => {
  test('behavior: a bug says so in its message, so it is reported rather than waited out', () => {
    const { log, lines } = capturedLogger()
    expect(
      reportFailure(log, new GatewayError('bug', 'NONCE_ROW_MISSING', 'x'), {}, 'payout stage failed'),
    ).toBe('bug')
    expect(lines[0]?.msg).toContain('a bug')
  })
})
