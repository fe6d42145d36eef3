import { describe, expect, test } from 'bun:test'
import { createLogThrottle } from './log-throttle.ts'

describe('createLogThrottle', () => {
  test('default: the first line of a key goes through, the next ones within the interval are held and counted', () => {
    let now = 0
    const throttle = createLogThrottle(60_000, () => now)
    expect(throttle.take('eth:failed:RPC_ERROR')).toEqual({ suppressed: 0 })
    now = 1_000
    expect(throttle.take('eth:failed:RPC_ERROR')).toBeUndefined()
    now = 59_999
    expect(throttle.take('eth:failed:RPC_ERROR')).toBeUndefined()
    // another key (another chain or code) is its own
    expect(throttle.take('eth:failed:RPC_DEADLINE')).toEqual({ suppressed: 0 })
    now = 60_000
    expect(throttle.take('eth:failed:RPC_ERROR')).toEqual({ suppressed: 2 })
    now = 200_000
    expect(throttle.take('eth:failed:RPC_ERROR')).toEqual({ suppressed: 0 })
  })

  test('behavior: a failure every two seconds for an hour logs once a minute', () => {
    let now = 0
    const throttle = createLogThrottle(60_000, () => now)
    let lines = 0
    for (; now < 3_600_000; now += 2_000) if (throttle.take('eth:outbound:RPC_DEADLINE')) lines++
    expect(lines).toBe(60)
  })
})
