import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { TollgateError } from '../errors.ts'

const blockedV4: Array<[number, number]> = [
  [0x00000000, 8], // "this" network
  [0x0a000000, 8], // private
  [0x64400000, 10], // carrier-grade NAT
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (cloud metadata lives here)
  [0xac100000, 12], // private
  [0xc0a80000, 16], // private
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, broadcast
]

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0
}

/** True for loopback, private, link-local, CGNAT, multicast and reserved addresses (v4, v6, v4-mapped v6). */
export function isInternalAddress(ip: string): boolean {
  if (isIP(ip) === 4) {
    const n = v4ToInt(ip)
    return blockedV4.some(([base, bits]) => n >>> (32 - bits) === base >>> (32 - bits))
  }
  const v6 = ip.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6)
  if (mapped) return isInternalAddress(mapped[1] as string)
  // the same in hex groups, as URL parsing writes it: ::ffff:7f00:1 is 127.0.0.1
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6)
  if (mappedHex) {
    const n =
      (Number.parseInt(mappedHex[1] as string, 16) << 16) | Number.parseInt(mappedHex[2] as string, 16)
    return isInternalAddress([24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.'))
  }
  return (
    v6 === '::' ||
    v6 === '::1' ||
    /^f[cd]/.test(v6) || // unique local fc00::/7
    /^fe[89ab]/.test(v6) || // link-local fe80::/10
    /^ff/.test(v6) // multicast
  )
}

/**
 * Checks a webhook URL: http(s), no credentials, and (unless `allowInternal`) a host that resolves only to
 * public addresses, so a merchant cannot aim the gateway at its own network. Run at creation and before every
 * delivery (DNS can change in between).
 *
 * @example
 * await checkWebhookUrl('https://shop.example/hooks', { allowInternal: false })
 */
export async function checkWebhookUrl(input: string, options: { allowInternal: boolean }): Promise<URL> {
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
  if (options.allowInternal) return url
  const host = url.hostname.replace(/^\[|\]$/g, '')
  let addresses: string[]
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address)
  } catch {
    throw new TollgateError('INVALID_INPUT', 'url host does not resolve', 'url')
  }
  if (addresses.length === 0 || addresses.some(isInternalAddress))
    throw new TollgateError(
      'URL_NOT_ALLOWED',
      'url resolves to a loopback, private or link-local address',
      'url',
    )
  return url
}
