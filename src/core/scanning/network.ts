import type { NetworkCheck } from '@tollgate/sdk'
import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { chainNetworks } from '../../db/schema/index.ts'
import { chainSettingDefaults, type LoadedChain } from '../../plugins/registry.ts'
import { callDeadlineExceeded, withDeadline } from '../deadlines.ts'
import { wrongNetwork } from './errors.ts'

// A node on another network than the configured one (an `ethereum` chain pointed at a BSC or a devnet node) would
// feed the scanner blocks and transfers of a chain the payments are not on. The scanner asks the driver before
// its first run, after any failed run (a node that came back may be another node) and every few minutes, keeps
// the last good verdict meanwhile, and records each verdict for every process to read (readiness, Chain.status,
// createPayment). A wrong verdict is asked again at every run, so the chain comes back as soon as the node does.

/** How long a good verdict is trusted before the node is asked again. */
export const networkRecheckMs = 5 * 60_000

/** The scanner's last verdict per chain: when it was asked and what it said. */
export type NetworkVerdicts = Map<string, { at: number; check: NetworkCheck }>

/** What a wrong-network verdict says to operators: chain, expected and actual network. */
export function wrongNetworkMessage(chain: string, expected: string, actual: string): string {
  return `chain "${chain}": the node is on ${actual}, the chain is configured for ${expected}; scanning stopped until the node is on ${expected}`
}

/**
 * Records a verdict (the mismatch, or none) for every process to read.
 *
 * @example
 * await recordNetworkCheck(db, 'ethereum', { ok: false, expected: 'eip155:1', actual: 'eip155:56' })
 */
export async function recordNetworkCheck(db: Db, chain: string, check: NetworkCheck): Promise<void> {
  const values = check.ok
    ? { expected: null, actual: null }
    : { expected: check.expected, actual: check.actual }
  await db
    .insert(chainNetworks)
    .values({ chain, ...values })
    .onConflictDoUpdate({ target: chainNetworks.chain, set: { ...values, checkedAt: sql`now()` } })
}

/** The driver's answer within the chain's call deadline (0: the driver's own timeouts only). */
function askNode(chain: LoadedChain): Promise<NetworkCheck> {
  const driver = chain.driver
  const ms = chain.settings.callTimeoutMs ?? chainSettingDefaults.callTimeoutMs
  const ask = (signal?: AbortSignal) =>
    (driver.checkNetwork as NonNullable<typeof driver.checkNetwork>)(signal)
  if (ms <= 0) return ask()
  return withDeadline(ms, () => callDeadlineExceeded(chain.name, 'checkNetwork', ms), ask)
}

type NetworkContext = {
  db: Db
  log: { info(obj: object, msg?: string): void; error(obj: object, msg?: string): void }
  verdicts: NetworkVerdicts
}

/**
 * The chain's node verdict for this run: the cached good one while it is fresh, otherwise the driver's answer
 * (recorded, and logged when it changes: an error naming chain, expected and actual network). A driver without
 * `checkNetwork` is taken at its word. A node that cannot be asked rejects (the run fails as for any call) and
 * its verdict is forgotten, so the next run asks again.
 *
 * @example
 * const verdict = await verifyNetwork({ db, log, verdicts: scanner.network }, chain)
 * if (!verdict.ok) return // scanning stays stopped
 */
export async function verifyNetwork(ctx: NetworkContext, chain: LoadedChain): Promise<NetworkCheck> {
  const check = chain.driver.checkNetwork
  if (!check) return { ok: true }
  const before = ctx.verdicts.get(chain.name)
  if (before?.check.ok && Date.now() - before.at < networkRecheckMs) return before.check
  let verdict: NetworkCheck
  try {
    verdict = await askNode(chain)
  } catch (err) {
    ctx.verdicts.delete(chain.name)
    throw err
  }
  ctx.verdicts.set(chain.name, { at: Date.now(), check: verdict })
  const changed =
    !before ||
    before.check.ok !== verdict.ok ||
    (!verdict.ok && !before.check.ok && before.check.actual !== verdict.actual)
  if (changed) await recordNetworkCheck(ctx.db, chain.name, verdict)
  if (!verdict.ok && changed)
    ctx.log.error(
      { chain: chain.name, expected: verdict.expected, actual: verdict.actual, code: 'WRONG_NETWORK' },
      wrongNetworkMessage(chain.name, verdict.expected, verdict.actual),
    )
  else if (verdict.ok && before && !before.check.ok)
    ctx.log.info({ chain: chain.name }, 'the node is on the configured network again; scanning resumes')
  return verdict
}

/**
 * Refuses to take a first cursor from a node on another network (the heartbeat may create the cursor before
 * any run checked): a permanent `WRONG_NETWORK` error, recorded like a run's verdict.
 *
 * @example
 * await assertNetwork(db, chain) // before the first getTip of a new chain
 */
export async function assertNetwork(db: Db, chain: LoadedChain): Promise<void> {
  if (!chain.driver.checkNetwork) return
  const verdict = await askNode(chain)
  if (verdict.ok) return
  await recordNetworkCheck(db, chain.name, verdict)
  throw wrongNetwork(chain.name, verdict.expected, verdict.actual)
}

/**
 * Every chain whose node was last found on another network: the configured and the node's network.
 *
 * @example
 * (await readWrongNetworks(db)).get('ethereum') // { expected: 'eip155:1', actual: 'eip155:56' }
 */
export async function readWrongNetworks(db: Db): Promise<Map<string, { expected: string; actual: string }>> {
  const rows = await db.select().from(chainNetworks)
  return new Map(
    rows.flatMap((r) =>
      r.actual && r.expected ? [[r.chain, { expected: r.expected, actual: r.actual }]] : [],
    ),
  )
}
