import type { ChainDriver } from './types.ts'

/**
 * What a driver can do beyond the required methods. The core asks for these by name and never for a chain
 * family, so a new family needs a driver, not a core change. Each follows from an optional member:
 *
 * - `payouts`: `payouts` — the gateway can move funds (sweeps, withdrawals, reconciliation).
 * - `coins`: `payouts.spendsCoins` — the core keeps a coin set and offers coins as inputs; deposits are
 *   consolidated instead of swept address by address.
 * - `nonces`: `payouts.confirmedNonce` — the core allocates each sender's nonces and replaces stuck
 *   transactions at the same nonce.
 * - `tokenFunding`: `payouts.sweepNeed` and `payouts.buildFunding` — before a token leaves a deposit address
 *   the gas tank funds what it needs (native coin, or the chain's own resources).
 * - `fundingReclaim`: `payouts.buildDefunding` — a funding is taken back after its sweep (a delegation).
 * - `changeAddresses`: `deriveChangeAddress` — fresh internal addresses for change.
 * - `unspentReport`: `payouts.unspent` — the node's word on tracked coins, for reconciliation.
 * - `dustLimit`: `payouts.minOutput` — outputs below a minimum are refused when a withdrawal is requested.
 * - `destinationCheck`: `payouts.checkDestination` — the driver screens a withdrawal's destination when it is
 *   requested (burn addresses, transfers the chain would revert).
 * - `pushHeads`: `watchHeads` — new blocks are pushed, so scans start at once instead of on the next tick.
 * - `networkCheck`: `checkNetwork` — the node's network is checked against the configured one before scanning
 *   (at start, after failures, every few minutes); a node on another network stops the chain.
 */
export type DriverCapability =
  | 'payouts'
  | 'coins'
  | 'nonces'
  | 'tokenFunding'
  | 'fundingReclaim'
  | 'changeAddresses'
  | 'unspentReport'
  | 'dustLimit'
  | 'destinationCheck'
  | 'pushHeads'
  | 'networkCheck'

/**
 * The capabilities a driver has, read from the optional members it provides.
 *
 * @example
 * driverCapabilities(driver).has('coins') // true for a UTXO chain's driver
 */
export function driverCapabilities(driver: ChainDriver): ReadonlySet<DriverCapability> {
  const p = driver.payouts
  const found: Array<[DriverCapability, unknown]> = [
    ['payouts', p],
    ['coins', p?.spendsCoins === true],
    ['nonces', p?.confirmedNonce],
    ['tokenFunding', p?.sweepNeed && p.buildFunding],
    ['fundingReclaim', p?.buildDefunding],
    ['changeAddresses', driver.deriveChangeAddress],
    ['unspentReport', p?.unspent],
    ['dustLimit', p?.minOutput],
    ['destinationCheck', p?.checkDestination],
    ['pushHeads', driver.watchHeads],
    ['networkCheck', driver.checkNetwork],
  ]
  return new Set(found.flatMap(([name, present]) => (present ? [name] : [])))
}

/**
 * Capabilities that only work together, and what is missing when a driver has one without the other (the
 * conformance suite and the registry report these).
 *
 * @example
 * capabilityGaps(driver) // ['coins needs changeAddresses (deriveChangeAddress)']
 */
export function capabilityGaps(driver: ChainDriver): string[] {
  const has = driverCapabilities(driver)
  const p = driver.payouts
  const gaps: string[] = []
  if (has.has('coins') && !has.has('changeAddresses'))
    gaps.push('coins needs changeAddresses (deriveChangeAddress)')
  if (has.has('coins') && !has.has('unspentReport')) gaps.push('coins needs unspentReport (payouts.unspent)')
  if (p && Boolean(p.sweepNeed) !== Boolean(p.buildFunding))
    gaps.push('tokenFunding needs both payouts.sweepNeed and payouts.buildFunding')
  if (has.has('fundingReclaim') && !has.has('tokenFunding'))
    gaps.push('fundingReclaim needs tokenFunding (payouts.sweepNeed and payouts.buildFunding)')
  return gaps
}
