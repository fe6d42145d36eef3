import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { type AddressMode, addressModes, merchants } from '../../db/schema/index.ts'
import type { ChainRegistry } from '../../plugins/registry.ts'
import { type AuditActor, recordAudit } from '../access/audit.ts'
import { resolveAsset, resolveChain } from '../chains.ts'
import { invalidInput } from '../errors.ts'
import { parseAmount } from '../money.ts'

/** A minimum as a merchant gives it: the asset (symbol or id) of a chain and the smallest amount credited. */
export type MinimumInput = { chain: string; asset: string; amount: string }

export type DepositSettings = {
  addressMode: AddressMode
  /** Base units by chain name then asset id. */
  minimums: Record<string, Record<string, string>>
}

/**
 * The merchant's deposit settings: the address mode new customers get, and the minimum deposit per asset.
 *
 * @example
 * const { addressMode, minimums } = await depositSettings({ db }, merchantId)
 */
export async function depositSettings(ctx: { db: Db }, merchantId: string): Promise<DepositSettings> {
  const [row] = await ctx.db
    .select({ mode: merchants.depositAddressMode, minimums: merchants.depositMinimums })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
  return { addressMode: row?.mode ?? 'common', minimums: row?.minimums ?? {} }
}

/**
 * Sets the address mode new customers get (existing customers keep theirs, and their addresses) and/or replaces
 * the minimum deposits (each a positive amount of a configured asset; a deposit below its asset's minimum is
 * recorded but never credited; judged when it confirms). All validated before anything is written; audited.
 *
 * @example
 * await setDepositSettings(ctx, merchantId, { addressMode: 'cross', minimums: [{ chain: 'ethereum', asset: 'USDT', amount: '5' }] }, actor)
 */
export async function setDepositSettings(
  ctx: { db: Db; chains: ChainRegistry },
  merchantId: string,
  input: { addressMode?: string | null; minimums?: readonly MinimumInput[] | null },
  actor: AuditActor,
): Promise<DepositSettings> {
  const mode = input.addressMode ?? undefined
  if (mode !== undefined && !(addressModes as readonly string[]).includes(mode))
    throw invalidInput('addressMode', `addressMode is one of ${addressModes.join(', ')}`)
  let minimums: Record<string, Record<string, string>> | undefined
  if (input.minimums != null) {
    if (input.minimums.length > 500) throw invalidInput('minimums', 'at most 500 minimums')
    minimums = {}
    for (const m of input.minimums) {
      if (typeof m !== 'object' || m === null)
        throw invalidInput('minimums', 'a minimum is { chain, asset, amount }')
      const chain = resolveChain(ctx.chains, m.chain)
      const asset = resolveAsset(chain, m.asset)
      if (typeof m.amount !== 'string' || m.amount.length > 100)
        throw invalidInput('amount', 'a minimum is a decimal amount of the asset')
      const amount = parseAmount(m.amount, asset.decimals)
      if (amount <= 0n) throw invalidInput('amount', 'a minimum is more than 0')
      const byAsset = minimums[chain.name] ?? {}
      if (byAsset[asset.id] !== undefined)
        throw invalidInput('minimums', `${chain.name} ${asset.symbol} is given twice`)
      byAsset[asset.id] = amount.toString()
      minimums[chain.name] = byAsset
    }
  }
  if (mode === undefined && minimums === undefined)
    throw invalidInput('addressMode', 'nothing to change: give addressMode, minimums or both')
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(merchants)
      .set({
        ...(mode ? { depositAddressMode: mode as AddressMode } : {}),
        ...(minimums ? { depositMinimums: minimums } : {}),
      })
      .where(eq(merchants.id, merchantId))
    await recordAudit(tx, {
      merchantId,
      actor,
      action: 'deposits.settings_set',
      target: { type: 'merchant', id: merchantId },
      data: { ...(mode ? { addressMode: mode } : {}), ...(minimums ? { minimums } : {}) },
    })
  })
  return depositSettings(ctx, merchantId)
}
