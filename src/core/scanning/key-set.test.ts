import { describe, expect, test } from 'bun:test'
import { balanceWindow, createInternalTransfers } from '../../plugins/evm/internal.ts'
import { GatewayError } from '../errors.ts'
import { createKeySet, unionKeySets } from './key-set.ts'

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const randomHex = (length: number) => hexOf(crypto.getRandomValues(new Uint8Array(length)))
const evmKey = () => `0x${randomHex(20)}`
/** Keys as the Bitcoin driver gives them: P2WPKH, P2WSH, P2TR, P2SH and P2PKH scripts. */
const bitcoinKey = (i: number) =>
  [
    () => `0014${randomHex(20)}`,
    () => `0020${randomHex(32)}`,
    () => `5120${randomHex(32)}`,
    () => `a914${randomHex(20)}87`,
    () => `76a914${randomHex(20)}88ac`,
  ][i % 5]!()
const tronKey = () => `41${randomHex(20)}`
/** Keys no hex group can hold: base58, mixed case, odd length, a bare prefix, the empty string, too long. */
const fallbackKeys = [
  'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
  '0x52908400098527886E0f7030069857D2E4169EE7',
  'ABCDEF',
  'abc',
  '0xabc',
  '0x',
  '',
  `0x${'ab'.repeat(65)}`,
  'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu',
]

/** Asserts the set holds exactly the oracle's keys: size, membership both ways, and iteration. */
function expectSame(set: ReadonlySet<string>, oracle: ReadonlySet<string>, absent: readonly string[] = []) {
  expect(set.size).toBe(oracle.size)
  for (const key of oracle) expect(set.has(key)).toBe(true)
  for (const key of absent) expect(set.has(key)).toBe(oracle.has(key))
  const iterated = [...set]
  expect(iterated.length).toBe(oracle.size)
  expect(iterated.sort()).toEqual([...oracle].sort())
}

/** The key with its byte at `index` (counted in bytes after any `0x`) changed. */
function flipByte(key: string, index: number): string {
  const prefix = key.startsWith('0x') ? 2 : 0
  const at = prefix + index * 2
  const byte = Number.parseInt(key.slice(at, at + 2), 16) ^ 0x01
  return key.slice(0, at) + byte.toString(16).padStart(2, '0') + key.slice(at + 2)
}

describe('createKeySet', () => {
  test('holds random EVM keys, duplicates once, as a Set of them does', () => {
    const keys = Array.from({ length: 5000 }, evmKey)
    const given = [...keys, ...keys.slice(0, 700)]
    const set = createKeySet(given)
    const absent = Array.from({ length: 2000 }, evmKey)
    expectSame(set, new Set(given), absent)
    expect(set.bytes()).toBe(5000 * 20)
  })

  test('Bitcoin scripts of mixed lengths, Tron keys and fallback keys round-trip exactly', () => {
    const keys = [
      ...Array.from({ length: 2000 }, (_, i) => bitcoinKey(i)),
      ...Array.from({ length: 300 }, tronKey),
      ...fallbackKeys,
    ]
    const set = createKeySet([...keys, ...fallbackKeys, keys[3]!])
    const absent = [
      ...Array.from({ length: 500 }, (_, i) => bitcoinKey(i)),
      'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u',
      '0x52908400098527886e0f7030069857d2e4169ee7',
      'abcd',
      'ab',
      'x',
    ]
    expectSame(set, new Set(keys), absent)
  })

  test('a key with and without 0x are distinct keys', () => {
    const bare = randomHex(20)
    const set = createKeySet([bare])
    expect(set.has(bare)).toBe(true)
    expect(set.has(`0x${bare}`)).toBe(false)
    set.add(`0x${bare}`)
    expect(set.size).toBe(2)
    expect([...set].sort()).toEqual([`0x${bare}`, bare].sort())
  })

  test('keys differing from a member only in their first or last byte are not members', () => {
    const keys = [
      ...Array.from({ length: 1000 }, evmKey),
      ...Array.from({ length: 1000 }, (_, i) => bitcoinKey(i)),
    ]
    const set = createKeySet(keys)
    const oracle = new Set(keys)
    for (const key of keys) {
      const width = (key.length - (key.startsWith('0x') ? 2 : 0)) / 2
      for (const near of [flipByte(key, 0), flipByte(key, width - 1)])
        expect(set.has(near)).toBe(oracle.has(near))
    }
    // a member's neighbours in sorted order are one apart in the last byte
    const neighbours = createKeySet([`0x${'00'.repeat(19)}01`, `0x${'00'.repeat(19)}03`])
    expect(neighbours.has(`0x${'00'.repeat(19)}02`)).toBe(false)
    expect(neighbours.has(`0x${'00'.repeat(19)}00`)).toBe(false)
    expect(neighbours.has(`0x${'00'.repeat(19)}04`)).toBe(false)
    expect(neighbours.has(`0x${'00'.repeat(19)}03`)).toBe(true)
  })

  test('an empty set holds nothing, and takes keys afterwards', () => {
    const set = createKeySet()
    expect(set.size).toBe(0)
    expect(set.has(evmKey())).toBe(false)
    expect(set.has('')).toBe(false)
    expect([...set]).toEqual([])
    expect(set.bytes()).toBe(0)
    set.compact()
    const key = evmKey()
    set.add(key)
    expect(set.size).toBe(1)
    expect(set.has(key)).toBe(true)
    set.compact()
    expect([...set]).toEqual([key])
    expect(set.bytes()).toBe(20)
  })

  test('adds before and after compaction match a Set after every step', () => {
    const initial = Array.from({ length: 500 }, evmKey)
    const set = createKeySet(initial, { pendingLimit: 37 })
    const oracle = new Set(initial)
    for (let round = 0; round < 20; round++) {
      const batch = [
        ...Array.from({ length: 25 }, evmKey),
        ...Array.from({ length: 10 }, (_, i) => bitcoinKey(i + round)),
        tronKey(),
        fallbackKeys[round % fallbackKeys.length]!,
        initial[round]!, // already a member: nothing changes
      ]
      for (const key of batch) {
        set.add(key)
        oracle.add(key)
        expect(set.has(key)).toBe(true)
        expect(set.size).toBe(oracle.size)
      }
      expectSame(set, oracle, Array.from({ length: 20 }, evmKey))
    }
    set.compact()
    expectSame(set, oracle)
    // everything merged: the groups hold each key's bytes, once
    const packedBytes = [...oracle].reduce((total, key) => {
      if (fallbackKeys.includes(key)) return total + key.length * 2
      return total + (key.length - (key.startsWith('0x') ? 2 : 0)) / 2
    }, 0)
    expect(set.bytes()).toBe(packedBytes)
  })

  test('large groups (partitioned before sorting) and keys tied on their first bytes sort and dedupe', () => {
    // 150k EVM keys and 80k P2WPKH scripts (all starting 0014); 40k keys share their first 12 bytes
    const tiedPrefix = randomHex(12)
    const keys = [
      ...Array.from({ length: 150_000 }, evmKey),
      ...Array.from({ length: 80_000 }, () => `0014${randomHex(20)}`),
      ...Array.from({ length: 40_000 }, () => `0x${tiedPrefix}${randomHex(8)}`),
      ...Array.from({ length: 300 }, () => `0x${tiedPrefix}${'00'.repeat(7)}${randomHex(1)}`),
    ]
    const given = [...keys, ...keys.slice(1000, 30_000)]
    const set = createKeySet(given)
    const oracle = new Set(given)
    expect(set.size).toBe(oracle.size)
    for (const key of oracle) if (!set.has(key)) throw new Error(`missing ${key}`)
    for (let i = 0; i < 5000; i++) expect(set.has(evmKey())).toBe(false)
    const iterated = [...set]
    expect(new Set(iterated).size).toBe(oracle.size)
    for (const key of iterated) if (!oracle.has(key)) throw new Error(`not given: ${key}`)
  })

  test('implements ReadonlySet: forEach, keys, values, entries and iteration', () => {
    const keys = [evmKey(), evmKey(), bitcoinKey(0), fallbackKeys[0]!]
    const set = createKeySet(keys.slice(0, 3))
    set.add(keys[3]!)
    const asReadonly: ReadonlySet<string> = set
    const seen: Array<[string, string, boolean]> = []
    const thisArg = { marker: true }
    asReadonly.forEach(function (this: typeof thisArg, value, value2, owner) {
      seen.push([value, value2, owner === set && this === thisArg])
    }, thisArg)
    expect(seen.map(([v]) => v).sort()).toEqual([...keys].sort())
    for (const [value, value2, same] of seen) {
      expect(value2).toBe(value)
      expect(same).toBe(true)
    }
    expect([...set.keys()].sort()).toEqual([...keys].sort())
    expect([...set.values()].sort()).toEqual([...keys].sort())
    expect([...set.entries()].map(([a, b]) => (a === b ? a : 'differs')).sort()).toEqual([...keys].sort())
    expect(Array.from(set).length).toBe(4)
  })

  test('an iterator open across a compaction stops with KEY_SET_CHANGED; adds without one show', () => {
    const set = createKeySet(Array.from({ length: 10 }, evmKey), { pendingLimit: 3 })
    const iterator = set[Symbol.iterator]()
    iterator.next()
    const added = evmKey()
    set.add(added)
    const rest = [...{ [Symbol.iterator]: () => iterator }]
    expect(rest).toContain(added)
    expect(rest.length).toBe(10)

    const broken = set[Symbol.iterator]()
    broken.next()
    set.add(evmKey())
    set.add(evmKey())
    let thrown: unknown
    try {
      broken.next()
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    expect((thrown as GatewayError).code).toBe('KEY_SET_CHANGED')
  })

  test('balanceWindow picks the same window from a compact set as from a Set', () => {
    const keys = Array.from({ length: 300 }, evmKey)
    const compact = createKeySet(keys.slice(0, 200), { pendingLimit: 40 })
    for (const key of keys.slice(200)) compact.add(key)
    const plain = new Set(keys)
    const fromCompact = createInternalTransfers('balance', { balanceCap: 70 })
    const fromPlain = createInternalTransfers('balance', { balanceCap: 70 })
    for (let range = 0; range < 6; range++) {
      const window = balanceWindow(fromCompact, compact)
      expect(window).toEqual(balanceWindow(fromPlain, plain))
      expect(window.length).toBe(70)
    }
    const all = createInternalTransfers('balance', { balanceCap: 1000 })
    expect(balanceWindow(all, compact)).toEqual([...plain].sort())
  })
})

describe('unionKeySets', () => {
  test('has any member key, sums sizes, iterates each member in turn, and shows later adds', () => {
    const payments = new Set([evmKey(), evmKey()])
    const depositKeys = Array.from({ length: 50 }, evmKey)
    const deposits = createKeySet(depositKeys)
    const union = unionKeySets(payments, deposits)
    expect(union.size).toBe(52)
    for (const key of [...payments, ...depositKeys]) expect(union.has(key)).toBe(true)
    expect(union.has(evmKey())).toBe(false)
    expect([...union].slice(0, 2)).toEqual([...payments])
    expect([...union].slice(2).sort()).toEqual([...depositKeys].sort())
    const later = evmKey()
    deposits.add(later)
    expect(union.has(later)).toBe(true)
    expect(union.size).toBe(53)
    const seen: string[] = []
    union.forEach((value, value2, owner) => {
      expect(value2).toBe(value)
      expect(owner).toBe(union)
      seen.push(value)
    })
    expect(seen.length).toBe(53)
    expect([...union.entries()].every(([a, b]) => a === b)).toBe(true)
    expect([...union.keys()]).toEqual([...union.values()])
  })

  test('counts a key two members hold twice, and is empty with no members', () => {
    const key = evmKey()
    const union = unionKeySets(new Set([key]), createKeySet([key]))
    expect(union.size).toBe(2)
    expect([...union]).toEqual([key, key])
    const none = unionKeySets()
    expect(none.size).toBe(0)
    expect(none.has(key)).toBe(false)
    expect([...none]).toEqual([])
  })
})
