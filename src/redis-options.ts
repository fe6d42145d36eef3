import type { RedisOptions } from 'ioredis'
import { GatewayError } from './core/errors.ts'

/**
 * `REDIS_URL` refused: a configuration error (permanent). The message names what is wrong, never the value, which
 * may hold a password.
 */
export function redisUrlInvalid(reason: string): GatewayError {
  return new GatewayError('permanent', 'REDIS_URL_INVALID', `REDIS_URL: ${reason}`)
}

const schemes = {
  'redis:': { sentinel: false, tls: false },
  'rediss:': { sentinel: false, tls: true },
  'redis+sentinel:': { sentinel: true, tls: false },
  'rediss+sentinel:': { sentinel: true, tls: true },
} as const

const maxLength = 2048
/** scheme, optional user:password@, the host list, an optional path, an optional query; no fragment */
const shape = /^([A-Za-z+]+:)\/\/(?:([^@/?#]*)@)?([^@/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/
const hostname =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const ipv6 = /^\[([0-9A-Fa-f:.]{2,45})\]$/
const masterName = /^[A-Za-z0-9._-]{1,64}$/
const database = /^\d{1,5}$/

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw redisUrlInvalid(`the ${what} is not valid percent-encoding`)
  }
}

function parseHost(entry: string, defaultPort: number): { host: string; port: number } {
  const bracketed = entry.startsWith('[')
  const close = bracketed ? entry.indexOf(']') : -1
  const colon = bracketed ? (entry[close + 1] === ':' ? close + 1 : -1) : entry.lastIndexOf(':')
  const hostPart = colon >= 0 ? entry.slice(0, colon) : entry
  const portPart = colon >= 0 ? entry.slice(colon + 1) : undefined
  const v6 = ipv6.exec(hostPart)
  if (!v6 && !hostname.test(hostPart))
    throw redisUrlInvalid('expected host names, IPv4 addresses or [IPv6] addresses, with an optional :port')
  let port = defaultPort
  if (portPart !== undefined) {
    if (!/^\d{1,5}$/.test(portPart) || Number(portPart) < 1 || Number(portPart) > 65535)
      throw redisUrlInvalid('a port must be a number from 1 to 65535')
    port = Number(portPart)
  }
  return { host: v6 ? (v6[1] as string) : hostPart, port }
}

function parseDb(part: string | undefined): number {
  if (part === undefined || part === '') return 0
  if (!database.test(part) || Number(part) > 65535) throw redisUrlInvalid('the database must be a number')
  return Number(part)
}

/**
 * ioredis connection options from `REDIS_URL`, the one setting every Redis client of the gateway is made from:
 *
 * - `redis://[[user]:password@]host[:6379][/db]`, `rediss://…` for TLS;
 * - `redis+sentinel://[[user]:password@]host[:26379][,host[:26379]…]/<master name>[/db][?sentinelAuth=true]`
 *   (`rediss+sentinel://` for TLS to the sentinels and the data nodes): the sentinels are asked which node is
 *   the master, again after every failover. The credentials are the data nodes'; `sentinelAuth=true` sends them
 *   to the sentinels too (Sentinel's own `requirepass`).
 *
 * Anything else (another scheme, a query option, a fragment, a host list without sentinel mode) is refused with
 * `REDIS_URL_INVALID`, whose message never repeats the URL. Callers add their own per-connection options (BullMQ
 * needs `maxRetriesPerRequest: null`).
 *
 * @example
 * const redis = new Redis({ ...redisOptions('redis+sentinel://s1:26379,s2:26379/tollgate'), lazyConnect: true })
 */
export function redisOptions(url: string): RedisOptions {
  if (typeof url !== 'string' || url.length === 0) throw redisUrlInvalid('missing')
  if (url.length > maxLength) throw redisUrlInvalid(`longer than ${maxLength} characters`)
  // nothing invisible or ambiguous may hide in a connection string
  if (/[\s\p{Cc}\\]/u.test(url))
    throw redisUrlInvalid('contains whitespace, control characters or backslashes')
  const m = shape.exec(url)
  if (!m)
    throw redisUrlInvalid(
      'expected redis://host[:port][/db], rediss://…, or redis+sentinel://host[:port][,host[:port]…]/<master name>[/db]',
    )
  const [, scheme, userinfo, hostList, path, query] = m as unknown as [
    string,
    string,
    string | undefined,
    string,
    string | undefined,
    string | undefined,
  ]
  const kind = schemes[scheme.toLowerCase() as keyof typeof schemes]
  if (!kind) throw redisUrlInvalid('the scheme must be redis, rediss, redis+sentinel or rediss+sentinel')

  const credentials: { username?: string; password?: string } = {}
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':')
    if (colon < 0) throw redisUrlInvalid('credentials are written user:password@ or :password@')
    const user = decode(userinfo.slice(0, colon), 'user name')
    const password = decode(userinfo.slice(colon + 1), 'password')
    if (!password) throw redisUrlInvalid('credentials without a password')
    if (user) credentials.username = user
    credentials.password = password
  }

  const entries = hostList.split(',')
  if (entries.some((e) => e === '')) throw redisUrlInvalid('a host is missing')
  if (entries.length > 32) throw redisUrlInvalid('at most 32 sentinels')
  const segments = (path ?? '').split('/').slice(1)

  let sentinelAuth = false
  if (query !== undefined) {
    if (!kind.sentinel || query !== 'sentinelAuth=true')
      throw redisUrlInvalid('the only query option is sentinelAuth=true, in sentinel mode')
    sentinelAuth = true
  }
  const tls = kind.tls ? { tls: {} } : {}

  if (!kind.sentinel) {
    if (entries.length > 1)
      throw redisUrlInvalid('several hosts need sentinel mode: redis+sentinel://host1,host2/<master name>')
    if (segments.length > 1) throw redisUrlInvalid('the path is only the database number')
    const { host, port } = parseHost(entries[0] as string, 6379)
    return { host, port, db: parseDb(segments[0]), ...credentials, ...tls }
  }
  if (segments.length < 1 || segments.length > 2 || !masterName.test(segments[0] ?? ''))
    throw redisUrlInvalid(
      'sentinel mode needs the master name as the path: /<name>[/db] (letters, digits, . _ -)',
    )
  return {
    sentinels: entries.map((e) => parseHost(e, 26379)),
    name: segments[0] as string,
    db: parseDb(segments[1]),
    ...credentials,
    ...(sentinelAuth
      ? { sentinelUsername: credentials.username, sentinelPassword: credentials.password }
      : {}),
    ...(kind.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    // the sentinels announce a failover (+switch-master): reconnect to the new master at once instead of at
    // the old one's connection loss
    failoverDetector: true,
    // a demoted master answers writes with READONLY until its clients reconnect: reconnect (and resend)
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
  }
}
