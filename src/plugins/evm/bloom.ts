import { hexToBytes, keccak256 } from 'viem'

/** Where one item sets its three bits in a 2048-bit (256-byte) logs bloom: a byte offset and a bit mask each. */
export type BloomBits = readonly (readonly [byte: number, mask: number])[]

/**
 * The three bits an item (a log's address, or one of its topics, as raw bytes) sets in a block's `logsBloom`,
 * per the yellow paper (M3:2048): the low 11 bits of each of the first three byte pairs of keccak256(item) name
 * a bit of the bloom, counted from its last byte.
 *
 * @example
 * const bits = bloomBits('0xdac17f958d2ee523a2206206994597c13d831ec7')
 */
export function bloomBits(item: `0x${string}`): BloomBits {
  const hash = hexToBytes(keccak256(hexToBytes(item)))
  const bits: [number, number][] = []
  for (let i = 0; i < 6; i += 2) {
    const bit = (((hash[i] as number) << 8) | (hash[i + 1] as number)) & 2047
    bits.push([255 - (bit >> 3), 1 << (bit & 7)])
  }
  return bits
}

/** The bloom as bytes, or undefined when it is missing or not 256 bytes of hex (nothing can be ruled out then). */
export function parseBloom(bloom: string | undefined | null): Uint8Array | undefined {
  if (typeof bloom !== 'string' || !/^0x[0-9a-fA-F]{512}$/.test(bloom)) return undefined
  return hexToBytes(bloom as `0x${string}`)
}

/** True when every bit the item sets is set in the bloom: the item may be in the block (false positives happen). */
export function bloomHas(bloom: Uint8Array, bits: BloomBits): boolean {
  for (const [byte, mask] of bits) if (((bloom[byte] as number) & mask) === 0) return false
  return true
}

/**
 * A test for "may this block hold a log of one of `addresses` with `topic`": the contract's address and the
 * topic must both be in the bloom. A missing or malformed bloom answers true (it cannot rule anything out).
 *
 * @example
 * const mayHold = bloomFilterFor([usdt], transferTopic)
 * if (mayHold(block.logsBloom) && !logsOf(block)) askAgain(block)
 */
export function bloomFilterFor(
  addresses: readonly string[],
  topic: string,
): (bloom: string | undefined) => boolean {
  const addressBits = addresses.map((a) => bloomBits(a.toLowerCase() as `0x${string}`))
  const topicBits = bloomBits(topic.toLowerCase() as `0x${string}`)
  return (raw) => {
    const bloom = parseBloom(raw)
    if (!bloom) return true
    return bloomHas(bloom, topicBits) && addressBits.some((bits) => bloomHas(bloom, bits))
  }
}
