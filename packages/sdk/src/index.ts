/**
 * `@tollgate/sdk`: the only package a Tollgate plugin imports. This entry holds the driver contract (types),
 * `defineChainDriver`, `defineConfig`/`chain` for plugins.config.ts, and helpers; `@tollgate/sdk/conformance`
 * holds the conformance suite (it imports `bun:test`) and `@tollgate/sdk/testing` the test signer, both for a
 * plugin's tests only.
 */

export { capabilityGaps, type DriverCapability, driverCapabilities } from './capabilities.ts'
export {
  type ChainEntry,
  type ChainSettings,
  type ColdSettings,
  type ConfirmationTier,
  type ConfirmationTierSettings,
  chain,
  defineChainDriver,
  defineConfig,
  type ExplorerSettings,
  type KytDepositAction,
  type KytEntry,
  type KytPolicyConfig,
  type KytPolicyRules,
  type KytWithdrawalAction,
  kyt,
  type ModuleLoader,
  type PayoutSettings,
  type PricingConfig,
  type RateEntry,
  type RateRule,
  rates,
  type SweepSettings,
  type TollgateConfig,
} from './define.ts'
export { DriverError, isDriverError } from './errors.ts'
export { childPublicKey, keccakAccountId } from './hd.ts'
export {
  checkKytAnswer,
  checkKytRequest,
  defineKytProvider,
  type KytAnswer,
  type KytChain,
  type KytContext,
  type KytDirection,
  type KytProvider,
  type KytProviderDefinition,
  type KytRequest,
  type KytRisk,
  type KytVerdict,
  worstVerdict,
} from './kyt.ts'
export { mapLimit } from './map-limit.ts'
export {
  type CurrencyCode,
  checkedQuote,
  checkRateQuote,
  decimalOfJsonNumber,
  defineRateProvider,
  distinctPairs,
  isCurrencyCode,
  type RateContext,
  type RatePair,
  type RateProvider,
  type RateProviderDefinition,
  type RateQuote,
} from './rates.ts'
export * from './types.ts'
export { formatUnits, parseUnits, type UnitsParse } from './units.ts'
