import { GatewayError } from '../errors.ts'

/**
 * A set of address keys (what `driver.addressKey` gives) packed for millions of entries: a `ReadonlySet<string>`
 * drivers scan with, that also takes new keys. Lowercase hex keys (`0x…` or bare, an even number of digits, EVM
 * addresses, Bitcoin scripts, Tron's `41…`) are held as raw bytes, about a fifth of what a `Set` of the strings
 * takes; any other key is kept as its string, so no key is ever lost or changed.
 */
export type CompactKeySet = ReadonlySet<string> & {
  /** Adds a key (a no-op when present). Pending keys are merged into the packed groups in batches. */
  add(key: string): void
  /** Merges the pending keys into the packed groups now. */
  compact(): void
  /** Bytes held by the packed groups and the fallback keys' characters (pending keys not counted). */
  bytes(): number
}

/** Longest hex key, in bytes, held packed; longer ones are fallback keys. */
const maxPackedWidth = 64
/** Pending keys that make `add` merge them into the packed groups. */
const defaultPendingLimit = 65_536
/**
 * Address space reserved per group: its buffer grows in place up to this (pages are committed only once
 * written), so neither growing nor merging ever holds two copies of a group.
 */
const reservedBytes = 2 ** 32

/** Digit values of lowercase hex characters, -1 for any other ASCII character. */
const hexValue = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) hexValue[48 + i] = i
for (let i = 0; i < 6; i++) hexValue[97 + i] = 10 + i

/** Where `has` decodes the key it looks up (lookups never interleave: no await between decoding and searching). */
const lookupBytes = new Uint8Array(maxPackedWidth)

/** Keys of one form: `prefix` + `width` bytes of lowercase hex, sorted by bytes and unique up to `count`. */
type Group = {
  prefix: '' | '0x'
  width: number
  buffer: ArrayBuffer
  /** Tracks the buffer's length as it grows and shrinks. */
  data: Uint8Array
  count: number
}

/**
 * Decodes a lowercase hex key into `out` at `at`. Answers its group code (digits, plus 1 when `0x`-prefixed;
 * the width is the code's half, rounded down), or -1 for a key held as a string.
 */
function decodeKey(key: string, out: Uint8Array, at: number): number {
  const length = key.length
  const start = length >= 2 && key.charCodeAt(0) === 48 && key.charCodeAt(1) === 120 ? 2 : 0
  const digits = length - start
  if (digits === 0 || (digits & 1) === 1 || digits > maxPackedWidth * 2) return -1
  for (let i = start, o = at; i < length; i += 2, o++) {
    const a = key.charCodeAt(i)
    const b = key.charCodeAt(i + 1)
    const high = a < 128 ? (hexValue[a] as number) : -1
    const low = b < 128 ? (hexValue[b] as number) : -1
    if ((high | low) < 0) return -1
    out[o] = (high << 4) | low
  }
  return digits + (start === 2 ? 1 : 0)
}

/** Compares the `width`-byte records at `a` of `x` and `b` of `y` (negative, zero, positive). */
function compareRecords(x: Uint8Array, a: number, y: Uint8Array, b: number, width: number): number {
  for (let j = 0; j < width; j++) {
    const c = (x[a + j] as number) - (y[b + j] as number)
    if (c !== 0) return c
  }
  return 0
}

/** Index of the first of `count` sorted records of `data` that is not below the record at `at` of `key`. */
function lowerBound(
  data: Uint8Array,
  width: number,
  count: number,
  key: Uint8Array,
  at: number,
  from = 0,
): number {
  let low = from
  let high = count
  while (low < high) {
    const mid = (low + high) >>> 1
    if (compareRecords(data, mid * width, key, at, width) < 0) low = mid + 1
    else high = mid
  }
  return low
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
/** Positions of a 64-bit entry's high and low 32-bit words in a `Uint32Array` view of a `BigUint64Array`. */
const highWord = littleEndian ? 1 : 0
const lowWord = littleEndian ? 0 : 1

/** Ranges of at most this many records are sorted by entries (cache-sized); larger ones are partitioned first. */
const leafRecords = 1 << 16

/**
 * Sorts the first `count` records of `data` by bytes and drops duplicates, in place; answers how many remain.
 * Ranges are split in place by one byte at a time (American flag sort: records move once, to 256 write
 * cursors, so memory is read in streams rather than at random) until small enough to sort by entries.
 */
function sortRecords(data: Uint8Array, width: number, count: number): number {
  if (count < 2) return count
  sortRange(data, width, 0, count, 0, new Uint8Array(width))
  let kept = 1
  for (let i = 1; i < count; i++) {
    if (compareRecords(data, (kept - 1) * width, data, i * width, width) === 0) continue
    if (kept !== i) data.copyWithin(kept * width, i * width, i * width + width)
    kept++
  }
  return kept
}

/** Sorts records `[start, start + count)`, which all share their first `depth` bytes. */
function sortRange(
  data: Uint8Array,
  width: number,
  start: number,
  count: number,
  depth: number,
  spare: Uint8Array,
): void {
  if (count < 2 || depth >= width) return
  if (count <= leafRecords) {
    sortLeaf(data.subarray(start * width, (start + count) * width), width, count, depth, spare)
    return
  }
  const end = start + count
  const counts = new Int32Array(256)
  for (let i = start; i < end; i++) {
    const digit = data[i * width + depth] as number
    counts[digit] = (counts[digit] as number) + 1
  }
  if (counts[data[start * width + depth] as number] === count) {
    sortRange(data, width, start, count, depth + 1, spare)
    return
  }
  const heads = new Int32Array(256)
  const tails = new Int32Array(256)
  for (let b = 0, at = start; b < 256; b++) {
    heads[b] = at
    at += counts[b] as number
    tails[b] = at
  }
  for (let b = 0; b < 256; b++) {
    while ((heads[b] as number) < (tails[b] as number)) {
      const at = heads[b] as number
      let digit = data[at * width + depth] as number
      if (digit === b) {
        heads[b] = at + 1
        continue
      }
      // carry the record at `at` along its cycle: each step puts the carried record in its bucket and picks up
      // the one that was there, until the carried record belongs at `at`
      for (let j = 0; j < width; j++) spare[j] = data[at * width + j] as number
      while (digit !== b) {
        let slot = heads[digit] as number
        while (data[slot * width + depth] === digit) slot++
        heads[digit] = slot + 1
        const offset = slot * width
        for (let j = 0; j < width; j++) {
          const held = data[offset + j] as number
          data[offset + j] = spare[j] as number
          spare[j] = held
        }
        digit = spare[depth] as number
      }
      for (let j = 0; j < width; j++) data[at * width + j] = spare[j] as number
      heads[b] = at + 1
    }
  }
  for (let b = 0, at = start; b < 256; b++) {
    const n = counts[b] as number
    sortRange(data, width, at, n, depth + 1, spare)
    at += n
  }
}

/**
 * Sorts `count` records (sharing their first `depth` bytes) by entries: each record gets one 64-bit entry, the
 * bits after the bytes all of them share then its index in the low bits; the entries sort natively, entries tied
 * on their bits are ordered by a full compare, and the records are permuted into place by following cycles.
 */
function sortLeaf(data: Uint8Array, width: number, count: number, depth: number, spare: Uint8Array): void {
  let shared = width
  for (let i = 1; i < count && shared > depth; i++) {
    const at = i * width
    let j = depth
    while (j < shared && data[at + j] === data[j]) j++
    shared = j
  }
  if (shared === width) return
  const indexBits = Math.max(1, Math.ceil(Math.log2(count)))
  const indexMask = 2 ** indexBits - 1
  const bitsMask = (0xffffffff - indexMask) >>> 0
  const entries = new BigUint64Array(count)
  const words = new Uint32Array(entries.buffer)
  for (let i = 0; i < count; i++) {
    const at = i * width + shared
    const left = width - shared
    let high = 0
    let low = 0
    for (let j = 0; j < 4; j++) high = (high << 8) | (j < left ? (data[at + j] as number) : 0)
    for (let j = 4; j < 8; j++) low = (low << 8) | (j < left ? (data[at + j] as number) : 0)
    words[2 * i + highWord] = high >>> 0
    words[2 * i + lowWord] = ((low & bitsMask) | i) >>> 0
  }
  entries.sort()
  const indexOf = (i: number) => (words[2 * i + lowWord] as number) & indexMask
  const bitsOf = (i: number) => ((words[2 * i + lowWord] as number) & bitsMask) >>> 0
  for (let i = 0; i < count - 1; ) {
    let end = i + 1
    while (end < count && words[2 * end + highWord] === words[2 * i + highWord] && bitsOf(end) === bitsOf(i))
      end++
    if (end - i > 1) {
      const tied: number[] = []
      for (let k = i; k < end; k++) tied.push(indexOf(k))
      tied.sort((a, b) => compareRecords(data, a * width, data, b * width, width) || a - b)
      const bits = bitsOf(i)
      for (let k = i; k < end; k++) words[2 * k + lowWord] = (bits | (tied[k - i] as number)) >>> 0
    }
    i = end
  }
  // high words become the permutation (position ← source record), low words the visited marks
  for (let i = 0; i < count; i++) {
    words[2 * i + highWord] = indexOf(i)
    words[2 * i + lowWord] = 0
  }
  for (let i = 0; i < count; i++) {
    if (words[2 * i + lowWord] === 1 || words[2 * i + highWord] === i) continue
    for (let j = 0; j < width; j++) spare[j] = data[i * width + j] as number
    let to = i
    for (;;) {
      words[2 * to + lowWord] = 1
      const from = words[2 * to + highWord] as number
      if (from === i) {
        for (let j = 0; j < width; j++) data[to * width + j] = spare[j] as number
        break
      }
      data.copyWithin(to * width, from * width, from * width + width)
      to = from
    }
  }
}

function reserve(bytes: number): ArrayBuffer {
  try {
    return new ArrayBuffer(bytes, { maxByteLength: Math.max(bytes, reservedBytes) })
  } catch (err) {
    // an address space that refuses the reservation: grow by copies past it
    if (!(err instanceof RangeError)) throw err
    return new ArrayBuffer(bytes, { maxByteLength: Math.max(bytes * 2, 1 << 20) })
  }
}

/** Makes room for `bytes` in the group's buffer: in place within its reservation, else by moving to a larger one. */
function ensureBytes(group: Group, bytes: number, slack: boolean): void {
  const { buffer } = group
  if (bytes <= buffer.byteLength) return
  const wanted = slack ? Math.max(bytes, buffer.byteLength * 2, 1 << 16) : bytes
  if (bytes <= buffer.maxByteLength) {
    buffer.resize(Math.min(buffer.maxByteLength, wanted))
    return
  }
  const moved = reserve(wanted)
  new Uint8Array(moved).set(group.data)
  group.buffer = moved
  group.data = new Uint8Array(moved)
}

function newGroup(code: number): Group {
  const buffer = reserve(0)
  return { prefix: code & 1 ? '0x' : '', width: code >>> 1, buffer, data: new Uint8Array(buffer), count: 0 }
}

/** Merges `fresh` (`count` unsorted records) into the group's sorted records, in place from the back. */
function mergeInto(group: Group, fresh: Uint8Array, freshCount: number): void {
  const { width } = group
  let added = sortRecords(fresh, width, freshCount)
  // drop records the group already holds, so the merged length is known before merging
  let kept = 0
  for (let j = 0; j < added; j++) {
    const at = lowerBound(group.data, width, group.count, fresh, j * width)
    if (at < group.count && compareRecords(group.data, at * width, fresh, j * width, width) === 0) continue
    if (kept !== j) fresh.copyWithin(kept * width, j * width, j * width + width)
    kept++
  }
  added = kept
  if (added === 0) return
  const total = group.count + added
  ensureBytes(group, total * width, false)
  const { data } = group
  let end = group.count // records [0, end) of the group are still to place
  let write = total
  for (let j = added - 1; j >= 0; j--) {
    const from = lowerBound(data, width, end, fresh, j * width)
    const run = end - from
    if (run > 0) data.copyWithin((write - run) * width, from * width, end * width)
    write -= run
    end = from
    write--
    data.set(fresh.subarray(j * width, j * width + width), write * width)
  }
  group.count = total
}

/** Appends a decoded key's bytes (in `lookupBytes`) to a group being built. */
function append(group: Group): void {
  const { width } = group
  const at = group.count * width
  ensureBytes(group, at + width, true)
  const { data } = group
  for (let j = 0; j < width; j++) data[at + j] = lookupBytes[j] as number
  group.count++
}

/** Sorted, duplicate-free copy of `keys` merged with the sorted, duplicate-free `sorted`. */
function mergeStrings(sorted: readonly string[], keys: readonly string[]): string[] {
  const all = [...sorted, ...keys].sort()
  return all.filter((key, i) => i === 0 || key !== all[i - 1])
}

function hasString(sorted: readonly string[], key: string): boolean {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((sorted[mid] as string) < key) low = mid + 1
    else high = mid
  }
  return sorted[low] === key
}

/** The set was compacted while one of its iterators was open. */
const changedDuringIteration = () =>
  new GatewayError(
    'bug',
    'KEY_SET_CHANGED',
    'a key set was compacted while it was being iterated: finish iterating before adding that many keys',
  )

/**
 * A packed key set holding `keys` (duplicates count once). Lookups decode the key and binary-search its group's
 * bytes; iteration gives back every key exactly as it was given. Adds go to a pending `Set` merged in batches
 * (of `pendingLimit`, 64k by default); an iterator open across such a merge throws `KEY_SET_CHANGED`.
 * 10M EVM addresses take 200 MB (a `Set` of their strings about 1 GB).
 *
 * @example
 * const watch = createKeySet(['0x52908400098527886e0f7030069857d2e4169ee7', '0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2'])
 * watch.add('41a614f803b6fd780986a42c78ec9c7f77e6ded13c')
 * watch.has('0x52908400098527886e0f7030069857d2e4169ee7') // true
 * await driver.scan({ from, to, watch })
 */
export function createKeySet(
  keys: Iterable<string> = [],
  options: { pendingLimit?: number } = {},
): CompactKeySet {
  const pendingLimit = options.pendingLimit ?? defaultPendingLimit
  /** Groups by code (see `decodeKey`), and in creation order for iteration. */
  const byCode: (Group | undefined)[] = []
  const groups: Group[] = []
  let fallback: string[] = []
  const pending = new Set<string>()
  let packedCount = 0
  /** Bumped by every merge: open iterators see it and stop. */
  let version = 0

  const groupOf = (code: number) => {
    let group = byCode[code]
    if (!group) {
      group = newGroup(code)
      byCode[code] = group
      groups.push(group)
    }
    return group
  }

  const loose: string[] = []
  for (const key of keys) {
    const code = decodeKey(key, lookupBytes, 0)
    if (code < 0) loose.push(key)
    else append(groupOf(code))
  }
  for (const group of groups) {
    group.count = sortRecords(group.data, group.width, group.count)
    group.buffer.resize(group.count * group.width)
    packedCount += group.count
  }
  fallback = mergeStrings([], loose)
  packedCount += fallback.length

  function hasPacked(key: string): boolean {
    const code = decodeKey(key, lookupBytes, 0)
    if (code < 0) return hasString(fallback, key)
    const group = byCode[code]
    if (!group) return false
    const at = lowerBound(group.data, group.width, group.count, lookupBytes, 0)
    return at < group.count && compareRecords(group.data, at * group.width, lookupBytes, 0, group.width) === 0
  }

  function compact(): void {
    if (pending.size === 0) return
    const counts = new Map<number, number>()
    const strings: string[] = []
    for (const key of pending) {
      const code = decodeKey(key, lookupBytes, 0)
      if (code < 0) strings.push(key)
      else counts.set(code, (counts.get(code) ?? 0) + 1)
    }
    const fresh = new Map<number, { bytes: Uint8Array; count: number }>()
    for (const [code, count] of counts)
      fresh.set(code, { bytes: new Uint8Array(count * (code >>> 1)), count: 0 })
    for (const key of pending) {
      const code = decodeKey(key, lookupBytes, 0)
      const batch = code < 0 ? undefined : fresh.get(code)
      if (!batch) continue
      decodeKey(key, batch.bytes, batch.count * (code >>> 1))
      batch.count++
    }
    version++
    for (const [code, batch] of fresh) {
      const group = groupOf(code)
      packedCount -= group.count
      mergeInto(group, batch.bytes, batch.count)
      packedCount += group.count
    }
    if (strings.length > 0) {
      packedCount -= fallback.length
      fallback = mergeStrings(fallback, strings)
      packedCount += fallback.length
    }
    pending.clear()
  }

  function* iterate(): Generator<string, undefined, unknown> {
    const opened = version
    for (const group of groups) {
      const { width, prefix, count } = group
      const hex = Buffer.from(group.buffer, 0, count * width)
      for (let i = 0; i < count; i++) {
        if (version !== opened) throw changedDuringIteration()
        yield prefix + hex.toString('hex', i * width, i * width + width)
      }
    }
    for (const key of fallback) {
      if (version !== opened) throw changedDuringIteration()
      yield key
    }
    for (const key of pending) {
      if (version !== opened) throw changedDuringIteration()
      yield key
    }
    return undefined
  }

  const set: CompactKeySet = {
    get size() {
      return packedCount + pending.size
    },
    has(key: string): boolean {
      return (pending.size > 0 && pending.has(key)) || hasPacked(key)
    },
    add(key: string): void {
      if (pending.has(key) || hasPacked(key)) return
      pending.add(key)
      if (pending.size >= pendingLimit) compact()
    },
    compact,
    bytes(): number {
      let total = 0
      for (const group of groups) total += group.buffer.byteLength
      for (const key of fallback) total += key.length * 2
      return total
    },
    forEach(callback: (value: string, value2: string, set: ReadonlySet<string>) => void, thisArg?: unknown) {
      for (const key of iterate()) callback.call(thisArg, key, key, set)
    },
    keys: iterate,
    values: iterate,
    *entries(): Generator<[string, string], undefined, unknown> {
      for (const key of iterate()) yield [key, key]
      return undefined
    },
    [Symbol.iterator]: iterate,
  }
  return set
}

/**
 * A view of several key sets as one, copying nothing: a key is in it when any member has it, and iterating it
 * iterates each member in turn. Meant for disjoint sets (a chain's payment addresses and its customers' deposit
 * addresses): a key two members hold counts twice in `size` and is yielded twice. Members' later adds show.
 *
 * @example
 * const watch = unionKeySets(paymentKeys, createKeySet(depositKeys))
 * await driver.scan({ from, to, watch })
 */
export function unionKeySets(...sets: ReadonlySet<string>[]): ReadonlySet<string> {
  function* iterate(): Generator<string, undefined, unknown> {
    for (const member of sets) yield* member
    return undefined
  }
  const union: ReadonlySet<string> = {
    get size() {
      let total = 0
      for (const member of sets) total += member.size
      return total
    },
    has: (key: string) => sets.some((member) => member.has(key)),
    forEach(callback: (value: string, value2: string, set: ReadonlySet<string>) => void, thisArg?: unknown) {
      for (const key of iterate()) callback.call(thisArg, key, key, union)
    },
    keys: iterate,
    values: iterate,
    *entries(): Generator<[string, string], undefined, unknown> {
      for (const key of iterate()) yield [key, key]
      return undefined
    },
    [Symbol.iterator]: iterate,
  }
  return union
}
