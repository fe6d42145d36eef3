import { type AssetInfo, type DriverCapability, driverCapabilities } from '@tollgate/sdk'
import type { ChainRegistry, LoadedChain } from '../plugins/registry.ts'
import { TollgateError } from './errors.ts'

/** The configured chain of that name, or an `UNKNOWN_CHAIN` error. */
export function resolveChain(chains: ChainRegistry, name: string): LoadedChain {
  const chain = chains.get(name)
  if (!chain)
    throw new TollgateError(
      'UNKNOWN_CHAIN',
      `unknown chain; configured: ${[...chains.keys()].join(', ')}`,
      'chain',
    )
  return chain
}

/** An asset of the chain by symbol or by CAIP-19 id, or an `UNKNOWN_ASSET` error. */
export function resolveAsset(chain: LoadedChain, asset: string): AssetInfo {
  const found = chain.driver.assets.find((a) => a.symbol === asset || a.id === asset)
  if (!found)
    throw new TollgateError(
      'UNKNOWN_ASSET',
      `unknown asset on ${chain.name}; configured: ${chain.driver.assets.map((a) => a.symbol).join(', ')}`,
      'asset',
    )
  return found
}

/** The asset of a stored payment (its CAIP-19 id); throws if config no longer lists it. */
export function assetById(chains: ChainRegistry, chainName: string, assetId: string): AssetInfo {
  return resolveAsset(resolveChain(chains, chainName), assetId)
}

const capabilityCache = new WeakMap<LoadedChain['driver'], ReadonlySet<DriverCapability>>()

/**
 * Whether the chain's driver has a capability; the core branches on these, never on a chain family.
 *
 * @example
 * if (can(chain, 'coins')) await consolidateDeposits(ctx, chain)
 */
export function can(chain: LoadedChain, capability: DriverCapability): boolean {
  let found = capabilityCache.get(chain.driver)
  if (!found) {
    found = driverCapabilities(chain.driver)
    capabilityCache.set(chain.driver, found)
  }
  return found.has(capability)
}
