import { DriverError } from './errors.ts'
import type { DriverLogger, OptionsSchema } from './types.ts'

/**
 * The KYT (know-your-transaction) provider contract: a provider screens one address seen on a chain and answers
 * a verdict. Providers never decide what happens to a payment; the gateway's policy does, and a provider that
 * cannot answer throws (the caller's `failMode` decides then: a provider never invents a verdict).
 */

/** Which way the value moves relative to the gateway: a deposit's sender, or a withdrawal's destination. */
export type KytDirection = 'inbound' | 'outbound'

/** A provider's decision, ordered `allow` < `review` < `block`. */
export type KytVerdict = 'allow' | 'review' | 'block'

/** A provider's risk grade, when it gives one. */
export type KytRisk = 'low' | 'medium' | 'high' | 'severe'

/** What a provider is asked to screen. */
export type KytRequest = {
  /** CAIP-2 id of the chain the address was seen on, e.g. `eip155:1`. */
  chain: string
  /** The address as the chain shows it (for messages and for providers that query by it). */
  address: string
  /** The chain driver's `addressKey` of `address`: what list lookups compare. */
  addressKey: string
  direction: KytDirection
  /** CAIP-19 asset id of the value, when known. */
  asset?: string
  /** Base units of `asset`. */
  amount?: bigint
  txHash?: string
}

/** A provider's answer, kept with the screening whatever the final verdict is. */
export type KytAnswer = {
  verdict: KytVerdict
  risk?: KytRisk
  /** Provider categories, e.g. `sanctions`, `mixer`, `darknet`. */
  categories: string[]
  /** Human-readable grounds, shown to the reviewer. */
  reasons: string[]
  /** Who answered, and from which data (a list's date and hash, an API version). */
  source: { provider: string; version?: string }
}

/** A chain the gateway runs, as a provider sees it: its id and its driver's address key. */
export type KytChain = {
  /** The chain's name in `plugins.config.ts` (what a provider's options refer to). */
  name: string
  /** CAIP-2 id. */
  chainId: string
  /** The chain driver's `addressKey`: throws on an address that is not one of this chain. */
  addressKey(address: string): string
  /** The driver's read-only contract call (`ChainDriver.callContract`), on chains whose driver has one. */
  callContract?(call: { to: string; data: string }, signal?: AbortSignal): Promise<string>
}

/** What the gateway hands a provider factory. Providers never see the database, queues or keys. */
export type KytContext = {
  /** The provider's name in `plugins.config.ts`. */
  name: string
  log: DriverLogger
  /** Every chain the gateway runs, so a provider can key its data the way each chain compares addresses. */
  chains: readonly KytChain[]
}

/** A KYT provider: a plain object made by a plugin's `create`. */
export type KytProvider = {
  /**
   * Screens one address. Rejects with a `DriverError` when it cannot answer (`retryable` when trying again can
   * help: a timeout, a 5xx, a 429) — never with a made-up verdict.
   */
  screen(request: KytRequest, signal?: AbortSignal): Promise<KytAnswer>
  /** Fetches the provider's data again (lists), replacing it only when the whole reload succeeded. */
  reload?(signal?: AbortSignal): Promise<void>
  close?(): Promise<void>
}

/** What a KYT provider module exports by default. */
export type KytProviderDefinition<Options = unknown> = {
  apiVersion: number
  /** The plugin's name, for messages (`kyt-sanctions`, `@acme/tollgate-kyt`). */
  name: string
  options: OptionsSchema<Options>
  create(options: Options, ctx: KytContext): KytProvider | Promise<KytProvider>
}

/**
 * Declares a KYT provider plugin. The module's default export must be the result.
 *
 * @example
 * export default defineKytProvider({
 *   apiVersion: SDK_API_VERSION,
 *   name: 'kyt-sanctions',
 *   options: sanctionsOptionsSchema,
 *   create: (options, ctx) => createSanctionsProvider(options, ctx),
 * })
 */
export function defineKytProvider<Options>(
  definition: KytProviderDefinition<Options>,
): KytProviderDefinition<Options> {
  return definition
}

const verdictRank: Record<KytVerdict, number> = { allow: 0, review: 1, block: 2 }
const risks: readonly string[] = ['low', 'medium', 'high', 'severe']
/** CAIP-2: namespace `[-a-z0-9]{3,8}`, reference `[-_a-zA-Z0-9]{1,32}`. */
const caip2 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/
/** Longer than any address, key, asset id or hash of a supported chain; anything longer is refused unread. */
const maxField = 256

const bad = (code: string, message: string) => new DriverError(code, message, { retryable: false })
/** A value for a message: never the whole of a hostile string. */
const shown = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v) : typeof v

/**
 * The verdict of several providers' answers: the worst one (`block` > `review` > `allow`). There is no verdict
 * without an answer: a provider that failed is the caller's to decide (its `failMode`), so an empty list is a
 * `KYT_NO_ANSWERS` error, and an answer with an unknown verdict a `KYT_BAD_ANSWER` one.
 *
 * @example
 * worstVerdict([{ verdict: 'allow', … }, { verdict: 'review', … }]) // 'review'
 */
export function worstVerdict(answers: readonly Pick<KytAnswer, 'verdict'>[]): KytVerdict {
  if (answers.length === 0) throw bad('KYT_NO_ANSWERS', 'no provider answered: the verdict is the failMode’s')
  let worst: KytVerdict = 'allow'
  for (const answer of answers) {
    const verdict = answer?.verdict
    if (typeof verdict !== 'string' || !Object.hasOwn(verdictRank, verdict))
      throw bad('KYT_BAD_ANSWER', `unknown verdict ${shown(verdict)}`)
    if (verdictRank[verdict] > verdictRank[worst]) worst = verdict
  }
  return worst
}

const optionalString = (o: Record<string, unknown>, key: string, code: string) => {
  const v = o[key]
  if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > maxField))
    throw bad(code, `${key} must be a non-empty string of at most ${maxField} characters, got ${shown(v)}`)
}
const requiredString = (o: Record<string, unknown>, key: string, code: string) => {
  if (o[key] === undefined) throw bad(code, `${key} is missing`)
  optionalString(o, key, code)
}

/**
 * Checks a screening request from an untrusted caller: fields of the right types, non-empty, at most 256
 * characters, a CAIP-2 chain id. Throws a `KYT_BAD_REQUEST` `DriverError` (not retryable) otherwise; returns the
 * request typed. Providers call it first so hostile input never reaches their lookups.
 *
 * @example
 * const request = checkKytRequest(untrusted) // throws KYT_BAD_REQUEST on `{ address: '' }`
 */
export function checkKytRequest(value: unknown): KytRequest {
  const code = 'KYT_BAD_REQUEST'
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(code, `a screening request must be an object, got ${shown(value)}`)
  const o = value as Record<string, unknown>
  // field by field, no lists built per call: every screened address passes here
  requiredString(o, 'chain', code)
  requiredString(o, 'address', code)
  requiredString(o, 'addressKey', code)
  optionalString(o, 'asset', code)
  optionalString(o, 'txHash', code)
  if (!caip2.test(o.chain as string)) throw bad(code, `chain must be a CAIP-2 id, got ${shown(o.chain)}`)
  if (o.direction !== 'inbound' && o.direction !== 'outbound')
    throw bad(code, `direction must be inbound or outbound, got ${shown(o.direction)}`)
  if (o.amount !== undefined && (typeof o.amount !== 'bigint' || o.amount < 0n))
    throw bad(code, `amount must be a non-negative bigint, got ${shown(o.amount)}`)
  return o as KytRequest
}

/**
 * Checks a provider's answer before the gateway keeps it (a third-party provider may answer anything): a known
 * verdict and risk, string arrays of reasonable size, a source naming the provider. Throws a `KYT_BAD_ANSWER`
 * `DriverError` (not retryable) otherwise. The conformance check of a provider's output.
 *
 * @example
 * const answer = checkKytAnswer(await provider.screen(request))
 */
export function checkKytAnswer(value: unknown): KytAnswer {
  const code = 'KYT_BAD_ANSWER'
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(code, `an answer must be an object, got ${shown(value)}`)
  const o = value as Record<string, unknown>
  worstVerdict([o as Pick<KytAnswer, 'verdict'>])
  if (o.risk !== undefined && (typeof o.risk !== 'string' || !risks.includes(o.risk)))
    throw bad(code, `unknown risk ${shown(o.risk)}`)
  for (const key of ['categories', 'reasons']) {
    const list = o[key]
    if (!Array.isArray(list) || list.length > 64)
      throw bad(code, `${key} must be an array of at most 64 strings`)
    for (const item of list)
      if (typeof item !== 'string' || item.length > 1024)
        throw bad(code, `${key} must hold strings of at most 1024 characters, got ${shown(item)}`)
  }
  const source = o.source as Record<string, unknown> | undefined
  if (typeof source !== 'object' || source === null) throw bad(code, 'source is missing')
  requiredString(source, 'provider', code)
  if (source.version !== undefined && (typeof source.version !== 'string' || source.version.length > 1024))
    throw bad(
      code,
      `source.version must be a string of at most 1024 characters, got ${shown(source.version)}`,
    )
  return o as KytAnswer
}
