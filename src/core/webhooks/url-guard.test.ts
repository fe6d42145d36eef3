import { describe, expect, test } from 'bun:test'
import { TollgateError } from '../errors.ts'
import { checkWebhookUrl, isInternalAddress } from './url-guard.ts'

const strict = { allowInternal: false }
const lenient = { allowInternal: true }

async function refusal(url: string, options = strict): Promise<TollgateError> {
  try {
    await checkWebhookUrl(url, options)
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError)
    expect((err as TollgateError).field).toBe('url')
    return err as TollgateError
  }
  throw new Error(`expected ${url} to be refused`)
}

describe('isInternalAddress', () => {
  test('default: public addresses are not internal', () => {
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.215.14',
      '100.63.255.255', // just below carrier-grade NAT
      '100.128.0.0', // just above it
      '172.15.255.255', // just below 172.16/12
      '172.32.0.0', // just above it
      '169.253.255.255',
      '11.0.0.0',
      '223.255.255.255',
      '2001:4860:4860::8888',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
      '::ffff:808:808',
    ])
      expect({ ip, internal: isInternalAddress(ip) }).toEqual({ ip, internal: false })
  })

  test('behavior: loopback, private, link-local (metadata), CGNAT, multicast and reserved v4 addresses are internal', () => {
    for (const ip of [
      '0.0.0.0',
      '0.255.255.255',
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '192.168.255.255',
      '169.254.169.254', // cloud metadata
      '169.254.0.1',
      '100.64.0.1',
      '100.127.255.255',
      '224.0.0.1',
      '239.255.255.250',
      '240.0.0.1',
      '255.255.255.255',
    ])
      expect({ ip, internal: isInternalAddress(ip) }).toEqual({ ip, internal: true })
  })

  test('behavior: v6 loopback, unspecified, unique-local, link-local, multicast and v4-mapped internal addresses are internal', () => {
    for (const ip of [
      '::1',
      '::',
      'fc00::1',
      'fd12:3456:789a::1',
      'fe80::1',
      'FE80::1',
      'febf::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1', // 127.0.0.1 as URL parsing writes it
      '::ffff:a9fe:a9fe', // 169.254.169.254
      '::ffff:c0a8:101', // 192.168.1.1
    ])
      expect({ ip, internal: isInternalAddress(ip) }).toEqual({ ip, internal: true })
  })
})

describe('checkWebhookUrl', () => {
  test('default: a public http(s) URL passes and comes back parsed', async () => {
    const url = await checkWebhookUrl('https://93.184.215.14/hooks?x=1', strict)
    expect(url.href).toBe('https://93.184.215.14/hooks?x=1')
    expect((await checkWebhookUrl('http://[2606:4700:4700::1111]:8080/h', strict)).port).toBe('8080')
  })

  test('error: loopback, private, link-local and metadata hosts, in any spelling, are URL_NOT_ALLOWED', async () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook', // resolves to loopback
      'http://LocalHost:8080/hook',
      'http://[::1]/hook',
      'http://0.0.0.0/hook',
      'http://10.1.2.3/hook',
      'http://172.20.0.5/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.100.100.200/', // CGNAT (a cloud's metadata service)
      'http://[fe80::1]/hook',
      'http://[fd00:ec2::254]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::ffff:169.254.169.254]/hook',
      'http://2130706433/hook', // 127.0.0.1 as one decimal number
      'http://0x7f.1/hook', // 127.0.0.1 in hex shorthand
      'http://017700000001/hook', // 127.0.0.1 in octal
      'http://127.1/hook',
      'https://169.254.169.254/hook',
    ]) {
      const err = await refusal(url)
      expect({ url, code: err.code }).toEqual({ url, code: 'URL_NOT_ALLOWED' })
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
      const err = await refusal(url)
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
        const err = await refusal(url, options)
        expect(err.code).toBe('INVALID_INPUT')
        expect(err.message).toContain('credentials')
      }
    }
  })

  test('error: not a URL, longer than 2048 characters, or a host that does not resolve is INVALID_INPUT', async () => {
    for (const url of ['', 'not a url', '/relative/path', 'https://', 'http://[::1/']) {
      expect((await refusal(url)).code).toBe('INVALID_INPUT')
    }
    const long = `https://93.184.215.14/${'a'.repeat(2048)}`
    expect((await refusal(long, lenient)).message).toContain('2048')
    const unresolvable = await refusal('https://no-such-host.invalid/hook')
    expect(unresolvable.code).toBe('INVALID_INPUT')
    expect(unresolvable.message).toContain('resolve')
  })

  test('behavior: allowInternal (development) lets loopback and private hosts through, and only them', async () => {
    expect((await checkWebhookUrl('http://127.0.0.1:3000/hook', lenient)).hostname).toBe('127.0.0.1')
    expect((await checkWebhookUrl('http://10.0.0.2/hook', lenient)).hostname).toBe('10.0.0.2')
    expect((await refusal('ftp://127.0.0.1/', lenient)).code).toBe('INVALID_INPUT')
  })
})
