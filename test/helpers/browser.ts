import { expect } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'

/** Debian's Chromium; `.ci/run` installs it when missing (browsers cannot be downloaded here). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Screenshots go here for a human to look at after a run; the folder is not committed. */
export const artifactsDir = join(import.meta.dir, '../../test-artifacts')

/**
 * A headless Chromium for browser tests.
 *
 * @example
 * const browser = await launchBrowser()
 * afterAll(() => browser.close())
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath))
    throw new Error(
      `Chromium not found at ${chromiumPath}: install Debian's chromium package (apt-get install chromium)`,
    )
  mkdirSync(artifactsDir, { recursive: true })
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/**
 * Expects a checkout page's rate lock (`#rate-lock`) to start at the default 15 minutes and to count down live,
 * its text changing without a reload.
 */
export async function expectRateLockCountingDown(page: Page) {
  const text = async () => (await page.locator('#rate-lock').textContent())?.trim()
  const first = await text()
  expect(first).toMatch(/^Rate locked for (14:[0-5]\d|15:00)$/)
  await page.waitForFunction(
    (before) => document.getElementById('rate-lock')?.textContent?.trim() !== before,
    first,
  )
  expect(await text()).toMatch(/^Rate locked for 14:[0-5]\d$/)
}
