import type {
  KytDepositAction,
  KytPolicyConfig,
  KytPolicyRules,
  KytVerdict,
  KytWithdrawalAction,
} from '@tollgate/sdk'
import { z } from 'zod'
import { TollgateError } from '../errors.ts'

/** A policy with every rule decided: what each verdict does, and what happens when no provider answers. */
export type KytPolicy = {
  failMode: 'open' | 'closed'
  failAfterMs: number
  deposits: Record<KytVerdict, KytDepositAction>
  withdrawals: Record<KytVerdict, KytWithdrawalAction>
}

/** The gateway's defaults: held for review unless clear, refused when blocked, closed when providers are down. */
export const defaultKytPolicy: KytPolicy = {
  failMode: 'closed',
  failAfterMs: 60_000,
  deposits: { allow: 'credit', review: 'hold', block: 'hold' },
  withdrawals: { allow: 'send', review: 'approval', block: 'refuse' },
}

const depositAction = z.enum(['credit', 'hold'])
const withdrawalAction = z.enum(['send', 'approval', 'refuse'])
const rulesSchema = z
  .object({
    failMode: z.enum(['open', 'closed']).optional(),
    failAfterMs: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600 * 1000)
      .optional(),
    deposits: z
      .object({ allow: depositAction, review: depositAction, block: depositAction })
      .partial()
      .strict()
      .optional(),
    withdrawals: z
      .object({ allow: withdrawalAction, review: withdrawalAction, block: withdrawalAction })
      .partial()
      .strict()
      .optional(),
  })
  .strict()
const policySchema = rulesSchema.extend({ chains: z.record(z.string(), rulesSchema).optional() }).strict()

/** Where a policy came from, for its error messages. */
export type PolicySource = 'kytPolicy' | 'merchant'

/**
 * Checks a policy (the config's `kytPolicy`, or a merchant's overrides) and answers it typed; an unknown key, a
 * verdict that is not one, or an action that does not exist is an `INVALID_INPUT` naming the field path.
 *
 * @example
 * checkKytPolicy({ failMode: 'open', deposits: { review: 'credit' } }, 'merchant')
 */
export function checkKytPolicy(value: unknown, source: PolicySource): KytPolicyConfig {
  const parsed = policySchema.safeParse(value ?? {})
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const path = [source, ...issue.path.map(String)].join('.')
  throw new TollgateError(
    'INVALID_INPUT',
    `${path}: ${issue.message}`,
    source === 'merchant' ? 'policy' : path,
  )
}

function apply(policy: KytPolicy, rules: KytPolicyRules | undefined): KytPolicy {
  if (!rules) return policy
  return {
    failMode: rules.failMode ?? policy.failMode,
    failAfterMs: rules.failAfterMs ?? policy.failAfterMs,
    deposits: { ...policy.deposits, ...rules.deposits },
    withdrawals: { ...policy.withdrawals, ...rules.withdrawals },
  }
}

/**
 * The rules that apply to one merchant on one chain: the defaults, then the gateway's policy, its rules for the
 * chain, the merchant's overrides, and the merchant's rules for the chain — the narrower rule wins.
 *
 * @example
 * effectiveKytPolicy(config.kytPolicy, merchant.kytPolicy, 'ethereum').deposits.review // 'hold'
 */
export function effectiveKytPolicy(
  gateway: KytPolicyConfig | undefined,
  merchant: KytPolicyConfig | null | undefined,
  chain: string,
): KytPolicy {
  let policy = apply(defaultKytPolicy, gateway)
  policy = apply(policy, gateway?.chains?.[chain])
  policy = apply(policy, merchant ?? undefined)
  return apply(policy, merchant?.chains?.[chain])
}

/** Why a screening holds or refuses: a code kept on the check and shown to the reviewer. */
export type KytReason = 'KYT_REVIEW' | 'KYT_BLOCKED' | 'KYT_UNAVAILABLE'

export const reasonOfVerdict = (verdict: KytVerdict): KytReason | null =>
  verdict === 'block' ? 'KYT_BLOCKED' : verdict === 'review' ? 'KYT_REVIEW' : null
