import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { TollgateError } from '../errors.ts'

/** One answer of a name lookup. */
export type ResolvedAddress = { address: string; family: number }

/** Turns a host name into its addresses; injectable so tests can answer differently on each call. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>

/** The operating system's resolver (getaddrinfo: /etc/hosts, then DNS), as `fetch` would use it. */
export const systemResolver: HostResolver = (hostname) => lookup(hostname, { all: true })

/** A checked address, ready to connect to. */
export type PinnedAddress = { address: string; family: 4 | 6 }

/**
 * A checked URL and the addresses (in the resolver's order) the request may go to: connecting anywhere else
 * would re-open the check.
 */
export type WebhookTarget = { url: URL; addresses: PinnedAddress[] }

type GuardOptions = { allowInternal: boolean; resolve?: HostResolver }

const v4 = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 255, low >> 8, low & 255])
const ipv4Compatible = ipaddr.IPv6.parseCIDR('::/96')
const nat64 = ipaddr.IPv6.parseCIDR('64:ff9b::/96')

/**
 * The IPv4 addresses an IPv6 address stands for, where the network would carry the packet on to them: mapped
 * (::ffff:0:0/96), translated (::ffff:0:0:0/96), compatible (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16,
 * the gateway's address) and Teredo (2001::/32: the server and the obfuscated client). Null for other addresses.
 */
function embeddedV4(address: ipaddr.IPv6): ipaddr.IPv4[] | null {
  const part = (i: number) => address.parts[i] ?? 0
  const range: string = address.range()
  if (range === 'ipv4Mapped' || range === 'rfc6145' || address.match(ipv4Compatible) || address.match(nat64))
    return [v4(part(6), part(7))]
  if (range === '6to4') return [v4(part(1), part(2))]
  if (range === 'teredo') return [v4(part(2), part(3)), v4(part(6) ^ 0xffff, part(7) ^ 0xffff)]
  return null
}

function isPublic(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (address.kind() === 'ipv4') return address.range() === 'unicast'
  const v6 = address as ipaddr.IPv6
  const embedded = embeddedV4(v6)
  if (embedded) return embedded.every(isPublic)
  // 64:ff9b:1::/48 (RFC 8215) is a local-use translation prefix: never globally reachable
  if (v6.range() !== 'unicast') return false
  // global unicast is allocated from 2000::/3 only; the rest of the space is unassigned
  return (v6.parts[0]! & 0xe000) === 0x2000
}

/**
 * True unless `ip` is a globally routable unicast address (ipaddr.js's `range()` is `unicast`, and for IPv6
 * inside 2000::/3). IPv6 forms that carry an IPv4 address are judged by it, so `::ffff:7f00:1`,
 * `::127.0.0.1`, `64:ff9b::a9fe:a9fe` and `2002:a00:1::` are internal. Anything that is not an IP is internal.
 *
 * @example
 * isInternalAddress('203.0.113.9') // true: documentation (TEST-NET-3)
 * isInternalAddress('2606:4700:4700::1111') // false
 */
export function isInternalAddress(ip: string): boolean {
  if (isIP(ip) === 0) return true
  try {
    return !isPublic(ipaddr.parse(ip))
  } catch {
    return true
  }
}

function parseWebhookUrl(input: string): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new TollgateError('INVALID_INPUT', 'url is not a valid URL', 'url')
  }
  if (input.length > 2048)
    throw new TollgateError('INVALID_INPUT', 'url is longer than 2048 characters', 'url')
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new TollgateError('INVALID_INPUT', 'url must be http or https', 'url')
  if (url.username || url.password)
    throw new TollgateError('INVALID_INPUT', 'url must not carry credentials', 'url')
  return url
}

/** The host's addresses, resolved once; an IP literal is its own answer and asks no resolver. */
async function addressesOf(url: URL, resolve: HostResolver): Promise<string[]> {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host)) return [host]
  try {
    return (await resolve(host)).map((answer) => answer.address)
  } catch {
    throw new TollgateError('INVALID_INPUT', 'url host does not resolve', 'url')
  }
}

function refuseInternal(addresses: string[]): void {
  if (addresses.length === 0 || addresses.some(isInternalAddress))
    throw new TollgateError(
      'URL_NOT_ALLOWED',
      'url resolves to an address that is not public (loopback, private, link-local, reserved or documentation)',
      'url',
    )
}

/**
 * Checks a webhook URL: http(s), no credentials, and (unless `allowInternal`) a host whose addresses are all
 * globally routable, so a merchant cannot aim the gateway at its own network. Run when an endpoint is stored;
 * delivery uses `resolveWebhookTarget`, which also says where to connect.
 *
 * @example
 * await checkWebhookUrl('https://shop.example/hooks', { allowInternal: false })
 */
export async function checkWebhookUrl(input: string, options: GuardOptions): Promise<URL> {
  const url = parseWebhookUrl(input)
  if (options.allowInternal) return url
  refuseInternal(await addressesOf(url, options.resolve ?? systemResolver))
  return url
}

/**
 * Checks a webhook URL as `checkWebhookUrl` does and returns the addresses the request may connect to: the host
 * is resolved here, once, and the sender connects to these answers without a lookup of its own, so a name that
 * resolves elsewhere a moment later (DNS rebinding) cannot slip past the check. With `allowInternal` any
 * address is accepted, but the host is still resolved once and pinned.
 *
 * @example
 * const { url, addresses } = await resolveWebhookTarget('https://shop.example/hooks', { allowInternal: false })
 */
export async function resolveWebhookTarget(input: string, options: GuardOptions): Promise<WebhookTarget> {
  const url = parseWebhookUrl(input)
  const addresses = await addressesOf(url, options.resolve ?? systemResolver)
  if (!options.allowInternal) refuseInternal(addresses)
  const pinned = addresses.flatMap((address): PinnedAddress[] => {
    const family = isIP(address)
    return family === 4 || family === 6 ? [{ address, family }] : []
  })
  if (pinned.length === 0) throw new TollgateError('INVALID_INPUT', 'url host does not resolve', 'url')
  return { url, addresses: pinned }
}
