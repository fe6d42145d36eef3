import type { SweepNeed } from '@tollgate/sdk'

/** Keys of a stored need that are the core's own; every other key is a driver resource. */
const coreKeys = new Set(['native', 'funded'])

/**
 * A driver's `SweepNeed` as a row stores it: decimal strings, the driver's resources flat beside `native`
 * (extra keys such as `funded` are added by callers).
 *
 * @example
 * needToJson({ native: 5n, resources: { energy: 7n } }) // { native: '5', energy: '7' }
 */
export function needToJson(need: SweepNeed): Record<string, string> {
  const resources = Object.entries(need.resources ?? {}).filter(([name]) => !coreKeys.has(name))
  return { native: String(need.native), ...Object.fromEntries(resources.map(([k, v]) => [k, String(v)])) }
}

/**
 * The `SweepNeed` a row stored; the driver's resources come back under the names it gave them.
 *
 * @example
 * needFromJson({ native: '5', energy: '7', funded: '5' }) // { native: 5n, resources: { energy: 7n } }
 */
export function needFromJson(raw: Record<string, string> | null | undefined): SweepNeed {
  const json = raw ?? {}
  const resources = Object.entries(json).filter(([name]) => !coreKeys.has(name))
  return {
    native: BigInt(json.native ?? '0'),
    ...(resources.length > 0
      ? { resources: Object.fromEntries(resources.map(([k, v]) => [k, BigInt(v)])) }
      : {}),
  }
}
