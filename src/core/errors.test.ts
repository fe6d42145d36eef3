import { describe, expect, test } from 'bun:test'
import { DriverError } from '@tollgate/sdk'
import { PluginConfigError } from '../plugins/registry.ts'
import {
  driverLacks,
  errorCode,
  errorKind,
  failureText,
  GatewayError,
  invalidInput,
  invariantBroken,
  notFound,
  TollgateError,
} from './errors.ts'

describe('errorKind', () => {
  test('default: a TollgateError is the user’s, whatever its code', () => {
    expect(errorKind(new TollgateError('INVALID_INPUT', 'bad', 'name'))).toBe('user')
    expect(errorKind(new TollgateError('NOT_FOUND', 'gone'))).toBe('user')
    expect(errorKind(invalidInput('x', 'bad'))).toBe('user')
    expect(errorKind(notFound('thing'))).toBe('user')
  })

  test('behavior: a GatewayError keeps the kind it was made with', () => {
    expect(errorKind(new GatewayError('retryable', 'LEASE_LOST', 'taken'))).toBe('retryable')
    expect(errorKind(new GatewayError('permanent', 'REORG_TOO_DEEP', 'halt'))).toBe('permanent')
    expect(errorKind(new GatewayError('bug', 'UNBALANCED_POSTINGS', 'sum'))).toBe('bug')
    expect(errorKind(invariantBroken('NONCE_ROW_MISSING', 'no row'))).toBe('bug')
    expect(errorKind(driverLacks('toy', 'unspent', 'report unspent coins'))).toBe('permanent')
  })

  test('behavior: a DriverError says itself whether a retry can help', () => {
    expect(errorKind(new DriverError('RPC_DOWN', 'node unreachable', { retryable: true }))).toBe('retryable')
    expect(errorKind(new DriverError('TX_REJECTED', 'refused for good', { retryable: false }))).toBe(
      'permanent',
    )
  })

  test('behavior: a DriverError from a bundled copy of the SDK (same name and shape) is recognized too', () => {
    const foreign = Object.assign(new Error('refused'), {
      name: 'DriverError',
      code: 'TX_REJECTED',
      retryable: false,
    })
    expect(errorKind(foreign)).toBe('permanent')
    expect(errorCode(foreign)).toBe('TX_REJECTED')
  })

  test('behavior: a PluginConfigError is permanent (an operator must fix the configuration)', () => {
    expect(errorKind(new PluginConfigError(['chain "x": no module']))).toBe('permanent')
  })

  test('behavior: anything else (a dropped connection, a library timeout, a thrown string) is retryable', () => {
    expect(errorKind(new Error('ECONNRESET'))).toBe('retryable')
    expect(errorKind(new TypeError('fetch failed'))).toBe('retryable')
    expect(errorKind('boom')).toBe('retryable')
    expect(errorKind(undefined)).toBe('retryable')
    // an Error merely named DriverError, without the retryable flag, is not a driver error
    expect(errorKind(Object.assign(new Error('x'), { name: 'DriverError' }))).toBe('retryable')
  })
})

describe('errorCode', () => {
  test('default: typed errors give their code; others none', () => {
    expect(errorCode(new TollgateError('URL_NOT_ALLOWED', 'no', 'url'))).toBe('URL_NOT_ALLOWED')
    expect(errorCode(new GatewayError('retryable', 'LEASE_LOST', 'taken'))).toBe('LEASE_LOST')
    expect(errorCode(new DriverError('RPC_DOWN', 'down', { retryable: true }))).toBe('RPC_DOWN')
    expect(errorCode(new PluginConfigError(['x']))).toBeUndefined()
    expect(errorCode(new Error('plain'))).toBeUndefined()
    expect(errorCode(null)).toBeUndefined()
  })
})

describe('error constructors', () => {
  test('default: invalidInput names the field; notFound says what was not found; both are TollgateErrors', () => {
    const bad = invalidInput('description', 'too long')
    expect(bad).toBeInstanceOf(TollgateError)
    expect(bad.code).toBe('INVALID_INPUT')
    expect(bad.field).toBe('description')
    expect(bad.kind).toBe('user')
    const missing = notFound('webhook endpoint')
    expect(missing.code).toBe('NOT_FOUND')
    expect(missing.field).toBeUndefined()
    expect(missing.message).toBe('webhook endpoint not found')
  })

  test('behavior: a GatewayError carries its cause and is an Error of its own name', () => {
    const cause = new Error('socket closed')
    const err = new GatewayError('retryable', 'LEASE_LOST', 'lost', { cause })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('GatewayError')
    expect(err.cause).toBe(cause)
    expect(err).not.toBeInstanceOf(TollgateError)
    expect(new TollgateError('FORBIDDEN', 'no').name).toBe('TollgateError')
  })

  test('behavior: driverLacks names the chain and the capability', () => {
    const err = driverLacks('toy', 'unspent', 'report unspent coins')
    expect(err.code).toBe('DRIVER_CAPABILITY_MISSING')
    expect(err.message).toContain('toy')
    expect(err.message).toContain('unspent')
  })
})

describe('failureText', () => {
  test('default: the first line of the message, at most 500 characters', () => {
    expect(failureText(new Error('nonce too low\nat line 2'))).toBe('nonce too low')
    expect(failureText(new Error('x'.repeat(900)))).toHaveLength(500)
    expect(failureText({ message: 'plain object' })).toBe('plain object')
    expect(failureText('a string')).toBe('a string')
  })

  test('behavior: node URLs (which carry API keys) never survive into what is stored or shown', () => {
    const err = new DriverError(
      'RPC_ERROR',
      'HTTP request failed. URL: https://mainnet.infura.io/v3/0123456789abcdef Details: 502 (also wss://x.example/k)',
      { retryable: true },
    )
    const text = failureText(err)
    expect(text).not.toContain('0123456789abcdef')
    expect(text).not.toContain('x.example')
    expect(text).toBe('HTTP request failed. URL: <url> Details: 502 (also <url>')
  })
})
