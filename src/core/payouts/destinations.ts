import type { AssetInfo } from '@tollgate/sdk'
import { and, eq, or, type SQL, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { addresses, outboundTxs } from '../../db/schema/index.ts'
import type { ChainRegistry, LoadedChain } from '../../plugins/registry.ts'
import { can } from '../chains.ts'
import { withCallDeadlines } from '../deadlines.ts'
import { TollgateError } from '../errors.ts'
import { roleWallet, walletRoles } from './wallet-roles.ts'

export type DestinationContext = {
  db: Db
  chains: ChainRegistry
  /** Account xpubs, to derive the treasury and gas tank (and the treasury the driver's check sends from). */
  xpubFor(accountPath: string): string
}

/** Which of the gateway's own addresses a string is, and on which chain. */
export type OwnAddress = {
  chain: string
  role: 'treasury' | 'gas tank' | 'cold storage' | 'change' | 'deposit'
}

const roleNames = { treasury: 'treasury', gas: 'gas tank' } as const

/**
 * Whether `to` is an address the gateway itself holds on any configured chain: a wallet role (treasury, gas
 * tank), the cold address, a UTXO change address it handed out, or a deposit address of any merchant (every
 * derived one, handed out or still in the pool). Each chain compares in its own normalized form and address
 * key, so every spelling of an address (checksum or lowercase, base58 or hex) is the same address. Chains
 * whose address format `to` does not fit are skipped.
 *
 * @example
 * await ownAddress(ctx, '0xab5801a7d398351b8be11c439e05c5b3259aec9b') // { chain: 'ethereum', role: 'treasury' }
 */
export async function ownAddress(ctx: DestinationContext, to: string): Promise<OwnAddress | undefined> {
  const stored: SQL[] = []
  const change: SQL[] = []
  for (const chain of ctx.chains.values()) {
    const valid = chain.driver.validateAddress(to)
    if (!valid.ok) continue
    const key = chain.driver.addressKey(valid.normalized)
    const same = (address: string) => chain.driver.addressKey(address) === key
    if (chain.driver.payouts)
      for (const role of walletRoles)
        if (same(roleWallet({ xpubFor: ctx.xpubFor }, chain, role).address))
          return { chain: chain.name, role: roleNames[role] }
    if (chain.settings.cold && same(chain.settings.cold.address))
      return { chain: chain.name, role: 'cold storage' }
    // derived addresses are stored in normalized form (the driver conformance suite holds drivers to it)
    stored.push(and(eq(addresses.chain, chain.name), eq(addresses.address, valid.normalized)) as SQL)
    if (can(chain, 'changeAddresses'))
      change.push(
        and(
          eq(outboundTxs.chain, chain.name),
          sql`${outboundTxs.request} -> 'change' ->> 'address' = ${valid.normalized}`,
        ) as SQL,
      )
  }
  if (stored.length > 0) {
    const [deposit] = await ctx.db
      .select({ chain: addresses.chain })
      .from(addresses)
      .where(or(...stored))
      .limit(1)
    if (deposit) return { chain: deposit.chain, role: 'deposit' }
  }
  // every change address is handed out inside the transaction that stores the outbound transaction paying it
  if (change.length > 0) {
    const [spent] = await ctx.db
      .select({ chain: outboundTxs.chain })
      .from(outboundTxs)
      .where(or(...change))
      .limit(1)
    if (spent) return { chain: spent.chain, role: 'change' }
  }
  return undefined
}

/**
 * Refuses a withdrawal's destination (already validated and normalized by the chain's driver) that the
 * merchant would never be paid at: one of the gateway's own addresses (`OWN_ADDRESS`; the payout would come
 * back to the gateway, booked as the operator's), or what the driver refuses (`BURN_ADDRESS`,
 * `DESTINATION_REJECTED`). Reads only; the caller has written nothing yet.
 *
 * @example
 * await screenDestination(ctx, chain, asset, '0x0000000000000000000000000000000000000000', 10n) // throws BURN_ADDRESS
 */
export async function screenDestination(
  ctx: DestinationContext,
  chain: LoadedChain,
  asset: AssetInfo,
  to: string,
  amount: bigint,
): Promise<void> {
  const own = await ownAddress(ctx, to)
  if (own)
    throw new TollgateError(
      'OWN_ADDRESS',
      own.role === 'deposit'
        ? `to is a deposit address of this gateway (${own.chain}); a withdrawal there would not reach you`
        : `to is this gateway's own ${own.role} address (${own.chain}); a withdrawal there would not reach you`,
      'to',
    )
  // asked on the API's request path: a node that never answers fails the request at the chain's call deadline
  const check = withCallDeadlines(chain).driver.payouts?.checkDestination
  if (!check) return
  const from = roleWallet({ xpubFor: ctx.xpubFor }, chain, 'treasury').address
  const key = `${asset.id}|${from}|${chain.driver.addressKey(to)}`
  if (recentlyAccepted(chain, key, amount)) return
  const verdict = await check({ from, to, asset, amount })
  if (verdict.ok) {
    noteAccepted(chain, key, amount)
    return
  }
  // a third-party driver's code is not trusted to be one of ours: anything but a burn is a refusal
  const code = verdict.code === 'BURN_ADDRESS' ? 'BURN_ADDRESS' : 'DESTINATION_REJECTED'
  throw new TollgateError(code, String(verdict.reason).slice(0, 500), 'to')
}

/**
 * How long a destination the node accepted counts as accepting (as much or less of the same asset from the same
 * treasury) without asking again: a payout run to the same addresses asks the node once. Only acceptances are
 * kept, briefly; the check is the early refusal, and a transfer that would revert is still refused when its
 * transaction is built (the node is asked again then).
 */
export const acceptedDestinationTtlMs = 10_000
/** Acceptances kept per chain at most (the oldest go first). */
const acceptedMax = 10_000
const accepted = new WeakMap<LoadedChain, Map<string, { at: number; amount: bigint }>>()

function recentlyAccepted(chain: LoadedChain, key: string, amount: bigint): boolean {
  const seen = accepted.get(chain)?.get(key)
  return seen !== undefined && performance.now() - seen.at < acceptedDestinationTtlMs && amount <= seen.amount
}

function noteAccepted(chain: LoadedChain, key: string, amount: bigint): void {
  const kept = accepted.get(chain) ?? new Map<string, { at: number; amount: bigint }>()
  accepted.set(chain, kept)
  const seen = kept.get(key)
  kept.delete(key)
  const fresh = seen !== undefined && performance.now() - seen.at < acceptedDestinationTtlMs
  kept.set(key, { at: performance.now(), amount: fresh && seen.amount > amount ? seen.amount : amount })
  if (kept.size > acceptedMax) kept.delete(kept.keys().next().value as string)
}
