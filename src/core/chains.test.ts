import { describe, expect, test } from 'bun:test'
import { toyChain } from '../../test/helpers/unit.ts'
import { assetById, resolveAsset, resolveChain } from './chains.ts'
import { TollgateError } from './errors.ts'

const toy = toyChain()
const other = toyChain({ name: 'other' })
const chains = new Map([
  ['toy', toy.chain],
  ['other', other.chain],
])

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): TollgateError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError)
    return err as TollgateError
  }
  throw new Error('expected a throw')
}

describe('resolveChain', () => {
  test('default: a configured chain by name', () => {
    expect(resolveChain(chains, 'toy')).toBe(toy.chain)
    expect(resolveChain(chains, 'other')).toBe(other.chain)
  })

  test('error: an unknown name (or a near miss) is UNKNOWN_CHAIN on field chain, listing the configured ones', () => {
    for (const name of ['ethereum', 'TOY', 'toy ', '', 'toy:toy']) {
      const err = thrown(() => resolveChain(chains, name))
      expect(err.code).toBe('UNKNOWN_CHAIN')
      expect(err.field).toBe('chain')
      expect(err.message).toContain('toy, other')
    }
  })
})

describe('resolveAsset', () => {
  test('default: by symbol or by CAIP-19 id', () => {
    expect(resolveAsset(toy.chain, 'TOY')).toBe(toy.native)
    expect(resolveAsset(toy.chain, 'TOK')).toBe(toy.token)
    expect(resolveAsset(toy.chain, toy.native.id)).toBe(toy.native)
    expect(resolveAsset(toy.chain, toy.token.id)).toBe(toy.token)
  })

  test('error: an unknown asset, another chain’s id, or a wrong case is UNKNOWN_ASSET on field asset', () => {
    for (const asset of ['ETH', 'tok', '', other.token.id, 'tok:tok']) {
      const err = thrown(() => resolveAsset(toy.chain, asset))
      expect(err.code).toBe('UNKNOWN_ASSET')
      expect(err.field).toBe('asset')
      expect(err.message).toContain('toy')
      expect(err.message).toContain('TOY, TOK')
    }
  })
})

describe('assetById', () => {
  test('default: a stored payment’s asset through its chain', () => {
    expect(assetById(chains, 'toy', toy.token.id)).toBe(toy.token)
  })

  test('error: a chain no longer configured is UNKNOWN_CHAIN; an asset no longer listed is UNKNOWN_ASSET', () => {
    expect(thrown(() => assetById(chains, 'gone', toy.token.id)).code).toBe('UNKNOWN_CHAIN')
    expect(thrown(() => assetById(chains, 'other', toy.token.id)).code).toBe('UNKNOWN_ASSET')
  })
})
