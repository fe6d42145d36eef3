import { describe, expect, test } from 'bun:test'
import { parseEnv } from './env.ts'
import { liveLimits, slotCounter } from './live-limits.ts'

describe('slotCounter', () => {
  test('default: a holder takes slots up to the cap; the next is refused; holders are counted apart', () => {
    const counter = slotCounter(2)
    expect(counter.take('a')).toBeFunction()
    expect(counter.take('a')).toBeFunction()
    expect(counter.take('a')).toBeUndefined()
    expect(counter.held('a')).toBe(2)
    expect(counter.take('b')).toBeFunction()
    expect(counter.held('b')).toBe(1)
  })

  test('behavior: a released slot can be taken again; releasing twice gives back one slot only', () => {
    const counter = slotCounter(1)
    const release = counter.take('a')!
    release()
    release()
    expect(counter.held('a')).toBe(0)
    expect(counter.take('a')).toBeFunction()
    expect(counter.take('a')).toBeUndefined()
  })
})

describe('liveLimits', () => {
  test('default: 100 sockets per address, 20 subscriptions per socket, 200 subscriptions per address', () => {
    const limits = liveLimits({ env: parseEnv({}) })
    expect(limits.socketsPerAddress.max).toBe(100)
    expect(limits.subscriptionsPerSocket).toBe(20)
    expect(limits.subscriptionsPerAddress.max).toBe(200)
  })

  test('behavior: one set of counters per app, made from its settings', () => {
    const app = { env: parseEnv({ WS_MAX_CONNECTIONS_PER_IP: '3', SUBSCRIPTIONS_MAX_PER_IP: '4' }) }
    const limits = liveLimits(app)
    expect(liveLimits(app)).toBe(limits)
    expect(limits.socketsPerAddress.max).toBe(3)
    expect(limits.subscriptionsPerAddress.max).toBe(4)
    expect(liveLimits({ env: parseEnv({}) })).not.toBe(limits)
  })

  test('error: caps below 1 or not whole numbers are configuration errors naming the setting', () => {
    for (const [name, value] of [
      ['WS_MAX_CONNECTIONS_PER_IP', '0'],
      ['WS_MAX_SUBSCRIPTIONS_PER_CONNECTION', '-1'],
      ['SUBSCRIPTIONS_MAX_PER_IP', '1.5'],
      ['SUBSCRIPTIONS_MAX_PER_IP', 'many'],
    ] as const)
      expect(() => parseEnv({ [name]: value })).toThrow(name)
  })
})
