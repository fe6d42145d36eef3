import { type ConfirmationLadder, checkConfirmationLadder } from '../../src/plugins/registry.ts'

/**
 * A ladder of confirmations as the boot checks make it, or a thrown error naming its problems.
 *
 * @example
 * const checked = ladder({ tiers: [{ below: '1', confirmations: 1 }], above: 3 }, 8, { min: 1, max: 6 })
 */
export function ladder(
  given: Parameters<typeof checkConfirmationLadder>[0],
  decimals = 8,
  bounds?: { min: number; max: number },
): ConfirmationLadder {
  const checked = checkConfirmationLadder(given, { decimals, ...(bounds ? { bounds } : {}) })
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems))
  return checked.ladder
}

/** TOY (8 decimals): under 0.001 needs 1, under 0.1 needs 3, the rest 6; merchants may choose 0 to 6. */
export const toyLadder = ladder(
  {
    tiers: [
      { below: '0.001', confirmations: 1 },
      { below: '0.1', confirmations: 3 },
    ],
    above: 6,
  },
  8,
  { min: 0, max: 6 },
)
