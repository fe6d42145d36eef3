/**
 * The chain-plugin SDK: the only module a chain driver imports from Tollgate.
 */

export { capabilityGaps, type DriverCapability, driverCapabilities } from './capabilities.ts'
export {
  type ChainEntry,
  type ChainSettings,
  type ColdSettings,
  chain,
  defineChainDriver,
  defineConfig,
  type ModuleLoader,
  type PayoutSettings,
  type SweepSettings,
  type TollgateConfig,
} from './define.ts'
export { DriverError, isDriverError } from './errors.ts'
export { childPublicKey, keccakAccountId } from './hd.ts'
export { mapLimit } from './map-limit.ts'
export * from './types.ts'
export { formatUnits, parseUnits, type UnitsParse } from './units.ts'
