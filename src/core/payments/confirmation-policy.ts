import type { AssetInfo } from '@tollgate/sdk'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { merchants } from '../../db/schema/index.ts'
import type { ChainRegistry, ConfirmationLadder, LoadedChain } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { invalidInput, notFound } from '../errors.ts'
import type { RateBook } from '../pricing/book.ts'
import {
  effectiveLadder,
  type LadderPayment,
  type LadderSource,
  type MerchantConfirmationChoice,
  type MerchantConfirmationChoices,
  merchantLadder,
  operatorLadder,
  requiredConfirmations,
} from './confirmation-tiers.ts'

/**
 * How long a process serves a merchant's choices from memory before reading them again. A choice set through
 * this process applies at once; set through another API process, within this long.
 */
export const choiceCacheMs = 5_000
const maxCachedMerchants = 10_000

type Cached = { at: number; choices: MerchantConfirmationChoices | null }
const caches = new WeakMap<Db, Map<string, Cached>>()

function cacheOf(db: Db): Map<string, Cached> {
  let cache = caches.get(db)
  if (!cache) {
    cache = new Map()
    caches.set(db, cache)
  }
  return cache
}

/**
 * A merchant's stored confirmation choices (null: none), served from memory for `choiceCacheMs`: payment creation
 * reads them for every payment, and they change rarely.
 *
 * @example
 * const choice = (await merchantConfirmationChoices({ db }, merchantId))?.bitcoin?.[btc.id]
 */
export async function merchantConfirmationChoices(
  ctx: { db: Db },
  merchantId: string,
): Promise<MerchantConfirmationChoices | null> {
  const cache = cacheOf(ctx.db)
  const hit = cache.get(merchantId)
  if (hit && Date.now() - hit.at < choiceCacheMs) return hit.choices
  const [row] = await ctx.db
    .select({ policy: merchants.confirmationPolicy })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  const choices = (row?.policy as MerchantConfirmationChoices | null | undefined) ?? null
  if (cache.size >= maxCachedMerchants) cache.clear()
  cache.set(merchantId, { at: Date.now(), choices })
  return choices
}

/** A chain's asset's ladder for a merchant, as the API shows it. */
export type ConfirmationPolicyView = {
  chain: string
  asset: AssetInfo
  ladder: ConfirmationLadder
  source: LadderSource
  /** The merchant's choice as stored (null: the operator's ladder applies). */
  choice: MerchantConfirmationChoice | null
}

/**
 * Every configured chain and asset's ladder for a merchant: its own choice (within the operator's current bounds)
 * or the operator's. Read fresh, not from the cache. An unknown merchant is `NOT_FOUND`.
 *
 * @example
 * const views = await confirmationPolicies({ db, chains }, merchantId)
 */
export async function confirmationPolicies(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
): Promise<ConfirmationPolicyView[]> {
  const [row] = await ctx.db
    .select({ policy: merchants.confirmationPolicy })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  if (!row) throw notFound('merchant')
  const choices = (row.policy as MerchantConfirmationChoices | null) ?? {}
  return [...ctx.chains.values()].flatMap((chain) =>
    chain.driver.assets.map((asset) => {
      const choice = choices[chain.name]?.[asset.id]
      return { chain: chain.name, asset, ...effectiveLadder(chain, asset, choice), choice: choice ?? null }
    }),
  )
}

/** A choice as a merchant gives it: exactly one of a fixed count or a ladder. */
export type ConfirmationChoiceInput = {
  confirmations?: number | null
  tiers?: Array<{ below: string; confirmations: number }> | null
  above?: number | null
  currency?: string | null
}

/** The stored form of a merchant's input, or `INVALID_INPUT` when it is neither a fixed count nor a ladder. */
function choiceOf(input: ConfirmationChoiceInput): MerchantConfirmationChoice {
  const fixed = input.confirmations != null
  const ladder = input.tiers != null
  if (fixed === ladder)
    throw invalidInput(
      'confirmations',
      'give exactly one of confirmations (a fixed count) or tiers (a ladder)',
    )
  if (fixed) {
    if (input.above != null || input.currency != null)
      throw invalidInput('above', 'above and currency go with tiers')
    return { confirmations: input.confirmations as number }
  }
  if (input.above == null) throw invalidInput('above', 'above is required with tiers')
  return {
    tiers: (input.tiers ?? []).map((t) => ({ below: t.below, confirmations: t.confirmations })),
    above: input.above,
    ...(input.currency != null ? { currency: input.currency } : {}),
  }
}

/**
 * Sets (or with `null` clears) a merchant's confirmation choice for one asset of a chain, checked against the
 * operator's ladder first: unknown chain or asset (`UNKNOWN_CHAIN`, `UNKNOWN_ASSET`), a malformed choice
 * (`INVALID_INPUT`), a value outside the operator's bounds (`CONFIRMATIONS_OUT_OF_BOUNDS`): nothing is stored.
 * The change and its audit entry (`confirmations.policy_set`, with the new and the previous choice) commit
 * together. Applies to payments created afterwards; existing payments keep the confirmations they were created
 * with. Answers the asset's policy as it now stands.
 *
 * @example
 * await setConfirmationChoice(ctx, merchantId, { chain: 'bitcoin', asset: 'BTC' }, { confirmations: 2 }, actor)
 */
export async function setConfirmationChoice(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
  target: { chain: string; asset: string },
  input: ConfirmationChoiceInput | null,
  actor: AuditActor,
): Promise<ConfirmationPolicyView> {
  const chain = resolveChain(ctx.chains, target.chain)
  const asset = resolveAsset(chain, target.asset)
  const choice = input === null ? null : choiceOf(input)
  if (choice) merchantLadder(operatorLadder(chain, asset), asset, choice)
  const view = await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ policy: merchants.confirmationPolicy })
      .from(merchants)
      .where(eq(merchants.id, merchantId))
      .for('update')
    if (!row) throw notFound('merchant')
    const choices = structuredClone((row.policy as MerchantConfirmationChoices | null) ?? {})
    const previous = choices[chain.name]?.[asset.id] ?? null
    const forChain = { ...choices[chain.name] }
    if (choice) forChain[asset.id] = choice
    else delete forChain[asset.id]
    if (Object.keys(forChain).length > 0) choices[chain.name] = forChain
    else delete choices[chain.name]
    await tx
      .update(merchants)
      .set({ confirmationPolicy: Object.keys(choices).length > 0 ? choices : null })
      .where(eq(merchants.id, merchantId))
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'confirmations.policy_set',
      target: { type: 'merchant', id: merchantId },
      data: { chain: chain.name, asset: asset.id, choice, previous },
    })
    return { chain: chain.name, asset, ...effectiveLadder(chain, asset, choice ?? undefined), choice }
  })
  cacheOf(ctx.db).delete(merchantId)
  return view
}

/**
 * The confirmations a new payment of a merchant needs: its amount's step on the merchant's ladder for the asset
 * when it chose one, else on the operator's (unconfigured: the asset's or driver's `confirmations`).
 *
 * @example
 * const confirmationsRequired = await confirmationsRequiredFor(ctx, merchantId, chain, { asset, amountDue, priced: null })
 */
export async function confirmationsRequiredFor(
  ctx: { db: Db; rateBook?: RateBook },
  merchantId: string,
  chain: LoadedChain,
  payment: LadderPayment,
  now = new Date(),
): Promise<number> {
  const choices = await merchantConfirmationChoices(ctx, merchantId)
  return requiredConfirmations(chain, payment, choices?.[chain.name]?.[payment.asset.id], ctx.rateBook, now)
}
