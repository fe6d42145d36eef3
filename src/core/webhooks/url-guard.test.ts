import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { isIP } from 'node:net'
import { eq } from 'drizzle-orm'
import { openUnitDb, unitMerchant, unitWebhookContext } from '../../../test/helpers/unit.ts'
import type { DbHandle } from '../../db/client.ts'
import { webhookEndpoints } from '../../db/schema/index.ts'
import { TollgateError } from '../errors.ts'
import { createWebhookEndpoint, updateWebhookEndpoint } from './endpoints.ts'
import type { WebhookContext } from './events.ts'
import {
  checkWebhookUrl,
  type HostResolver,
  isInternalAddress,
  type ResolvedAddress,
  resolveWebhookTarget,
} from './url-guard.ts'

const strict = { allowInternal: false }
const lenient = { allowInternal: true }

/** [address, what it is]: none of these may receive a webhook in production. */
const internalAddresses: Array<[string, string]> = [
  // IPv4
  ['0.0.0.0', '"this" network'],
  ['0.255.255.255', '"this" network, top'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback, top'],
  ['10.0.0.1', 'private 10/8'],
  ['10.255.255.255', 'private 10/8, top'],
  ['172.16.0.1', 'private 172.16/12'],
  ['172.31.255.255', 'private 172.16/12, top'],
  ['192.168.0.1', 'private 192.168/16'],
  ['192.168.255.255', 'private 192.168/16, top'],
  ['169.254.169.254', 'link-local: cloud metadata'],
  ['169.254.0.1', 'link-local'],
  ['100.64.0.1', 'carrier-grade NAT'],
  ['100.100.100.200', 'carrier-grade NAT: a cloud metadata service'],
  ['100.127.255.255', 'carrier-grade NAT, top'],
  ['192.0.0.1', 'IETF protocol assignments 192.0.0/24'],
  ['192.0.0.170', 'NAT64 discovery'],
  ['192.0.2.1', 'TEST-NET-1'],
  ['192.0.2.255', 'TEST-NET-1, top'],
  ['198.51.100.7', 'TEST-NET-2'],
  ['198.51.100.255', 'TEST-NET-2, top'],
  ['203.0.113.9', 'TEST-NET-3'],
  ['203.0.113.255', 'TEST-NET-3, top'],
  ['198.18.0.1', 'benchmarking 198.18/15'],
  ['198.19.255.254', 'benchmarking 198.18/15, top'],
  ['192.88.99.1', '6to4 relay anycast (deprecated)'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast (SSDP)'],
  ['240.0.0.1', 'reserved 240/4'],
  ['255.255.255.255', 'broadcast'],
  // IPv6
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'unique local'],
  ['fd00:ec2::254', 'unique local: cloud metadata'],
  ['fd12:3456:789a::1', 'unique local'],
  ['fe80::1', 'link-local'],
  ['FE80::1', 'link-local, upper case'],
  ['febf::1', 'link-local, top'],
  ['fec0::1', 'site-local (deprecated)'],
  ['feff::1', 'site-local, top'],
  ['ff02::1', 'multicast'],
  ['100::1', 'discard 100::/64'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation 3fff::/20'],
  ['2001:2::1', 'benchmarking'],
  ['2001:10::1', 'ORCHID (deprecated)'],
  ['2001:20::1', 'ORCHIDv2'],
  ['5f00::1', 'segment routing'],
  ['1::1', 'unassigned, outside 2000::/3'],
  ['4000::1', 'unassigned, outside 2000::/3'],
  // IPv6 forms carrying an internal IPv4 address
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback in hex, as URL parsing writes it'],
  ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
  ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata in hex'],
  ['::ffff:10.0.0.1', 'IPv4-mapped private'],
  ['::ffff:c0a8:101', 'IPv4-mapped 192.168.1.1'],
  ['::ffff:0:0', 'IPv4-mapped 0.0.0.0'],
  ['::ffff:203.0.113.9', 'IPv4-mapped TEST-NET-3'],
  ['::127.0.0.1', 'IPv4-compatible loopback'],
  ['::7f00:1', 'IPv4-compatible loopback in hex'],
  ['::a9fe:a9fe', 'IPv4-compatible metadata'],
  ['::a00:1', 'IPv4-compatible private'],
  ['::ffff:0:127.0.0.1', 'IPv4-translated loopback'],
  ['::ffff:0:7f00:1', 'IPv4-translated loopback in hex'],
  ['::ffff:0:a9fe:a9fe', 'IPv4-translated metadata'],
  ['64:ff9b::127.0.0.1', 'NAT64 loopback'],
  ['64:ff9b::7f00:1', 'NAT64 loopback in hex'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 metadata'],
  ['64:ff9b::10.0.0.1', 'NAT64 private'],
  ['64:ff9b::c0a8:101', 'NAT64 192.168.1.1'],
  ['64:ff9b::c633:6407', 'NAT64 TEST-NET-2'],
  ['64:ff9b:1::7f00:1', 'local-use NAT64 64:ff9b:1::/48, loopback'],
  ['64:ff9b:1::808:808', 'local-use NAT64 64:ff9b:1::/48: never globally reachable'],
  ['2002:7f00:1::', '6to4 of loopback'],
  ['2002:7f00:1::1', '6to4 of loopback, a host behind it'],
  ['2002:a9fe:a9fe::1', '6to4 of metadata'],
  ['2002:a00:1::1', '6to4 of 10.0.0.1'],
  ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
  ['2002:c000:201::1', '6to4 of TEST-NET-1'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo, client 127.0.0.1 (obfuscated)'],
  ['2001:0:4136:e378::5601:5601', 'Teredo, client 169.254.169.254 (obfuscated)'],
  ['2001:0:a00:1::f7f7:f7f7', 'Teredo, server 10.0.0.1'],
]

/** [address, what it is]: globally routable; the neighbours of refused ranges among them. */
const publicAddresses: Array<[string, string]> = [
  ['8.8.8.8', 'public DNS'],
  ['1.1.1.1', 'public DNS'],
  ['93.184.215.14', 'example.com'],
  ['11.0.0.0', 'just above 10/8'],
  ['100.63.255.255', 'just below carrier-grade NAT'],
  ['100.128.0.0', 'just above carrier-grade NAT'],
  ['172.15.255.255', 'just below 172.16/12'],
  ['172.32.0.0', 'just above 172.16/12'],
  ['169.253.255.255', 'just below link-local'],
  ['192.0.3.1', 'just above TEST-NET-1'],
  ['198.17.255.255', 'just below benchmarking'],
  ['198.20.0.0', 'just above benchmarking'],
  ['198.51.99.255', 'just below TEST-NET-2'],
  ['198.51.101.0', 'just above TEST-NET-2'],
  ['203.0.112.255', 'just below TEST-NET-3'],
  ['203.0.114.0', 'just above TEST-NET-3'],
  ['223.255.255.255', 'just below multicast'],
  ['2001:4860:4860::8888', 'public DNS'],
  ['2606:4700:4700::1111', 'public DNS'],
  ['2a00:1450:4001:82a::200e', 'a public web host'],
  ['::ffff:8.8.8.8', 'IPv4-mapped public'],
  ['::ffff:808:808', 'IPv4-mapped public in hex'],
  ['::808:808', 'IPv4-compatible public'],
  ['64:ff9b::808:808', 'NAT64 of a public address'],
  ['64:ff9b::8.8.8.8', 'NAT64 of a public address, dotted'],
  ['2002:808:808::1', '6to4 of a public address'],
  ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'Teredo, server and client public'],
]

/** An address as a URL host. */
const hostOf = (ip: string) => (isIP(ip) === 6 ? `[${ip}]` : ip)

/** Every spelling of an internal host a merchant might try: the table as URLs, and what URL parsing rewrites. */
const internalUrls: string[] = [
  ...internalAddresses.map(([ip]) => `http://${hostOf(ip)}/hook`),
  'http://127.0.0.1:8080/hook',
  'https://169.254.169.254/latest/meta-data/',
  'http://localhost/hook', // resolves to loopback
  'http://LocalHost:8080/hook',
  'http://0/hook', // 0.0.0.0
  'http://2130706433/hook', // 127.0.0.1 as one decimal number
  'http://0x7f.1/hook', // hex shorthand
  'http://0x7f000001/hook',
  'http://017700000001/hook', // octal
  'http://0177.0.0.1/hook',
  'http://127.000.000.001/hook',
  'http://127.1/hook',
  'http://127.0.1/hook',
  'http://127。0。0。1/hook', // ideographic full stops
  'http://①②⑦.0.0.1/hook', // enclosed digits
  'http://[0:0:0:0:0:0:0:1]/hook',
  'http://[0:0:0:0:0:ffff:127.0.0.1]/hook',
  'https://[::ffff:7f00:1]:8443/hook',
  'http://[::ffff:0.0.0.0]/hook',
  'http://[64:ff9b:0:0:0:0:a9fe:a9fe]/latest/meta-data/',
]

async function refusal(promise: Promise<unknown>): Promise<TollgateError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError)
    expect((err as TollgateError).field).toBe('url')
    return err as TollgateError
  }
  throw new Error('expected a refusal')
}

/** A resolver answering `answers[i]` on its i-th call (the last one from then on), counting the calls. */
function scriptedResolver(...answers: string[][]): HostResolver & { calls: string[] } {
  const calls: string[] = []
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname)
    const answer = answers[Math.min(calls.length, answers.length) - 1] ?? []
    return answer.map((address) => ({ address, family: isIP(address) }))
  }
  return Object.assign(resolve, { calls })
}

describe('isInternalAddress', () => {
  test('default: globally routable addresses (and IPv6 forms carrying one) are not internal', () => {
    for (const [ip, what] of publicAddresses)
      expect({ ip, what, internal: isInternalAddress(ip) }).toEqual({ ip, what, internal: false })
  })

  test('behavior: every non-global range, and every IPv6 form carrying an internal IPv4 address, is internal', () => {
    for (const [ip, what] of internalAddresses)
      expect({ ip, what, internal: isInternalAddress(ip) }).toEqual({ ip, what, internal: true })
  })

  test('error: what is not an IP address counts as internal', () => {
    for (const text of ['', 'localhost', '127.1', '2130706433', '::ffff:7f00:1:2:3', '1.2.3.4.5', 'fe80::1%'])
      expect({ text, internal: isInternalAddress(text) }).toEqual({ text, internal: true })
  })
})

describe('checkWebhookUrl', () => {
  test('default: a public http(s) URL passes and comes back parsed', async () => {
    const url = await checkWebhookUrl('https://93.184.215.14/hooks?x=1', strict)
    expect(url.href).toBe('https://93.184.215.14/hooks?x=1')
    expect((await checkWebhookUrl('http://[2606:4700:4700::1111]:8080/h', strict)).port).toBe('8080')
  })

  test('default: every public address passes as a URL host', async () => {
    for (const [ip] of publicAddresses)
      expect((await checkWebhookUrl(`https://${hostOf(ip)}/hook`, strict)).protocol).toBe('https:')
  })

  test('error: every internal host, in any spelling, is URL_NOT_ALLOWED', async () => {
    for (const url of internalUrls) {
      const err = await refusal(checkWebhookUrl(url, strict))
      expect({ url, code: err.code }).toEqual({ url, code: 'URL_NOT_ALLOWED' })
    }
  })

  test('error: a name with any internal address among its answers is URL_NOT_ALLOWED', async () => {
    for (const [ip, what] of internalAddresses) {
      const resolve = scriptedResolver(['93.184.215.14', ip])
      const err = await refusal(checkWebhookUrl('https://shop.example/hook', { ...strict, resolve }))
      expect({ ip, what, code: err.code }).toEqual({ ip, what, code: 'URL_NOT_ALLOWED' })
    }
  })

  test('error: a name without answers, or with an answer that is not an address, is URL_NOT_ALLOWED', async () => {
    for (const answer of [[], ['not-an-ip'], ['93.184.215.14', '']]) {
      const err = await refusal(
        checkWebhookUrl('https://shop.example/hook', { ...strict, resolve: scriptedResolver(answer) }),
      )
      expect({ answer, code: err.code }).toEqual({ answer, code: 'URL_NOT_ALLOWED' })
    }
  })

  test('error: schemes other than http(s) are INVALID_INPUT', async () => {
    for (const url of [
      'ftp://93.184.215.14/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'gopher://93.184.215.14/',
      'ws://93.184.215.14/',
      'data:text/plain,hi',
    ]) {
      const err = await refusal(checkWebhookUrl(url, strict))
      expect({ url, code: err.code, message: err.message }).toEqual({
        url,
        code: 'INVALID_INPUT',
        message: 'url must be http or https',
      })
    }
  })

  test('error: credentials in the URL are INVALID_INPUT, even with allowInternal', async () => {
    for (const url of [
      'https://user:pass@93.184.215.14/hook',
      'https://user@93.184.215.14/hook',
      'https://:secret@93.184.215.14/hook',
      'http://admin:admin@127.0.0.1/hook',
    ]) {
      for (const options of [strict, lenient]) {
        const err = await refusal(checkWebhookUrl(url, options))
        expect(err.code).toBe('INVALID_INPUT')
        expect(err.message).toContain('credentials')
      }
    }
  })

  test('error: not a URL, longer than 2048 characters, or a host that does not resolve is INVALID_INPUT', async () => {
    for (const url of [
      '',
      'not a url',
      '/relative/path',
      'https://',
      'http://[::1/',
      'http://[::1%25eth0]/',
    ]) {
      expect((await refusal(checkWebhookUrl(url, strict))).code).toBe('INVALID_INPUT')
    }
    const long = `https://93.184.215.14/${'a'.repeat(2048)}`
    expect((await refusal(checkWebhookUrl(long, lenient))).message).toContain('2048')
    const unresolvable = await refusal(checkWebhookUrl('https://no-such-host.invalid/hook', strict))
    expect(unresolvable.code).toBe('INVALID_INPUT')
    expect(unresolvable.message).toContain('resolve')
    const failing: HostResolver = async () => {
      throw new Error('SERVFAIL')
    }
    const err = await refusal(checkWebhookUrl('https://shop.example/hook', { ...strict, resolve: failing }))
    expect([err.code, err.message]).toEqual(['INVALID_INPUT', 'url host does not resolve'])
  })

  test('behavior: allowInternal (development) lets every internal host through, and only checks the form', async () => {
    expect((await checkWebhookUrl('http://127.0.0.1:3000/hook', lenient)).hostname).toBe('127.0.0.1')
    for (const url of internalUrls) expect((await checkWebhookUrl(url, lenient)).href).toBe(new URL(url).href)
    expect((await refusal(checkWebhookUrl('ftp://127.0.0.1/', lenient))).code).toBe('INVALID_INPUT')
  })
})

describe('resolveWebhookTarget', () => {
  test('default: a name is resolved once and the checked answer is the target', async () => {
    const resolve = scriptedResolver(['93.184.215.14', '2606:4700:4700::1111'])
    const target = await resolveWebhookTarget('https://shop.example/hook', { ...strict, resolve })
    expect(target).toEqual({
      url: new URL('https://shop.example/hook'),
      addresses: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ],
    })
    expect(resolve.calls).toEqual(['shop.example'])
  })

  test('behavior: an IP literal is its own target; no resolver is asked', async () => {
    const resolve = scriptedResolver(['127.0.0.1'])
    const v6 = await resolveWebhookTarget('http://[2606:4700:4700::1111]:8080/h', { ...strict, resolve })
    expect(v6.addresses).toEqual([{ address: '2606:4700:4700::1111', family: 6 }])
    const decimal = await resolveWebhookTarget('http://2130706433:3000/h', { ...lenient, resolve })
    expect(decimal.addresses).toEqual([{ address: '127.0.0.1', family: 4 }])
    expect(resolve.calls).toEqual([])
  })

  test('behavior: a name that rebinds to an internal address after the check still yields the checked address', async () => {
    // first answer public, every later one loopback: the check must not be followed by a second lookup
    const resolve = scriptedResolver(['93.184.215.14'], ['127.0.0.1'])
    const target = await resolveWebhookTarget('https://rebind.example/hook', { ...strict, resolve })
    expect(target.addresses).toEqual([{ address: '93.184.215.14', family: 4 }])
    expect(resolve.calls).toHaveLength(1)
  })

  test('behavior: allowInternal resolves and pins internal answers too', async () => {
    const resolve = scriptedResolver(['127.0.0.1'], ['127.0.0.2'])
    const target = await resolveWebhookTarget('http://receiver.test:3000/hook', { ...lenient, resolve })
    expect(target.addresses).toEqual([{ address: '127.0.0.1', family: 4 }])
    expect(target.url.host).toBe('receiver.test:3000')
    expect(resolve.calls).toHaveLength(1)
  })

  test('error: a name whose answers include an internal address is URL_NOT_ALLOWED, in any order', async () => {
    for (const answer of [
      ['127.0.0.1'],
      ['93.184.215.14', '10.0.0.1'],
      ['fd00::1', '93.184.215.14'],
      ['2606:4700:4700::1111', '64:ff9b::a9fe:a9fe'],
    ]) {
      const err = await refusal(
        resolveWebhookTarget('https://shop.example/hook', { ...strict, resolve: scriptedResolver(answer) }),
      )
      expect({ answer, code: err.code }).toEqual({ answer, code: 'URL_NOT_ALLOWED' })
    }
  })

  test('behavior: with allowInternal an answer that is not an address is dropped, the others kept in order', async () => {
    const resolve = scriptedResolver(['not-an-ip', '::1', '127.0.0.1'])
    const target = await resolveWebhookTarget('http://receiver.test/', { ...lenient, resolve })
    expect(target.addresses).toEqual([
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 },
    ])
  })

  test('error: a name without a usable answer is INVALID_INPUT with allowInternal, URL_NOT_ALLOWED without', async () => {
    for (const answer of [[], ['not-an-ip']]) {
      const resolve = scriptedResolver(answer)
      expect((await refusal(resolveWebhookTarget('http://x.test/', { ...lenient, resolve }))).code).toBe(
        'INVALID_INPUT',
      )
      expect((await refusal(resolveWebhookTarget('http://x.test/', { ...strict, resolve }))).code).toBe(
        'URL_NOT_ALLOWED',
      )
    }
  })
})

describe('endpoints behind the guard', () => {
  let handle: DbHandle
  let ctx: WebhookContext
  let merchantId: string

  beforeAll(async () => {
    handle = await openUnitDb()
    ctx = unitWebhookContext(handle, { allowInternal: false })
    merchantId = await unitMerchant(handle, 'Guarded Shop')
  }, 30_000)
  afterAll(async () => {
    await handle.close()
  })

  const endpointsOf = (merchant: string) =>
    handle.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.merchantId, merchant))

  test('error: creating an endpoint with any internal host is URL_NOT_ALLOWED and stores nothing', async () => {
    const merchant = await unitMerchant(handle, 'Creating Shop')
    for (const url of internalUrls) {
      const err = await refusal(createWebhookEndpoint(ctx, merchant, { url, events: ['payment.completed'] }))
      expect({ url, code: err.code }).toEqual({ url, code: 'URL_NOT_ALLOWED' })
    }
    expect(await endpointsOf(merchant)).toEqual([])
  })

  test('error: updating an endpoint to any internal host is URL_NOT_ALLOWED and changes nothing', async () => {
    const { endpoint } = await createWebhookEndpoint(ctx, merchantId, {
      url: 'https://93.184.215.14/hook',
      events: ['payment.completed'],
    })
    for (const url of internalUrls) {
      const err = await refusal(
        updateWebhookEndpoint(ctx, merchantId, endpoint.id, {
          url,
          events: ['payment.created'],
          enabled: false,
        }),
      )
      expect({ url, code: err.code }).toEqual({ url, code: 'URL_NOT_ALLOWED' })
    }
    expect(await endpointsOf(merchantId)).toEqual([endpoint])
  })

  test('default: public hosts, IPv6 forms carrying a public IPv4 address among them, are stored', async () => {
    const merchant = await unitMerchant(handle, 'Public Shop')
    for (const [ip] of publicAddresses)
      await createWebhookEndpoint(ctx, merchant, {
        url: `https://${hostOf(ip)}/hook`,
        events: ['payment.completed'],
      })
    expect((await endpointsOf(merchant)).map((e) => e.url).sort()).toEqual(
      publicAddresses.map(([ip]) => new URL(`https://${hostOf(ip)}/hook`).href).sort(),
    )
  })
})
