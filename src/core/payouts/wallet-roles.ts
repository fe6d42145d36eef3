import type { LoadedChain } from '../../plugins/registry.ts'
import { badAccountPath } from './errors.ts'

/** Gateway wallets besides per-payment deposit addresses. */
export const walletRoles = ['treasury', 'gas'] as const
export type WalletRole = (typeof walletRoles)[number]

/** Each role is its own hardened account next to the deposit account (deposit `…/0'`, treasury `…/1'`, gas `…/2'`). */
const accountOffset: Record<WalletRole, number> = { treasury: 1, gas: 2 }

/**
 * The hardened account path of a role, derived from the chain's deposit account path.
 *
 * @example
 * roleAccountPath("m/44'/60'/0'", 'treasury') // "m/44'/60'/1'"
 */
export function roleAccountPath(depositAccountPath: string, role: WalletRole): string {
  const match = /^(.*\/)(\d+)'$/.exec(depositAccountPath)
  if (!match) throw badAccountPath(depositAccountPath)
  return `${match[1]}${Number(match[2]) + accountOffset[role]}'`
}

/**
 * A role's address (the first receive address of its account) and the path the signer signs it with.
 *
 * @example
 * roleWallet(ctx, chain, 'treasury') // { address: '0x…', path: "m/44'/60'/1'/0/0" }
 */
export function roleWallet(
  ctx: { xpubFor(accountPath: string): string },
  chain: Pick<LoadedChain, 'driver'>,
  role: WalletRole,
): RoleWallet {
  const accountPath = roleAccountPath(chain.driver.accountPath, role)
  const xpub = ctx.xpubFor(accountPath)
  // every payout pass, sweep and settlement asks: derive once per driver and account key
  const cache = derived.get(chain.driver) ?? new Map<string, RoleWallet>()
  derived.set(chain.driver, cache)
  let wallet = cache.get(xpub)
  if (!wallet) {
    const { address } = chain.driver.deriveAddress({ xpub, index: 0 })
    wallet = { address, path: `${accountPath}/0/0`, accountPath }
    cache.set(xpub, wallet)
  }
  return wallet
}

type RoleWallet = { address: string; path: string; accountPath: string }
const derived = new WeakMap<object, Map<string, RoleWallet>>()
