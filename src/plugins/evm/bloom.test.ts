import { describe, expect, test } from 'bun:test'
import { bloomBits, bloomFilterFor, bloomHas, parseBloom } from './bloom.ts'
import { transferTopic } from './logs.ts'

/** A bloom with exactly the bits of `items` set, built as a node builds a block's bloom. */
function bloomOf(...items: `0x${string}`[]): string {
  const bytes = new Uint8Array(256)
  for (const item of items)
    for (const [byte, mask] of bloomBits(item)) bytes[byte] = (bytes[byte] as number) | mask
  return `0x${Buffer.from(bytes).toString('hex')}`
}

const usdt = '0xdac17f958d2ee523a2206206994597c13d831ec7'
const usdc = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48'

describe('logs bloom', () => {
  test('default: the three bits of an item follow the yellow paper (low 11 bits of byte pairs of keccak256)', () => {
    // keccak256 of the zero address starts 5380c7b7ae81a58eb98d…: pairs 0x5380, 0xc7b7, 0xae81
    const bits = bloomBits('0x0000000000000000000000000000000000000000')
    expect(bits).toEqual([
      [255 - ((0x5380 & 2047) >> 3), 1 << (0x5380 & 7)],
      [255 - ((0xc7b7 & 2047) >> 3), 1 << (0xc7b7 & 7)],
      [255 - ((0xae81 & 2047) >> 3), 1 << (0xae81 & 7)],
    ])
  })

  test('default: a block whose bloom holds the contract and the Transfer topic may hold its Transfer', () => {
    const mayHold = bloomFilterFor([usdt, usdc], transferTopic)
    expect(mayHold(bloomOf(usdt, transferTopic))).toBe(true)
    expect(mayHold(bloomOf(usdc.toUpperCase().replace('0X', '0x') as `0x${string}`, transferTopic))).toBe(
      true,
    )
    expect(mayHold(bloomOf())).toBe(false)
    // the contract without the topic (an Approval), or the topic of another contract: no
    expect(mayHold(bloomOf(usdt))).toBe(false)
    expect(mayHold(bloomOf('0x1111111111111111111111111111111111111111', transferTopic))).toBe(false)
  })

  test('behavior: a missing or malformed bloom rules nothing out', () => {
    const mayHold = bloomFilterFor([usdt], transferTopic)
    expect(mayHold(undefined)).toBe(true)
    expect(mayHold('0x1234')).toBe(true)
    expect(parseBloom('0x1234')).toBeUndefined()
    const full = parseBloom(`0x${'f'.repeat(512)}`) as Uint8Array
    expect(bloomHas(full, bloomBits(usdt))).toBe(true)
  })
})
