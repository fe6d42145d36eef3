import type { SweepNeed } from '../../plugins/sdk/index.ts'

/**
 * A driver's `SweepNeed` as a row stores it (decimal strings; extra keys such as `funded` are kept by callers).
 *
 * @example
 * needToJson({ native: 5n }) // { native: '5' }
 */
export function needToJson(need: SweepNeed): Record<string, string> {
  return Object.fromEntries(Object.entries(need).map(([k, v]) => [k, String(v)]))
}

/**
 * The `SweepNeed` a row stored.
 *
 * @example
 * needFromJson({ native: '5', funded: '5' }) // { native: 5n }
 */
export function needFromJson(raw: Record<string, string> | null | undefined): SweepNeed {
  const json = raw ?? {}
  return {
    native: BigInt(json.native ?? '0'),
    ...(json.energy ? { energy: BigInt(json.energy) } : {}),
    ...(json.bandwidth ? { bandwidth: BigInt(json.bandwidth) } : {}),
  }
}
