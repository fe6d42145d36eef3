import { describe, expect, test } from 'bun:test'
import { chain, type DriverLogger, type ExplorerSettings, type TollgateConfig } from '@tollgate/sdk'
import { explorerLink, explorerTemplateProblem } from '@tollgate/sdk/explorer'
import { loadChains, PluginConfigError } from './registry.ts'

// An explorer link the API hands out is only ever an http(s) page on the host the operator named: templates are
// checked at boot, and a hash or address filled in stays one segment of the URL.

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }
const evm = () => import('./evm/index.ts')

const configWith = (explorer: unknown): TollgateConfig => ({
  chains: {
    eth: chain(
      evm,
      { preset: 'ethereum', rpcUrls: ['http://127.0.0.1:1'] },
      { explorer: explorer as ExplorerSettings },
    ),
  },
})

async function problemsOf(explorer: unknown): Promise<string[]> {
  const outcome = await loadChains(configWith(explorer), silent).then(
    async (chains) => {
      await Promise.all([...chains.values()].map((c) => c.driver.close?.()))
      return [] as string[]
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(PluginConfigError)
      return (err as PluginConfigError).problems
    },
  )
  return outcome
}

describe('explorerTemplateProblem', () => {
  test('accepts http and https templates with the placeholder in the path or query', () => {
    expect(explorerTemplateProblem('tx', 'https://etherscan.io/tx/{tx}')).toBeNull()
    expect(explorerTemplateProblem('address', 'http://127.0.0.1:4000/address/{address}')).toBeNull()
    expect(explorerTemplateProblem('tx', 'https://mempool.space/?q={tx}#top')).toBeNull()
  })

  test('error: refuses other schemes, a missing placeholder, one in the host, credentials and odd text', () => {
    expect(explorerTemplateProblem('tx', 'javascript:alert({tx})')).toBe(
      'must be an http: or https: URL (got javascript:)',
    )
    expect(explorerTemplateProblem('tx', 'data:text/html,{tx}')).toBe(
      'must be an http: or https: URL (got data:)',
    )
    expect(explorerTemplateProblem('tx', 'https://etherscan.io/tx/')).toBe(
      'must contain the placeholder {tx}',
    )
    expect(explorerTemplateProblem('tx', 'https://etherscan.io/address/{address}')).toBe(
      'must contain the placeholder {tx}',
    )
    expect(explorerTemplateProblem('tx', 'https://{tx}.example/')).toBe(
      'must not have {tx} in the scheme, host or port',
    )
    expect(explorerTemplateProblem('tx', '{tx}')).toBe(
      'must be an absolute URL (e.g. https://explorer.example/tx/{tx})',
    )
    expect(explorerTemplateProblem('tx', 'https://user:pw@etherscan.io/tx/{tx}')).toBe(
      'must not contain credentials',
    )
    expect(explorerTemplateProblem('tx', 'java\tscript:{tx}')).toBe(
      'must not contain whitespace or control characters',
    )
    expect(explorerTemplateProblem('tx', 42)).toBe('must be a string')
    expect(explorerTemplateProblem('tx', `https://x.example/${'a'.repeat(2000)}/{tx}`)).toBe(
      'must be at most 2000 characters',
    )
  })
})

describe('explorerLink', () => {
  const explorer = { tx: 'https://etherscan.io/tx/{tx}', address: null }

  test('fills the template, the value percent-encoded so it cannot leave its segment', () => {
    expect(explorerLink(explorer, 'tx', '0xabc')).toBe('https://etherscan.io/tx/0xabc')
    const link = explorerLink(explorer, 'tx', '../../evil?x=1#y')!
    expect(link).toBe('https://etherscan.io/tx/..%2F..%2Fevil%3Fx%3D1%23y')
    expect(new URL(link).host).toBe('etherscan.io')
  })

  test('null without a template for the kind, or without an explorer', () => {
    expect(explorerLink(explorer, 'address', '0xabc')).toBeNull()
    expect(explorerLink(null, 'tx', '0xabc')).toBeNull()
    expect(explorerLink(undefined, 'tx', '0xabc')).toBeNull()
  })
})

describe('settings.explorer at boot', () => {
  test('a valid explorer loads and is kept on the chain', async () => {
    const chains = await loadChains(configWith({ tx: 'https://etherscan.io/tx/{tx}' }), silent)
    expect(chains.get('eth')?.settings.explorer).toEqual({
      tx: 'https://etherscan.io/tx/{tx}',
      address: null,
    })
    await Promise.all([...chains.values()].map((c) => c.driver.close?.()))
  })

  test('error: a javascript: template, an unknown key or a non-object is a config error under the chain', async () => {
    expect(await problemsOf({ tx: 'javascript:alert({tx})' })).toEqual([
      'chain "eth" (module "./evm/index.ts"): explorer.tx must be an http: or https: URL (got javascript:)',
    ])
    expect(await problemsOf({ address: 'https://etherscan.io/address/' })).toEqual([
      'chain "eth" (module "./evm/index.ts"): explorer.address must contain the placeholder {address}',
    ])
    const [unknown] = await problemsOf({ transaction: 'https://etherscan.io/tx/{tx}' })
    expect(unknown).toStartWith(
      'chain "eth" (module "./evm/index.ts"): explorer: unknown setting(s) transaction',
    )
    expect(await problemsOf('https://etherscan.io/tx/{tx}')).toEqual([
      'chain "eth" (module "./evm/index.ts"): explorer must be an object',
    ])
  })
})
