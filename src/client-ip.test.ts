import { describe, expect, test } from 'bun:test'
import { clientAddress, parseTrustedProxies, rateLimitSubject } from './client-ip.ts'

const proxies = parseTrustedProxies('10.0.0.0/8, 127.0.0.1, fd00::/8') ?? []

describe('clientAddress', () => {
  test('default: without trusted proxies the peer is the client and X-Forwarded-For is never read', () => {
    expect(clientAddress('203.0.113.9', '198.51.100.1', [])).toBe('203.0.113.9')
    expect(clientAddress('203.0.113.9', null, [])).toBe('203.0.113.9')
  })

  test('behavior: behind trusted proxies, the rightmost address that is not a proxy is the client', () => {
    expect(clientAddress('10.0.0.2', '198.51.100.1', proxies)).toBe('198.51.100.1')
    expect(clientAddress('10.0.0.2', '198.51.100.1, 10.0.0.7', proxies)).toBe('198.51.100.1')
    expect(clientAddress('127.0.0.1', '198.51.100.1, 10.0.0.7, 10.0.0.8', proxies)).toBe('198.51.100.1')
    expect(clientAddress('fd00::1', '2001:db8::5', proxies)).toBe('2001:db8::5')
  })

  test('behavior: a chain of proxies only is answered with the leftmost of them', () => {
    expect(clientAddress('10.0.0.2', '10.0.0.3, 10.0.0.4', proxies)).toBe('10.0.0.3')
  })

  test('behavior: IPv4-mapped IPv6 peers are IPv4 clients; brackets and ports are understood', () => {
    expect(clientAddress('::ffff:203.0.113.9', null, [])).toBe('203.0.113.9')
    expect(clientAddress('10.0.0.2', '[2001:db8::7]:4711', proxies)).toBe('2001:db8::7')
    expect(clientAddress('10.0.0.2', '198.51.100.1:8080', proxies)).toBe('198.51.100.1')
  })

  const spoofs: Array<[label: string, peer: string, header: string, client: string]> = [
    ['an untrusted peer naming another address', '203.0.113.9', '10.0.0.1', '203.0.113.9'],
    ['an untrusted peer naming a trusted proxy chain', '203.0.113.9', '1.1.1.1, 10.0.0.2', '203.0.113.9'],
    [
      'a client prepending addresses before the proxy-appended one',
      '10.0.0.2',
      '1.1.1.1, 2.2.2.2, 198.51.100.1',
      '198.51.100.1',
    ],
    ['garbage appended by a misconfigured proxy', '10.0.0.2', 'not-an-ip', '10.0.0.2'],
    ['an empty entry', '10.0.0.2', '198.51.100.1, ', '10.0.0.2'],
    ['a short-form IPv4 (127.1)', '10.0.0.2', '127.1', '10.0.0.2'],
    ['a hexadecimal IPv4', '10.0.0.2', '0x7f.0.0.1', '10.0.0.2'],
    ['an octet over 255', '10.0.0.2', '300.1.1.1', '10.0.0.2'],
    ['an IPv4 with a CIDR suffix', '10.0.0.2', '198.51.100.0/24', '10.0.0.2'],
    ['a host name', '10.0.0.2', 'evil.example', '10.0.0.2'],
    ['a 2,000-character entry', '10.0.0.2', '1'.repeat(2000), '10.0.0.2'],
    ['a NUL inside an address', '10.0.0.2', '198.51.100.1\u0000', '10.0.0.2'],
    ['an IPv6 zone id', '10.0.0.2', 'fe80::1%eth0', '10.0.0.2'],
    ['a chain of 10,000 proxy hops', '10.0.0.2', Array(10_000).fill('10.0.0.3').join(','), '10.0.0.3'],
    [
      '10,000 client-written addresses before the proxy-appended one',
      '10.0.0.2',
      `${Array(10_000).fill('1.1.1.1').join(',')},198.51.100.1`,
      '198.51.100.1',
    ],
  ]
  for (const [label, peer, header, client] of spoofs)
    test(`error: ${label} does not choose the client's address`, () => {
      expect(clientAddress(peer, header, proxies)).toBe(client)
    })

  test('error: a peer that is not an address gives no client (the address limits then do not apply)', () => {
    for (const peer of [undefined, '', 'localhost', 'unix:/tmp/socket', '1'.repeat(500)])
      expect(clientAddress(peer, '198.51.100.1', proxies)).toBeUndefined()
  })
})

describe('parseTrustedProxies', () => {
  test('default: addresses and CIDR ranges, v4 and v6, with spaces', () => {
    expect(
      parseTrustedProxies(' 10.0.0.0/8 ,127.0.0.1, ::1, fd00::/8 ')?.map(([a, bits]) => `${a}/${bits}`),
    ).toEqual(['10.0.0.0/8', '127.0.0.1/32', '::1/128', 'fd00::/8'])
  })

  for (const bad of [
    'true',
    '*',
    'any',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/-1',
    '10.0.0.0/',
    '10.0.0.0/8/8',
    'example.com',
    '127.1',
  ])
    test(`error: "${bad}" is not a proxy address or range`, () => {
      expect(parseTrustedProxies(`10.0.0.1,${bad}`)).toBeUndefined()
    })
})

describe('rateLimitSubject', () => {
  test('default: IPv4 is itself, IPv6 is its /64', () => {
    expect(rateLimitSubject('203.0.113.9')).toBe('203.0.113.9')
    expect(rateLimitSubject('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(rateLimitSubject('2001:db8:1:2:ffff::9')).toBe('2001:db8:1:2::/64')
    expect(rateLimitSubject('::ffff:203.0.113.9')).toBe('203.0.113.9')
  })
})
