import { errorFacts } from './rpc-errors.ts'

/**
 * An `eth_getLogs` answer refused for its size: the block range is wider than the provider allows, or the logs
 * it would return are too many. `limit` is how many blocks one call may span there, when the refusal says so.
 */
export type LogsRefusal = { limit?: number }

/**
 * JSON-RPC codes providers refuse an over-wide or over-full `eth_getLogs` with: -32005 (limit exceeded: Infura's
 * "query returned more than 10000 results", BSC's "limit exceeded"), -32602 (invalid params: Alchemy's "Log
 * response size exceeded", Infura's "range 1000000 exceeds limit of 10000", Tenderly's bare "invalid params"
 * with the limit in `data`), -32600 (Alchemy's "up to a 500 block range", Ankr's "block range is too wide"),
 * -32614 (QuickNode, with HTTP 413) and -32047 (Cloudflare's "range too large. Max range: 800").
 */
const refusalCodes = new Set([-32005, -32602, -32600, -32614, -32047])

/** What providers say when the range or the answer is too large, whatever code they use (-32000 mostly). */
const refusalText =
  /block range|range (?:is )?too (?:large|wide)|range limit|limited to|max(?:imum)? (?:block )?range|exceeds? (?:the )?(?:max|limit)|query returned more than|query exceeds|too many (?:blocks|logs|results)|response size|response too large|log response|try with this block range|should work|blocks distance|limit the query|range \d+ exceeds|greater than [\d,.]+ max/i

/**
 * Errors that share those codes but say something else: a rate limit (retry later, the range is fine), a range
 * beyond the node's head (a node behind, not a limit), a block the node does not have, too many addresses or
 * topics (narrower ranges do not help).
 */
const notRefusalText =
  /rate limit|rate exceeded|too many requests|request count|capacity|compute units|per second|beyond (?:the )?(?:current )?head|invalid block range|after toBlock|unknown block|header not found|not found|addresses or topics/i

/** A provider's number: "10,000", "2K", "800". */
function count(text: string): number | undefined {
  const m = /^([\d,.]+)(k?)$/i.exec(text.trim())
  if (!m) return undefined
  const n = Number((m[1] as string).replace(/[,.]/g, '')) * (m[2] ? 1000 : 1)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** Phrases that name how many blocks one call may span, from the providers' own error messages. */
const namedLimits: RegExp[] = [
  /limited to (?:a )?([\d,.]+k?)\b/i, // QuickNode "limited to a 10,000 range", BlockPI "limited to 1000 block"
  /up to (?:a )?([\d,.]+k?) block range/i, // Alchemy "up to a 2K block range", "up to a 10 block range"
  /max(?:imum)? (?:block )?range\s*[:=]?\s*([\d,.]+k?)\b/i, // Cloudflare "Max range: 800", BSC "maximum block range: 5000"
  /range limit (?:of )?([\d,.]+k?)\b/i, // Tenderly "bigger than range limit 2000"
  /exceeds limit of ([\d,.]+k?)\b/i, // Infura "range 1000000 exceeds limit of 10000"
  /maximum is set to ([\d,.]+)/i, // Avalanche "requested too many blocks from 0 to 10000, maximum is set to 2048"
  /blocks distance: ([\d,.]+)/i, // Ankr "maximum [from, to] blocks distance: 10000"
  /at most ([\d,.]+) blocks/i, // Coinbase "please limit the query to at most 1000 blocks"
  /requested blocks is ([\d,.]+)/i, // thirdweb "Maximum allowed number of requested blocks is 3000"
  /\(maximum ([\d,.]+)\)/i, // Moonbeam "block range is too wide (maximum 1024)"
  /greater than ([\d,.]+) max/i, // "block range greater than 10000 max"
  /\(\d+ > (\d+)\)/, // Blast "exceeds the range allowed for your plan (5000 > 500)"
  /narrow your filter: (\d+)/i, // Erigon "query block range exceeds server limit, narrow your filter: 1000"
]

/**
 * How many blocks the refusal says one call may span: a suggested range (Alchemy's "this block range should
 * work: [0x1, 0x2]", Infura's "Try with this block range [0x1, 0x2]", reth's "retry with the range 1-2") or a
 * named limit. Undefined when it names none ("query returned more than 10000 results" counts logs, not blocks).
 */
export function limitNamedIn(text: string): number | undefined {
  const suggested = /\[\s*(0x[0-9a-f]+)\s*,\s*(0x[0-9a-f]+)\s*\]/i.exec(text)
  if (suggested) {
    const span = BigInt(suggested[2] as string) - BigInt(suggested[1] as string) + 1n
    if (span > 0n && span <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(span)
  }
  const decimal = /retry with the range (\d+)-(\d+)/i.exec(text)
  if (decimal) {
    const span = Number(decimal[2]) - Number(decimal[1]) + 1
    if (Number.isSafeInteger(span) && span > 0) return span
  }
  for (const re of namedLimits) {
    const m = re.exec(text)
    const n = m ? count(m[1] as string) : undefined
    if (n !== undefined) return n
  }
  return undefined
}

/**
 * Whether an `eth_getLogs` error is a refusal of the range's size, judged by HTTP status (413), JSON-RPC code
 * and the providers' known messages; with the number of blocks it allows when it names one. Rate limits,
 * ranges beyond the node's head and everything else are not refusals (retry them, or ask another URL).
 *
 * @example
 * logsRefusal(err) // { limit: 10000 } for QuickNode's 413 "eth_getLogs is limited to a 10,000 range"
 */
export function logsRefusal(err: unknown): LogsRefusal | undefined {
  const { code, status, text } = errorFacts(err)
  if (status === 429 || notRefusalText.test(text)) return undefined
  const refused = status === 413 || (code !== undefined && refusalCodes.has(code)) || refusalText.test(text)
  if (!refused) return undefined
  const limit = limitNamedIn(text)
  return limit === undefined ? {} : { limit }
}

/**
 * The limit to keep for a URL after it refused `refusedSpan` blocks: what it named, else half the refused span;
 * never as many blocks as it refused (so the next ask is smaller: no loop), never above what was learned before
 * (no flapping), never under 1 block.
 */
export function learnedLimit(current: number | undefined, refusedSpan: number, refusal: LogsRefusal): number {
  const said = refusal.limit ?? Math.floor(refusedSpan / 2)
  return Math.max(1, Math.min(said, refusedSpan - 1, current ?? Number.POSITIVE_INFINITY))
}
