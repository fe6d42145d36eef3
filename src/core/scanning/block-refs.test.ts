import { afterAll, describe, expect, test } from 'bun:test'
import type { BlockRef } from '@tollgate/sdk'
import { openUnitDb, toyChain } from '../../../test/helpers/unit.ts'
import { blocksLink, forgetBlocksAbove, storeBlockRefs, storedHashesAbove } from './block-refs.ts'

const ref = (height: bigint, hash: string, parentHash: string): BlockRef => ({
  height,
  hash,
  parentHash,
  time: 0,
})

describe('blocksLink', () => {
  const cursor = { height: 9n, hash: '0x09' }
  test('default: blocks that follow the cursor and each other link', () => {
    expect(blocksLink(cursor, [ref(10n, '0x0a', '0x09'), ref(11n, '0x0b', '0x0a')])).toBe(true)
    expect(blocksLink(cursor, [])).toBe(true)
  })
  test('behavior: the first block after genesis links onto the empty cursor whatever its parent', () => {
    expect(blocksLink({ height: -1n, hash: '' }, [ref(0n, '0x00', ''), ref(1n, '0x01', '0x00')])).toBe(true)
  })
  test("error: another parent, a gap or a repeated height don't link", () => {
    expect(blocksLink(cursor, [ref(10n, '0x0a', '0xff')])).toBe(false)
    expect(blocksLink(cursor, [ref(10n, '0x0a', '0x09'), ref(11n, '0x0b', '0xff')])).toBe(false)
    expect(blocksLink(cursor, [ref(11n, '0x0b', '0x09')])).toBe(false)
    expect(blocksLink(cursor, [ref(10n, '0x0a', '0x09'), ref(10n, '0x0a', '0x09')])).toBe(false)
  })
})

const handle = await openUnitDb()
afterAll(() => handle.close())
const heights = (stored: Map<bigint, string>) => [...stored.keys()].sort((a, b) => (a < b ? -1 : 1))

describe('storeBlockRefs', () => {
  test('behavior: keeps the unfinalized window, and a block stored again replaces its height', async () => {
    const toy = toyChain({ name: 'refs', finalityDepth: 3 })
    toy.mineEmpty(8)
    await handle.db.transaction((tx) => storeBlockRefs(tx, toy.chain, toy.blocks.slice(0, 5)))
    await handle.db.transaction((tx) => storeBlockRefs(tx, toy.chain, toy.blocks.slice(5)))
    const replaced = toy.blocks[8]!.hash
    toy.reorg(2, [[], []]) // heights 7..8 replaced
    await handle.db.transaction((tx) => storeBlockRefs(tx, toy.chain, toy.blocks.slice(7)))
    const stored = await storedHashesAbove(handle.db, 'refs', -1n)
    // last stored 8, finality 3: heights from 8 - 3 - 1 = 4 on stay; the rest no reorg can reach
    expect(heights(stored)).toEqual([4n, 5n, 6n, 7n, 8n])
    for (const [height, hash] of stored) expect(hash).toBe(toy.blocks[Number(height)]!.hash)
    expect(stored.get(8n)).not.toBe(replaced)

    await handle.db.transaction((tx) => forgetBlocksAbove(tx, 'refs', 6n))
    expect(heights(await storedHashesAbove(handle.db, 'refs', -1n))).toEqual([4n, 5n, 6n])
  })
})
