import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/chain.ts'
import { type GatewayProcess, repoRoot, spawnCli, spawnScript, waitFor } from '../helpers/processes.ts'

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sandbox-'))
let dev: GatewayProcess | undefined
afterAll(async () => {
  await dev?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('default: `tollgate dev` starts a sandbox on embedded defaults and `bun run demo` sees two payments complete', async () => {
  const env = {
    PORT: String(await freePort()),
    DEVNET_RPC_URL: `http://127.0.0.1:${await freePort()}`,
    REDIS_PREFIX: `sandbox-${crypto.randomUUID().slice(0, 8)}`,
    TOLLGATE_PLUGINS_CONFIG: join(repoRoot, 'plugins.config.ts'),
    LOG_LEVEL: 'warn',
  }
  // a new user's directory: no database, no seed, no anvil running
  dev = spawnCli(['dev'], env, dir)
  await waitFor(
    'the sandbox',
    () => {
      if (dev?.proc.exitCode !== null) throw new Error(`dev exited: ${dev?.output()}`)
      return dev.output().includes('Tollgate is running')
    },
    30_000,
  )
  expect(dev.output()).toContain('embedded PGlite')
  expect(dev.output()).toMatch(/API key \(shown once\) tg_[0-9a-f]{16}_/)
  // the printed checkout link opens a page for a real payment
  const checkout = /Checkout page\s+(\S+)/.exec(dev.output())?.[1]
  expect(checkout).toMatch(/\/pay\/pay_[0-9a-f]+\?secret=/)
  const page = await fetch(checkout!)
  expect(page.status).toBe(200)
  expect(await page.text()).toContain('Pay <span data-field="amountDue">0.01</span> ETH')
  const demo = spawnScript(join(repoRoot, 'src/demo.ts'), [], env, dir)
  const code = await demo.proc.exited
  expect(demo.output()).toContain('Both payments completed.')
  expect(code).toBe(0)
  // each payment is followed from its first state to COMPLETED (PROCESSING shows when the scan lands between blocks)
  const statuses = [...demo.output().matchAll(/^ +[\d.]+s +(PENDING|PROCESSING|COMPLETED)/gm)].map(
    (m) => m[1],
  )
  expect(statuses.filter((s) => s === 'PENDING').length).toBe(2)
  expect(statuses.filter((s) => s === 'COMPLETED').length).toBe(2)
  expect(statuses[0]).toBe('PENDING')
  expect(statuses.at(-1)).toBe('COMPLETED')
  // and the merchant's side: each completion arrived as a signed webhook that verified
  expect(
    demo.output().match(/webhook payment\.completed \(evt_[0-9a-f]+_\d+\) received, signature verified/g)
      ?.length,
  ).toBe(2)
  expect(demo.output()).toContain('checkout page: http://')
  // and the money goes out again: a withdrawal from the balance, paid from the treasury the sweeps filled
  expect(demo.output()).toMatch(/Withdrawal of 0\.01 ETH to 0x[0-9a-fA-F]{40}: wd_/)
  expect(demo.output()).toMatch(/CONFIRMED\s+tx 0x[0-9a-f]{64} fee 0\.\d+ ETH/)
}, 120_000)
