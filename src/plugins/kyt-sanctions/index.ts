import {
  checkKytRequest,
  DriverError,
  defineKytProvider,
  type KytAnswer,
  type KytContext,
  type KytProvider,
  type KytRequest,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { chainFamily } from './formats.ts'
import { type LoadedList, loadList } from './list.ts'
import { type SanctionsOptions, sanctionsOptionsSchema } from './options.ts'

/** Where a key was listed: the list's asset and the line. */
type Hit = { asset: string; line: number }

/** Loaded lists and, per CAIP-2 chain the gateway runs, the chain's `addressKey` of every listed address. */
type Index = { lists: LoadedList[]; byChain: Map<string, Map<string, Hit[]>>; version: string }

/** The sanctions provider, with the loaded lists' versions for `tollgate kyt update` to report. */
export type SanctionsProvider = KytProvider & {
  reload(signal?: AbortSignal): Promise<void>
  /**
   * The list matching itself, synchronous: the lists' entries for `addressKey` on `chainId` (undefined when
   * unlisted). `screen` is this behind the contract's request check and answer.
   */
  match(chainId: string, addressKey: string): readonly Hit[] | undefined
  lists(): ReadonlyArray<
    Pick<LoadedList, 'asset' | 'origin' | 'date' | 'sha256' | 'version'> & { size: number }
  >
}

async function buildIndex(options: SanctionsOptions, ctx: KytContext, signal?: AbortSignal): Promise<Index> {
  const limits = { maxBytes: options.maxBytes, fetchTimeoutMs: options.fetchTimeoutMs }
  const lists = await Promise.all(options.lists.map((source) => loadList(source, limits, signal)))
  const byChain = new Map(ctx.chains.map((c) => [c.chainId, new Map<string, Hit[]>()]))
  for (const [i, list] of lists.entries()) {
    const only = options.lists[i]?.chains
    const chains = ctx.chains.filter((c) => (only ? only.includes(c.chainId) : true))
    let skipped = 0
    for (const entry of list.entries)
      for (const chain of chains) {
        if (chainFamily(chain.chainId) !== entry.family) continue
        let key: string
        try {
          key = chain.addressKey(entry.address)
        } catch {
          // an address of another network of the family (a mainnet Bitcoin address on regtest): not on this chain
          skipped++
          continue
        }
        const keys = byChain.get(chain.chainId) as Map<string, Hit[]>
        const hits = keys.get(key)
        if (hits) hits.push({ asset: list.asset, line: entry.line })
        else keys.set(key, [{ asset: list.asset, line: entry.line }])
      }
    ctx.log.info(
      { list: list.asset, origin: list.origin, version: list.version, entries: list.entries.length, skipped },
      'sanctions list loaded',
    )
  }
  return { lists, byChain, version: lists.map((l) => l.version).join('; ') }
}

/**
 * The offline sanctions-list provider: OFAC SDN digital-currency address lists (or any list of the same shape),
 * loaded from files or URLs. Every listed address is keyed through the `addressKey` of each chain of its family
 * the gateway runs (a chain refusing it, e.g. a mainnet Bitcoin address on regtest, does not list it), so a
 * lookup is one exact `Map` get on the key the chain itself compares. A listed address answers `block`,
 * `severe`, `sanctions`; any other `allow`. Every answer carries the versions (date + sha256) of all lists.
 * Hostile requests are refused with `KYT_BAD_REQUEST`, a chain the gateway does not run with
 * `KYT_UNKNOWN_CHAIN`: never an `allow` for input it could not look up.
 *
 * @example
 * const kyt = await createSanctionsProvider(sanctionsOptionsSchema.parse({ lists: [{ asset: 'ETH', file: 'ofac_sdn_ETH.txt' }] }), ctx)
 * await kyt.screen({ chain: 'eip155:1', address, addressKey: address.toLowerCase(), direction: 'inbound' })
 */
export async function createSanctionsProvider(
  options: SanctionsOptions,
  ctx: KytContext,
): Promise<SanctionsProvider> {
  for (const [i, list] of options.lists.entries())
    for (const id of list.chains ?? [])
      if (!ctx.chains.some((c) => c.chainId === id))
        throw new DriverError(
          'KYT_CONFIG',
          `lists[${i}] (${list.asset}) names ${id}, a chain the gateway does not run`,
          {
            retryable: false,
          },
        )
  let index = await buildIndex(options, ctx)
  // the answer for every unlisted address of one set of lists: made once per load, frozen (nobody may change it)
  const allowAnswer = (): KytAnswer =>
    Object.freeze({
      verdict: 'allow',
      categories: Object.freeze([]) as unknown as string[],
      reasons: Object.freeze([]) as unknown as string[],
      source: Object.freeze({ provider: ctx.name, version: index.version }),
    }) as KytAnswer
  let allow = allowAnswer()
  const match = (chainId: string, addressKey: string) => {
    const keys = index.byChain.get(chainId)
    if (!keys)
      throw new DriverError('KYT_UNKNOWN_CHAIN', `${chainId} is not a chain the gateway runs`, {
        retryable: false,
      })
    return keys.get(addressKey)
  }
  return {
    match,
    async screen(untrusted: KytRequest): Promise<KytAnswer> {
      const request = checkKytRequest(untrusted)
      const hits = match(request.chain, request.addressKey)
      if (!hits) return allow
      return {
        verdict: 'block',
        risk: 'severe',
        categories: ['sanctions'],
        reasons: hits.map((h) => `${request.address} is on the OFAC SDN ${h.asset} list (line ${h.line})`),
        source: { provider: ctx.name, version: index.version },
      }
    },
    async reload(signal) {
      // the old lists answer until the new ones are all loaded; a failed reload keeps them
      index = await buildIndex(options, ctx, signal)
      allow = allowAnswer()
    },
    lists: () =>
      index.lists.map(({ asset, origin, date, sha256, version, entries }) => ({
        asset,
        origin,
        date,
        sha256,
        version,
        size: entries.length,
      })),
  }
}

export default defineKytProvider({
  apiVersion: SDK_API_VERSION,
  name: 'kyt-sanctions',
  options: sanctionsOptionsSchema,
  create: (options, ctx) => createSanctionsProvider(options, ctx),
})
