import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineConfig, kyt } from '@tollgate/sdk'
import { announceKytUpdate } from '../../src/core/compliance/announce.ts'
import { createTestApp, type TestApp, testConfig } from '../helpers/app.ts'
import { waitFor } from '../helpers/processes.ts'

// A running process keeps its own copy of the sanctions lists: an announced update (what `tollgate kyt update`
// sends after reloading) makes it reload them, and a list that no longer loads leaves it with the old one.

const listed = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const later = '0x722122dF12D4e14e13Ac3b6895a86e84145b6967'
let dir: string
let list: string
let app: TestApp

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kyt-notice-'))
  list = join(dir, 'eth.txt')
  writeFileSync(list, `${listed}\n`)
  const base = testConfig()
  app = await createTestApp({
    role: 'api',
    config: defineConfig({
      ...base,
      kyt: {
        sanctions: kyt(() => import('../../src/plugins/kyt-sanctions/index.ts'), {
          lists: [{ asset: 'ETH', file: list }],
        }),
      },
    }),
  })
})
afterAll(async () => {
  await app.close()
  rmSync(dir, { recursive: true, force: true })
})

const verdictOf = async (address: string) => {
  const provider = app.ctx.compliance.providers[0]!.provider
  const answer = await provider.screen({
    chain: 'eip155:31337',
    address,
    addressKey: address.toLowerCase(),
    direction: 'inbound',
  })
  return answer.verdict
}

describe('KYT list updates in a running process', () => {
  test('default: an announced update reloads the lists: an address added since is blocked', async () => {
    expect(await verdictOf(listed)).toBe('block')
    expect(await verdictOf(later)).toBe('allow')
    writeFileSync(list, `${listed}\n${later}\n`)
    // without the notice the process keeps the list it loaded
    expect(await verdictOf(later)).toBe('allow')
    await announceKytUpdate(app.ctx.db)
    await waitFor('the process reloaded its lists', async () => (await verdictOf(later)) === 'block', 5000)
    expect(app.logs.some((l) => l.msg === 'kyt: providers reloaded')).toBe(true)
  })

  test('error: a list that no longer loads keeps the old one, and the log says so', async () => {
    writeFileSync(list, 'not an address\n')
    await announceKytUpdate(app.ctx.db)
    await waitFor('the failed reload logged', async () =>
      app.logs.some(
        (l) => l.msg === 'kyt: reloading the providers failed; they keep the data they had' && l.level === 50,
      ),
    )
    expect(await verdictOf(later)).toBe('block')
  })
})
