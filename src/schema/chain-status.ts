import { createContextCache } from '@pothos/core'
import { type ChainStatus, type DegradedReason, readChainStatus } from '../chain-status.ts'
import { invariantBroken } from '../core/errors.ts'
import { builder } from './builder.ts'
import type { GraphQLContext } from './context.ts'

// How far behind a chain is, as any authenticated merchant may see it: heights, ages, error codes and the
// reasons it is degraded. Never a message or a URL (nodes' URLs carry their keys), nor other merchants' counts:
// the payout backlog shows as the age of the oldest waiting withdrawal, not how many there are.

const DegradedReasonRef = builder.enumType('ChainDegradedReason', {
  description:
    "Why a chain is degraded (past the gateway's thresholds). It still takes payments; detection or payouts run late.",
  values: {
    WRONG_NETWORK: {
      description:
        "The chain's node is on another network than the configured one; scanning stopped and payments are refused",
    },
    HALTED: { description: 'Scanning stopped on a reorg deeper than finality; an operator must resume it' },
    NODE_UNREACHABLE: { description: "The chain's node did not answer this process just now" },
    SCAN_LAG: { description: "Scanning is behind the node's tip" },
    NODE_BEHIND: { description: "The node's tip is below what was already scanned (a stale node)" },
    SCAN_STALLED: { description: 'No scan has succeeded for a while' },
    STALE_TIP: { description: "The node's tip has not moved for a while (a stale node, or a halted chain)" },
    PAYOUTS_STALLED: { description: 'No payout pass has finished for a while' },
    PAYOUTS_FAILING: { description: 'Payout passes have been failing for a while' },
    PAYOUTS_BACKLOG: { description: 'The oldest queued withdrawal has waited longer than expected' },
  } satisfies Record<DegradedReason, { description: string }>,
})

const PayoutStageFailureRef = builder
  .objectRef<{ stage: string; code: string }>('PayoutStageFailure')
  .implement({
    description: 'A stage of the last payout pass that failed, and its error code.',
    fields: (t) => ({
      stage: t.exposeString('stage', {
        description: 'sweeps, consolidation, batching, cold storage, outbound',
      }),
      code: t.exposeString('code'),
    }),
  })

const PayoutStatusRef = builder.objectRef<ChainStatus['payouts']>('PayoutStatus').implement({
  description: "How the chain's payouts are going (the signer's passes and what waits for them).",
  fields: (t) => ({
    lastPassAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a payout pass last finished (null until one ran)',
      resolve: (p) => p.lastPass?.finishedAt ?? null,
    }),
    lastPassDurationMs: t.int({ nullable: true, resolve: (p) => p.lastPass?.durationMs ?? null }),
    failedStages: t.field({
      type: [PayoutStageFailureRef],
      description: 'Stages of the last pass that failed (the pass went on with the others)',
      resolve: (p) => p.lastPass?.failedStages ?? [],
    }),
    failedSteps: t.int({
      description: 'Transactions or sweeps whose step failed in the last pass',
      resolve: (p) => p.lastPass?.failedSteps ?? 0,
    }),
    lastErrorCode: t.string({ nullable: true, resolve: (p) => p.lastPass?.lastErrorCode ?? null }),
    lastErrorAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (p) => p.lastPass?.lastErrorAt ?? null,
    }),
    oldestQueuedSeconds: t.int({
      nullable: true,
      description: 'How long the oldest withdrawal waiting to be sent has waited (null: none waits)',
      resolve: (p) => p.queued.oldestAgeSeconds,
    }),
    oldestInFlightSeconds: t.int({
      nullable: true,
      description: 'How long the oldest sent, unconfirmed withdrawal has been under way (null: none)',
      resolve: (p) => p.inFlight.oldestAgeSeconds,
    }),
  }),
})

export const ChainStatusRef = builder.objectRef<ChainStatus>('ChainStatus').implement({
  description: "How far behind the gateway is on a chain: its scanning of the node's blocks and its payouts.",
  fields: (t) => ({
    tip: t.string({
      nullable: true,
      description: "The node's tip as the scanner last saw it",
      resolve: (s) => s.tip?.toString() ?? null,
    }),
    scannedHeight: t.string({
      nullable: true,
      description: 'The last block scanned (null before the first scan)',
      resolve: (s) => s.scannedHeight?.toString() ?? null,
    }),
    lagBlocks: t.int({
      nullable: true,
      description: 'Blocks between the tip and the last block scanned',
      resolve: (s) => s.lagBlocks,
    }),
    lastScanAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a scan last succeeded',
      resolve: (s) => s.lastScanAt,
    }),
    lastScanAgeSeconds: t.int({ nullable: true, resolve: (s) => s.lastScanAgeSeconds }),
    tipAgeSeconds: t.int({
      nullable: true,
      description: "Seconds since the node's tip last moved",
      resolve: (s) => s.tipAgeSeconds,
    }),
    lastErrorCode: t.string({
      nullable: true,
      description: 'The code of the last failed scan (RPC_ERROR, RPC_DEADLINE…); see lastErrorAt for when',
      resolve: (s) => s.lastErrorCode,
    }),
    lastErrorAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastErrorAt }),
    failedRuns: t.int({
      description: 'Scans failed in a row (0 once one succeeds)',
      resolve: (s) => s.failedRuns,
    }),
    rpcCallsPerBlock: t.float({
      nullable: true,
      description:
        'RPC calls per block the last scan that read blocks made (null where the driver does not count)',
      resolve: (s) => s.rpcCallsPerBlock,
    }),
    rpcBytesPerBlock: t.float({
      nullable: true,
      description: 'RPC response bytes per block the last scan that read blocks received',
      resolve: (s) => s.rpcBytesPerBlock,
    }),
    halted: t.boolean({ resolve: (s) => s.halted }),
    degraded: t.field({
      type: [DegradedReasonRef],
      description: 'Empty while the chain keeps up',
      resolve: (s) => s.degraded,
    }),
    payouts: t.field({ type: PayoutStatusRef, resolve: (s) => s.payouts }),
  }),
})

/** Every chain's status, read once per request whichever chains ask. */
const statusOf = createContextCache((ctx: GraphQLContext) => {
  let read: Promise<Map<string, ChainStatus>> | undefined
  return (chain: string) => {
    read ??= readChainStatus(ctx.app).then((all) => new Map(all.map((s) => [s.chain, s])))
    return read.then((all) => all.get(chain))
  }
})

/**
 * The status of one chain for a resolver (one read per request for all of them).
 *
 * @example
 * resolve: (chain, _args, ctx) => loadChainStatus(ctx, chain.name)
 */
export async function loadChainStatus(ctx: GraphQLContext, chain: string): Promise<ChainStatus> {
  const status = await statusOf(ctx)(chain)
  // every configured chain has one (readChainStatus answers each, scanned or not)
  if (!status) throw invariantBroken('CHAIN_STATUS_MISSING', `no status for chain ${chain}`)
  return status
}
