import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6

/** Address ranges of the reverse proxies whose `X-Forwarded-For` is believed (`TRUST_PROXY`). */
export type TrustedProxies = ReadonlyArray<[Address, number]>

// a proxy chain longer than this is not a deployment, it is someone padding the header
const maxForwardedHops = 32

/**
 * An address as written by a socket or a proxy: IPv4 in four-part decimal only (`127.1` and `0x7f.0.0.1` are
 * refused), IPv6 with or without brackets, either with a port; IPv4-mapped IPv6 becomes IPv4.
 */
function parseAddress(text: string): Address | undefined {
  let value = text.trim()
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value)
  if (bracketed) value = bracketed[1] as string
  else {
    const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(value)
    if (v4WithPort) value = v4WithPort[1] as string
  }
  if (value.length === 0 || value.length > 64) return undefined
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return ipaddr.IPv4.parse(value)
  // a zone id (fe80::1%eth0) names an interface of the sender, nothing a remote client has
  if (!value.includes(':') || value.includes('%') || !ipaddr.IPv6.isValid(value)) return undefined
  const v6 = ipaddr.IPv6.parse(value)
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6
}

/**
 * Parses `TRUST_PROXY`: comma-separated addresses or CIDR ranges of the proxies in front of the API. Returns
 * undefined when an entry is neither, so the caller can name the setting.
 *
 * @example
 * parseTrustedProxies('10.0.0.0/8, 127.0.0.1') // two ranges
 */
export function parseTrustedProxies(value: string): TrustedProxies | undefined {
  const out: Array<[Address, number]> = []
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const slash = entry.indexOf('/')
    const address = parseAddress(slash < 0 ? entry : entry.slice(0, slash))
    if (!address) return undefined
    const full = address.kind() === 'ipv4' ? 32 : 128
    const bitsText = slash < 0 ? String(full) : entry.slice(slash + 1)
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > full) return undefined
    out.push([address, Number(bitsText)])
  }
  return out
}

function isTrusted(address: Address, trusted: TrustedProxies): boolean {
  return trusted.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits))
}

/**
 * The client's address. The socket's peer is the client unless it is a trusted proxy; then `X-Forwarded-For`
 * is read from the right (each trusted hop appends the address it saw), and the first address that is not a
 * trusted proxy is the client. Entries left of it were written by the client and are ignored, so a spoofed
 * header buys nothing; without `TRUST_PROXY` the header is never read. A malformed entry stops the walk at the
 * hop that wrote it.
 *
 * @example
 * clientAddress('10.0.0.2', '203.0.113.9, 10.0.0.7', parseTrustedProxies('10.0.0.0/8')!) // '203.0.113.9'
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | null,
  trusted: TrustedProxies,
): string | undefined {
  let client = peer === undefined ? undefined : parseAddress(peer)
  if (!client) return undefined
  if (forwardedFor && trusted.length > 0) {
    // only the tail matters: the hops that trusted proxies appended
    const hops = forwardedFor.slice(-maxForwardedHops * 48).split(',')
    for (let i = hops.length - 1; i >= 0 && i >= hops.length - maxForwardedHops; i--) {
      if (!isTrusted(client, trusted)) break
      const next = parseAddress(hops[i] as string)
      if (!next) break
      client = next
    }
  }
  return client.toString()
}

/**
 * What a per-address limit counts against: an IPv4 address, or an IPv6 address's /64 (one subscriber's
 * network; counting single IPv6 addresses would let a client rotate through 2^64 of them).
 *
 * @example
 * rateLimitSubject('2001:db8::1') // '2001:db8:0:0::/64'
 */
export function rateLimitSubject(address: string): string {
  const parsed = parseAddress(address)
  if (!parsed) return address.slice(0, 64)
  if (parsed.kind() === 'ipv4') return parsed.toString()
  return `${(parsed as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((p) => p.toString(16))
    .join(':')}::/64`
}
