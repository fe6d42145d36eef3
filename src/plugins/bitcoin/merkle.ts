/**
 * Bitcoin's double SHA-256 (txids, block hashes, merkle nodes), on the runtime's native SHA-256: a block's
 * transactions are hashed once each on every scan, which a JavaScript SHA-256 made the largest cost of parsing.
 *
 * @example
 * sha256d(headerBytes).reverse() // the block hash in internal order, reversed for display
 */
export function sha256d(data: Uint8Array): Uint8Array {
  return Bun.SHA256.hash(Bun.SHA256.hash(data) as Uint8Array) as Uint8Array
}

/** A merkle root and whether the tree was mutated (see `merkleRoot`). */
export type MerkleRoot = { root: Uint8Array; mutated: boolean }

/**
 * The merkle root (internal byte order) of transaction hashes in internal byte order, each level's odd last
 * hash paired with itself. `mutated` is true when some level pairs two equal hashes: a transaction list that
 * repeats its tail (CVE-2012-2459) has the same root as the real one, so a matching root proves the list only
 * when it is not mutated (Bitcoin Core's `BlockMerkleRoot` makes the same check).
 *
 * @example
 * const { root, mutated } = merkleRoot(txHashes)
 */
export function merkleRoot(hashes: readonly Uint8Array[]): MerkleRoot {
  let level = hashes
  let mutated = false
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array
      const right = level[i + 1]
      if (right !== undefined && sameBytes(left, right)) mutated = true
      const pair = new Uint8Array(64)
      pair.set(left, 0)
      pair.set(right ?? left, 32)
      next.push(sha256d(pair))
    }
    level = next
  }
  return { root: level[0] ?? new Uint8Array(32), mutated }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
