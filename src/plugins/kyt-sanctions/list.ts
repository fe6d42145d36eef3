import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { DriverError } from '@tollgate/sdk'
import { entryFamily, type Family } from './formats.ts'

/** One address of a list, with the line it came from. */
export type ListEntry = { address: string; line: number; family: Family }

/** A loaded list: its entries and the version recorded with every answer. */
export type LoadedList = {
  asset: string
  /** The file path or URL it came from. */
  origin: string
  entries: ListEntry[]
  /** `YYYY-MM-DD`: a `# date:` header, else the file's modification date (a URL's `Last-Modified`, else today). */
  date: string
  /** sha256 of the exact bytes, hex. */
  sha256: string
  /** `asset date sha256:<first 16 hex digits>`: which list answered, short enough to keep with every screening. */
  version: string
}

export type ListSource = { asset: string; file?: string; url?: string }
export type ListLimits = { maxBytes: number; fetchTimeoutMs: number }

const dateHeader = /^#\s*(?:date\s*:?\s*)?(\d{4}-\d{2}-\d{2})\b/i
const shownLine = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)
const fail = (code: string, message: string, retryable = false, cause?: unknown) =>
  new DriverError(code, message, { retryable, cause })

/**
 * The addresses of a list text: one per line, trimmed; blank lines and `#` comments skipped. A line that is no
 * address of a known family (with a valid checksum where the format has one) is refused with its origin and line
 * number: a list is never loaded with garbage in it, and a list without a single address is refused too (an
 * empty sanctions list is a broken download, not a clean world).
 *
 * @example
 * parseList('# date: 2024-09-27\n0x8589427373D6D84E98730D7795D8f6f8731FDA16\n', 'eth.txt')
 * // { entries: [{ address: '0x8589…', line: 2, family: 'eip155' }], date: '2024-09-27' }
 */
export function parseList(text: string, origin: string): { entries: ListEntry[]; date?: string } {
  const entries: ListEntry[] = []
  let date: string | undefined
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const address = (lines[i] as string).trim()
    if (address === '') continue
    if (address.startsWith('#')) {
      date ??= dateHeader.exec(address)?.[1]
      continue
    }
    const family = entryFamily(address)
    if (!family)
      throw fail(
        'KYT_LIST_MALFORMED',
        `${origin}:${i + 1}: not an address of a known chain: ${shownLine(address)}`,
      )
    entries.push({ address, line: i + 1, family })
  }
  if (entries.length === 0) throw fail('KYT_LIST_MALFORMED', `${origin}: the list holds no address`)
  return { entries, date }
}

const utcDate = (time: Date) => time.toISOString().slice(0, 10)

async function readListFile(path: string, maxBytes: number): Promise<{ bytes: Uint8Array; modified: Date }> {
  try {
    const info = await stat(path)
    if (!info.isFile()) throw fail('KYT_LIST_UNREADABLE', `${path}: not a file`)
    if (info.size > maxBytes)
      throw fail('KYT_LIST_TOO_LARGE', `${path}: ${info.size} bytes, more than the ${maxBytes} allowed`)
    const bytes = await readFile(path)
    // the file may have grown between stat and read
    if (bytes.length > maxBytes)
      throw fail('KYT_LIST_TOO_LARGE', `${path}: ${bytes.length} bytes, more than the ${maxBytes} allowed`)
    return { bytes, modified: info.mtime }
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw fail('KYT_LIST_UNREADABLE', `${path}: ${(err as Error).message}`, false, err)
  }
}

async function fetchList(
  url: string,
  limits: ListLimits,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; modified: Date }> {
  const timeout = AbortSignal.timeout(limits.fetchTimeoutMs)
  let response: Response
  try {
    response = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout })
  } catch (err) {
    throw fail('KYT_LIST_UNREADABLE', `${url}: ${(err as Error).message}`, true, err)
  }
  if (!response.ok) {
    await response.body?.cancel()
    const retryable = response.status === 429 || response.status >= 500
    throw fail('KYT_LIST_UNREADABLE', `${url}: HTTP ${response.status}`, retryable)
  }
  const tooLarge = () => fail('KYT_LIST_TOO_LARGE', `${url}: more than the ${limits.maxBytes} bytes allowed`)
  if (Number(response.headers.get('content-length') ?? 0) > limits.maxBytes) {
    await response.body?.cancel()
    throw tooLarge()
  }
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = response.body?.getReader()
  try {
    for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
      size += read.value.length
      if (size > limits.maxBytes) {
        await reader?.cancel()
        throw tooLarge()
      }
      chunks.push(read.value)
    }
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw fail('KYT_LIST_UNREADABLE', `${url}: ${(err as Error).message}`, true, err)
  }
  const modified = new Date(response.headers.get('last-modified') ?? Date.now())
  return { bytes: Buffer.concat(chunks), modified: Number.isNaN(modified.getTime()) ? new Date() : modified }
}

/**
 * Reads one list from its file or URL (at most `maxBytes`; a URL within `fetchTimeoutMs`), parses it and names
 * its version. Typed errors: `KYT_LIST_UNREADABLE` (missing file; a URL that fails — retryable on network errors,
 * 429 and 5xx), `KYT_LIST_TOO_LARGE`, `KYT_LIST_MALFORMED` (not UTF-8, a bad line, no address).
 *
 * @example
 * const list = await loadList({ asset: 'ETH', file: 'lists/ofac_sdn_ETH.txt' }, { maxBytes: 4 << 20, fetchTimeoutMs: 30_000 })
 * list.version // 'ETH 2024-09-27 sha256:3f1c…'
 */
export async function loadList(
  source: ListSource,
  limits: ListLimits,
  signal?: AbortSignal,
): Promise<LoadedList> {
  const origin = source.file ?? source.url
  if (!origin) throw fail('KYT_LIST_UNREADABLE', `list ${source.asset}: neither file nor url`)
  const { bytes, modified } = source.file
    ? await readListFile(source.file, limits.maxBytes)
    : await fetchList(origin, limits, signal)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw fail('KYT_LIST_MALFORMED', `${origin}: not UTF-8 text`, false, err)
  }
  const parsed = parseList(text, origin)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const date = parsed.date ?? utcDate(modified)
  return {
    asset: source.asset,
    origin,
    entries: parsed.entries,
    date,
    sha256,
    version: `${source.asset} ${date} sha256:${sha256.slice(0, 16)}`,
  }
}
