import { DriverError, type KytAnswer, type KytRisk } from '@tollgate/sdk'
import { z } from 'zod'
import type { RiskVerdicts } from './options.ts'

/** The API version every answer names as its source. */
export const apiVersion = 'risk/v2'

// Shapes of `GET /api/risk/v2/entities/{address}` as the vendor documents them. Objects are loose: the vendor
// adds fields over time (exposureType and direction came in 2024, poolMetadata later) and an integration must
// not break on one. Strings and lists are bounded so a hostile answer cannot grow an answer without limit.
const text = z.string().max(1024)
const category = z.string().min(1).max(256)

const clusterSchema = z.looseObject({ name: text, category })
const identificationSchema = z.looseObject({
  name: text.nullish(),
  category: category.nullish(),
  description: z.string().max(4096).nullish(),
})
const exposureSchema = z.looseObject({
  category,
  value: z.number(),
  exposureType: z.string().max(64).optional(),
  direction: z.string().max(64).optional(),
})
const triggerSchema = z.looseObject({
  category,
  percentage: z.number().optional(),
  message: text.nullish(),
  ruleTriggered: z.looseObject({ risk: z.string().max(64).optional() }).nullish(),
})

const pendingSchema = z.looseObject({
  address: z.string().min(1).max(256),
  status: z.literal('IN_PROGRESS'),
})
const completeSchema = z.looseObject({
  address: z.string().min(1).max(256),
  status: z.literal('COMPLETE'),
  risk: z.enum(['Severe', 'High', 'Medium', 'Low']),
  riskReason: text.nullish(),
  cluster: clusterSchema.nullish(),
  addressType: z.string().max(64).nullish(),
  addressIdentifications: z.array(identificationSchema).max(64).default([]),
  exposures: z.array(exposureSchema).max(1000).default([]),
  triggers: z.array(triggerSchema).max(1000).default([]),
})

/** A complete assessment, as the API sent it. */
export type Entity = z.output<typeof completeSchema>

/** What one read of an address gave: a complete assessment, or one still being computed. */
export type EntityRead = { status: 'COMPLETE'; entity: Entity } | { status: 'IN_PROGRESS' }

const badAnswer = (message: string) => new DriverError('KYT_BAD_ANSWER', message, { retryable: false })

/**
 * Whether the address an answer names is the one asked about. EVM hex and bech32 addresses are the same address
 * in any letter case (the API may answer in its own case); anything else (base58) must match exactly.
 */
function sameAddress(asked: string, answered: string): boolean {
  if (asked === answered) return true
  const caseless = /^(0x[0-9a-f]+|[a-z]{1,16}1[02-9ac-hj-np-z]+)$/i
  return caseless.test(asked) && asked.toLowerCase() === answered.toLowerCase()
}

const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)

/**
 * Checks a parsed response body of the read endpoint: the documented shape, `status` COMPLETE or IN_PROGRESS,
 * and an answer for the address asked about (an answer for another address is never used). Throws a
 * `KYT_BAD_ANSWER` `DriverError` (not retryable) otherwise.
 *
 * @example
 * readEntity({ address: '0xab…', status: 'COMPLETE', risk: 'Low', cluster: null, exposures: [], triggers: [] }, '0xab…')
 * // { status: 'COMPLETE', entity: { risk: 'Low', … } }
 */
export function readEntity(body: unknown, address: string): EntityRead {
  const status = (body as { status?: unknown } | null)?.status
  const parsed = (status === 'IN_PROGRESS' ? pendingSchema : completeSchema).safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? issue.path.join('.') : 'the body'
    throw badAnswer(`the risk API answered an unexpected shape: ${where}: ${issue?.message ?? 'invalid'}`)
  }
  if (!sameAddress(address, parsed.data.address))
    throw badAnswer(
      `the risk API answered for ${shown(parsed.data.address)} when asked about ${shown(address)}`,
    )
  if (parsed.data.status === 'IN_PROGRESS') return { status: 'IN_PROGRESS' }
  return { status: 'COMPLETE', entity: parsed.data as Entity }
}

/**
 * The gateway's answer for a complete assessment: the verdict the options map the risk to, the risk in
 * lowercase, the categories of the cluster, the exposures and the triggers (each once, in that order), and as
 * reasons the API's risk reason, the cluster, the address's identifications and the triggers' messages.
 *
 * @example
 * toKytAnswer(entity, { severe: 'block', high: 'review', medium: 'review', low: 'allow' }, 'chainalysis')
 * // { verdict: 'block', risk: 'severe', categories: ['sanctions'], reasons: ['Identified as Sanctioned Entity', …], source: { provider: 'chainalysis', version: 'risk/v2' } }
 */
export function toKytAnswer(entity: Entity, verdicts: RiskVerdicts, provider: string): KytAnswer {
  const risk = entity.risk.toLowerCase() as KytRisk
  const categories = [
    ...new Set([
      ...(entity.cluster ? [entity.cluster.category] : []),
      ...entity.exposures.map((e) => e.category),
      ...entity.triggers.map((t) => t.category),
    ]),
  ]
  const reasons: string[] = []
  if (entity.riskReason) reasons.push(entity.riskReason)
  if (entity.cluster) reasons.push(`cluster: ${entity.cluster.name} (${entity.cluster.category})`)
  for (const id of entity.addressIdentifications)
    if (id.name) reasons.push(`identified as ${id.name}${id.category ? ` (${id.category})` : ''}`)
  for (const trigger of entity.triggers) if (trigger.message) reasons.push(trigger.message)
  // the answer check allows 64 of each; the API has fewer categories than that, and the first reasons matter most
  return {
    verdict: verdicts[risk],
    risk,
    categories: categories.slice(0, 64),
    reasons: [...new Set(reasons)].slice(0, 64),
    source: { provider, version: apiVersion },
  }
}
