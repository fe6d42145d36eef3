import { eq } from 'drizzle-orm'
import { parseEther } from 'viem'
import { createPayment } from '../../src/core/payments/create.ts'
import { chainCursors, payments } from '../../src/db/schema/index.ts'
import { createTestApp, type TestApp, testConfig } from './app.ts'
import { type Devnet, gatewayMnemonic, startDevnet } from './chain.ts'
import { type GatewayProcess, spawnWorker, waitFor } from './processes.ts'

export type FailoverScene = Awaited<ReturnType<typeof startFailoverScene>>

/** Polls faster than `waitFor`: a measurement taken from it is no coarser than this. */
const pollMs = 10

/**
 * A devnet and a gateway database with the API context in this process (no workers), and the means to run
 * chain workers against them as real processes and to pay a payment: the scene of the scanner failover test
 * and bench. `env` adds to the context's environment (e.g. SCANNER_LEASE_MS).
 *
 * @example
 * const scene = await startFailoverScene()
 * const { holder, standby, owner } = await scene.pair(1500)
 * await holder.kill()
 * await scene.heldBy(standby, await scene.leaseTaken(owner))
 */
export async function startFailoverScene(env: Record<string, string> = {}) {
  const devnet: Devnet = await startDevnet()
  const app: TestApp = await createTestApp({
    config: testConfig(devnet.url),
    env: { TOLLGATE_SEED: gatewayMnemonic, ...env },
  })

  async function cursor() {
    const [row] = await app.ctx.db.select().from(chainCursors).where(eq(chainCursors.chain, 'devnet'))
    return row
  }

  /** The environment of a chain worker process on this scene, holding the chain for `leaseMs` at a time. */
  function workerEnv(leaseMs: number): Record<string, string> {
    return {
      DATABASE_URL: app.databaseUrl,
      REDIS_PREFIX: app.ctx.env.REDIS_PREFIX,
      TOLLGATE_SEED: gatewayMnemonic,
      TOLLGATE_PLUGINS_CONFIG: 'test/fixtures/plugins.config.ts',
      TEST_RPC_URL: devnet.url,
      TEST_CONFIRMATIONS: '3',
      SCANNER_LEASE_MS: String(leaseMs),
      LOG_LEVEL: 'info',
    }
  }

  /** Of two running workers, the one holding the chain's lease (its owner id is in its log) and the other. */
  async function roles(a: GatewayProcess, b: GatewayProcess) {
    return waitFor('a worker holds the lease', async () => {
      const owner = (await cursor())?.leaseOwner
      if (!owner) return undefined
      if (a.output().includes(owner)) return { holder: a, standby: b, owner }
      if (b.output().includes(owner)) return { holder: b, standby: a, owner }
      return undefined
    })
  }

  return {
    devnet,
    app,
    cursor,
    workerEnv,
    roles,
    /** Two workers, the first started taking the chain's lease; returns them as holder and standby. */
    async pair(leaseMs: number) {
      const first = await spawnWorker(workerEnv(leaseMs))
      await waitFor('first worker holds the lease', async () => (await cursor())?.leaseOwner)
      const second = await spawnWorker(workerEnv(leaseMs))
      return roles(first, second)
    },
    /** Resolves with the new owner once the lease belongs to someone other than `before`. */
    leaseTaken: (before: string | null | undefined, timeoutMs = 15_000) =>
      poll(
        'another worker takes the lease',
        async () => {
          const owner = (await cursor())?.leaseOwner
          return owner && owner !== before ? owner : undefined
        },
        timeoutMs,
      ),
    /** Waits until `worker` logged taking the lease as `owner` (the log line follows the database write). */
    heldBy: (worker: GatewayProcess, owner: string) =>
      waitFor(`the worker took the lease as ${owner}`, () => worker.output().includes(owner), 5000),
    /** A payment created and paid in full now (its block mined); `seen` waits until a scanner saw it. */
    async payNow(merchantId: string) {
      const { payment } = await createPayment(app.ctx, merchantId, {
        chain: 'devnet',
        asset: 'ETH',
        amount: '0.01',
      })
      await devnet.payNative(payment.address, parseEther('0.01'))
      await devnet.mine(1)
      return {
        /** Resolves with the payment's status once it left PENDING (PROCESSING or further). */
        seen: (timeoutMs = 15_000) =>
          poll(
            `payment ${payment.id} detected`,
            async () => {
              const [row] = await app.ctx.db.select().from(payments).where(eq(payments.id, payment.id))
              return row && row.status !== 'PENDING' ? row.status : undefined
            },
            timeoutMs,
          ),
      }
    },
    async stop() {
      await app.close()
      await devnet.stop()
    },
  }
}

async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(pollMs)
  }
}
