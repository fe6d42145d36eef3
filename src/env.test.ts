import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from './core/payouts/signer.ts'
import { EnvError, parseEnv } from './env.ts'

const anvilMnemonic = 'test test test test test test test test test test test junk'
const abandonMnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const xpub0 = createSigner(anvilMnemonic).xpub("m/44'/60'/0'")
const xpub1 = createSigner(anvilMnemonic).xpub("m/44'/60'/1'")

const dir = mkdtempSync(join(tmpdir(), 'tollgate-env-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** parseEnv's EnvError for `source` (fails the test when it parses). */
function envError(source: Record<string, string | undefined>): EnvError {
  try {
    parseEnv(source)
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError)
    return err as EnvError
  }
  throw new Error('expected parseEnv to throw')
}

describe('parseEnv', () => {
  test('default: an empty environment gets the documented defaults', () => {
    const env = parseEnv({})
    expect(env).toMatchObject({
      TOLLGATE_ENV: 'production',
      TOLLGATE_DATA_DIR: '.tollgate/pglite',
      DATABASE_POOL_SIZE: 10,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'tollgate',
      HOST: '127.0.0.1',
      PORT: 4000,
      LOG_LEVEL: 'info',
      TOLLGATE_PLUGINS_CONFIG: 'plugins.config.ts',
      ADDRESS_POOL_SIZE: 2000,
      SCANNER_LEASE_MS: 1200,
      PAYMENT_DEFAULT_EXPIRES_IN: 3600,
      PAYMENT_MAX_EXPIRES_IN: 7 * 24 * 3600,
      MAX_BODY_BYTES: 64 * 1024,
    })
    expect(env.DATABASE_URL).toBeUndefined()
    expect(env.seed).toBeUndefined()
    expect(env.TOLLGATE_XPUBS).toBeUndefined()
    expect(env.GRAPHIQL).toBeUndefined()
  })

  test('args: values are coerced, and empty strings count as unset', () => {
    const env = parseEnv({
      PORT: '8080',
      DATABASE_URL: 'postgresql://app:secret@db:5432/tollgate',
      REDIS_URL: 'rediss://cache:6380',
      LOG_LEVEL: 'debug',
      GRAPHIQL: '1',
      HOST: '',
      ADDRESS_POOL_SIZE: '',
    })
    expect(env.PORT).toBe(8080)
    expect(env.DATABASE_URL).toBe('postgresql://app:secret@db:5432/tollgate')
    expect(env.REDIS_URL).toBe('rediss://cache:6380')
    expect(env.LOG_LEVEL).toBe('debug')
    expect(env.GRAPHIQL).toBe(true)
    expect(env.HOST).toBe('127.0.0.1')
    expect(env.ADDRESS_POOL_SIZE).toBe(2000)
    expect(parseEnv({ GRAPHIQL: 'false' }).GRAPHIQL).toBe(false)
  })

  test('args: TOLLGATE_SEED gives the seed', () => {
    expect(parseEnv({ TOLLGATE_SEED: anvilMnemonic }).seed).toBe(anvilMnemonic)
  })

  test('error: several bad variables are reported together, each by name, without their values', () => {
    const err = envError({
      PORT: 'abc',
      DATABASE_URL: 'mysql://root:hunter2@x',
      REDIS_URL: 'foo',
      LOG_LEVEL: 'loud',
    })
    expect(err.problems).toHaveLength(4)
    for (const name of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'LOG_LEVEL']) {
      expect(err.problems.filter((p) => p.startsWith(`${name}: `))).toHaveLength(1)
      expect(err.message).toContain(`  - ${name}: `)
    }
    expect(err.message).toStartWith('invalid configuration:')
    expect(err.problems.find((p) => p.startsWith('DATABASE_URL'))).toContain('postgres://')
    for (const value of ['hunter2', 'mysql', 'loud', 'abc', 'foo']) expect(err.message).not.toContain(value)
  })

  test('error: out-of-range numbers are named', () => {
    const err = envError({ PORT: '70000', DATABASE_POOL_SIZE: '0', ADDRESS_POOL_SIZE: '1.5' })
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'ADDRESS_POOL_SIZE',
      'DATABASE_POOL_SIZE',
      'PORT',
    ])
  })

  test('error: a bad TOLLGATE_SEED is named but its value never appears', () => {
    const secretish = 'correct horse battery staple zebra quantum wallet phrase'
    const err = envError({ TOLLGATE_SEED: secretish })
    expect(err.problems).toEqual(['TOLLGATE_SEED: not a valid BIP39 mnemonic'])
    expect(err.message).not.toContain(secretish)
    for (const word of secretish.split(' ')) expect(err.message).not.toContain(word)
    // a near miss (bad checksum) is not echoed either
    const nearMiss = anvilMnemonic.replace('junk', 'test')
    const err2 = envError({ TOLLGATE_SEED: nearMiss, PORT: 'abc' })
    expect(err2.problems).toHaveLength(2)
    expect(err2.message).toContain('TOLLGATE_SEED')
    expect(err2.message).not.toContain('test test')
  })

  test('args: TOLLGATE_SEED_FILE is read and trimmed', () => {
    const file = join(dir, 'seed.txt')
    writeFileSync(file, `\n  ${anvilMnemonic}  \n`)
    expect(parseEnv({ TOLLGATE_SEED_FILE: file }).seed).toBe(anvilMnemonic)
  })

  test('error: a TOLLGATE_SEED_FILE that does not exist is named', () => {
    const err = envError({ TOLLGATE_SEED_FILE: join(dir, 'missing.txt') })
    expect(err.problems).toEqual(['TOLLGATE_SEED_FILE: file does not exist'])
  })

  test('error: a TOLLGATE_SEED_FILE without a valid mnemonic is named, its content never shown', () => {
    const file = join(dir, 'bad-seed.txt')
    writeFileSync(file, 'not really a mnemonic at all\n')
    const err = envError({ TOLLGATE_SEED_FILE: file })
    expect(err.problems).toEqual(['TOLLGATE_SEED_FILE: file does not hold a valid BIP39 mnemonic'])
    expect(err.message).not.toContain('not really')
  })

  test('error: TOLLGATE_SEED and TOLLGATE_SEED_FILE together are refused', () => {
    const file = join(dir, 'seed-both.txt')
    writeFileSync(file, abandonMnemonic)
    const err = envError({ TOLLGATE_SEED: anvilMnemonic, TOLLGATE_SEED_FILE: file })
    expect(err.problems).toEqual(['TOLLGATE_SEED and TOLLGATE_SEED_FILE: set one, not both'])
    expect(err.message).not.toContain('test test')
    expect(err.message).not.toContain('abandon')
  })

  test('error: a missing seed file is reported together with the other bad variables', () => {
    const err = envError({ PORT: 'abc', TOLLGATE_SEED_FILE: join(dir, 'missing.txt') })
    expect(err.problems.some((p) => p.startsWith('PORT: '))).toBe(true)
    expect(err.problems).toContain('TOLLGATE_SEED_FILE: file does not exist')
  })

  test('error: a default expiry above the maximum is refused', () => {
    const err = envError({ PAYMENT_DEFAULT_EXPIRES_IN: '7200', PAYMENT_MAX_EXPIRES_IN: '3600' })
    expect(err.problems).toEqual(['PAYMENT_DEFAULT_EXPIRES_IN: must not exceed PAYMENT_MAX_EXPIRES_IN'])
  })

  test('error: a cost budget below the largest allowed operation is refused', () => {
    const err = envError({ GRAPHQL_MAX_COST: '50000', GRAPHQL_COST_BUDGET: '40000' })
    expect(err.problems).toEqual(['GRAPHQL_COST_BUDGET: must be at least GRAPHQL_MAX_COST'])
  })
})

describe('TOLLGATE_XPUBS', () => {
  test('default: one <account path>=<xpub> pair', () => {
    expect(parseEnv({ TOLLGATE_XPUBS: `m/44'/60'/0'=${xpub0}` }).TOLLGATE_XPUBS).toEqual({
      "m/44'/60'/0'": xpub0,
    })
  })

  test('args: several pairs, with spaces and a trailing comma', () => {
    const env = parseEnv({ TOLLGATE_XPUBS: ` m/44'/60'/0'=${xpub0} , m/44'/60'/1'=${xpub1},` })
    expect(env.TOLLGATE_XPUBS).toEqual({ "m/44'/60'/0'": xpub0, "m/44'/60'/1'": xpub1 })
  })

  const bad: Array<[label: string, value: string]> = [
    ['no path', xpub0],
    ['non-hardened path', `m/44/60/0=${xpub0}`],
    ['path without m', `44'/60'/0'=${xpub0}`],
    ['short xpub', "m/44'/60'/0'=xpub6short"],
    ['xpub with symbols', `m/44'/60'/0'=${xpub0.slice(0, 100)}!!!`],
    ['second pair bad', `m/44'/60'/0'=${xpub0},m/44'/60'/1'`],
  ]
  for (const [label, value] of bad) {
    test(`error: a bad pair (${label}) is named with the expected format, without the value`, () => {
      const err = envError({ TOLLGATE_XPUBS: value })
      expect(err.problems).toHaveLength(1)
      expect(err.problems[0]).toStartWith(
        'TOLLGATE_XPUBS: expected comma-separated <account path>=<xpub> pairs',
      )
      expect(err.message).not.toContain(xpub0.slice(4, 40))
    })
  }
})

test('behavior: the default webhook retry schedule spans more than three days', () => {
  const schedule = parseEnv({}).WEBHOOK_RETRY_SCHEDULE
  expect(schedule.reduce((a, b) => a + b, 0)).toBeGreaterThan(3 * 24 * 3600 * 1000)
  expect(parseEnv({ WEBHOOK_RETRY_SCHEDULE: '100ms,2s,1m' }).WEBHOOK_RETRY_SCHEDULE).toEqual([
    100, 2000, 60_000,
  ])
  expect(() => parseEnv({ WEBHOOK_RETRY_SCHEDULE: '5 minutes' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/)
})

describe('rate limits, proxies, introspection and CORS', () => {
  test('default: limits on, no trusted proxy, no CORS origin, introspection decided by TOLLGATE_ENV', () => {
    const env = parseEnv({})
    expect(env).toMatchObject({
      RATE_LIMIT_PER_IP: 6000,
      RATE_LIMIT_PER_KEY: 3000,
      RATE_LIMIT_WINDOW_SECONDS: 60,
      RATE_LIMIT_AUTH_FAILURES: 20,
      RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS: 600,
      TRUST_PROXY: [],
      CORS_ORIGINS: [],
    })
    expect(env.GRAPHQL_INTROSPECTION).toBeUndefined()
  })

  test('args: 0 turns a limit off; proxies and origins are parsed and normalized', () => {
    const env = parseEnv({
      RATE_LIMIT_PER_IP: '0',
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_AUTH_FAILURES: '0',
      RATE_LIMIT_WINDOW_SECONDS: '1',
      RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS: '86400',
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
      CORS_ORIGINS: 'https://Shop.Example, http://localhost:3000/',
      GRAPHQL_INTROSPECTION: 'true',
    })
    expect(env.RATE_LIMIT_PER_IP).toBe(0)
    expect(env.RATE_LIMIT_PER_KEY).toBe(0)
    expect(env.RATE_LIMIT_AUTH_FAILURES).toBe(0)
    expect(env.TRUST_PROXY.map(([a, bits]) => `${a}/${bits}`)).toEqual(['10.0.0.0/8', '127.0.0.1/32'])
    expect(env.CORS_ORIGINS).toEqual(['https://shop.example', 'http://localhost:3000'])
    expect(env.GRAPHQL_INTROSPECTION).toBe(true)
    expect(parseEnv({ CORS_ORIGINS: '*' }).CORS_ORIGINS).toEqual(['*'])
  })

  const bad: Array<[variable: string, value: string]> = [
    ['RATE_LIMIT_PER_IP', '-1'],
    ['RATE_LIMIT_PER_IP', '1.5'],
    ['RATE_LIMIT_PER_IP', '1e3'],
    ['RATE_LIMIT_PER_IP', '0x10'],
    ['RATE_LIMIT_PER_IP', 'lots'],
    ['RATE_LIMIT_PER_IP', '99999999999'],
    ['RATE_LIMIT_PER_KEY', 'unlimited'],
    ['RATE_LIMIT_PER_KEY', '10000001'],
    ['RATE_LIMIT_PER_KEY', ' 5'],
    ['RATE_LIMIT_WINDOW_SECONDS', '0'],
    ['RATE_LIMIT_WINDOW_SECONDS', '86401'],
    ['RATE_LIMIT_WINDOW_SECONDS', '1m'],
    ['RATE_LIMIT_AUTH_FAILURES', '-5'],
    ['RATE_LIMIT_AUTH_FAILURES', 'NaN'],
    ['RATE_LIMIT_AUTH_FAILURES', '1000001'],
    ['RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS', '0'],
    ['RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS', 'Infinity'],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', '*'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', 'proxy.internal'],
    ['TRUST_PROXY', '10.0.0.1,hunter2'],
    ['GRAPHQL_INTROSPECTION', 'yes'],
    ['GRAPHQL_INTROSPECTION', 'TRUE'],
    ['CORS_ORIGINS', 'merchant.test'],
    ['CORS_ORIGINS', 'https://shop.example/checkout'],
    ['CORS_ORIGINS', 'https://shop.example?x=1'],
    ['CORS_ORIGINS', 'https://user:hunter2@shop.example'],
    ['CORS_ORIGINS', 'ftp://shop.example'],
    ['CORS_ORIGINS', 'javascript:alert(1)'],
    ['CORS_ORIGINS', 'null'],
    ['CORS_ORIGINS', '*,https://shop.example'],
    ['CORS_ORIGINS', `https://${'a'.repeat(300)}.example`],
  ]
  for (const [variable, value] of bad)
    test(`error: ${variable}=${JSON.stringify(value.slice(0, 40))} is named, its value never shown`, () => {
      const err = envError({ [variable]: value })
      expect(err.problems).toHaveLength(1)
      expect(err.problems[0]).toStartWith(`${variable}: `)
      if (value.length > 3) expect(err.message).not.toContain(value)
    })

  test('error: every bad new setting is reported together', () => {
    const err = envError({
      RATE_LIMIT_PER_IP: 'x',
      RATE_LIMIT_PER_KEY: 'x',
      RATE_LIMIT_WINDOW_SECONDS: 'x',
      RATE_LIMIT_AUTH_FAILURES: 'x',
      RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS: 'x',
      TRUST_PROXY: 'x',
      GRAPHQL_INTROSPECTION: 'x',
      CORS_ORIGINS: 'x',
    })
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'CORS_ORIGINS',
      'GRAPHQL_INTROSPECTION',
      'RATE_LIMIT_AUTH_FAILURES',
      'RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS',
      'RATE_LIMIT_PER_IP',
      'RATE_LIMIT_PER_KEY',
      'RATE_LIMIT_WINDOW_SECONDS',
      'TRUST_PROXY',
    ])
  })
})

describe('scaling out: pooler and Redis Sentinel settings', () => {
  test('default: prepared statements decided by the connection (auto), no direct URL; both can be set', () => {
    const plain = parseEnv({ DATABASE_URL: 'postgres://app@db:5432/tollgate' })
    expect(plain.DATABASE_PREPARE).toBe('auto')
    expect(plain.DATABASE_DIRECT_URL).toBeUndefined()
    const pooled = parseEnv({
      DATABASE_URL: 'postgres://app@pgbouncer:6432/tollgate',
      DATABASE_DIRECT_URL: 'postgres://app@db:5432/tollgate',
      // PgBouncer 1.21+ with max_prepared_statements keeps them: the operator says so
      DATABASE_PREPARE: 'true',
    })
    expect(pooled.DATABASE_DIRECT_URL).toBe('postgres://app@db:5432/tollgate')
    expect(pooled.DATABASE_PREPARE).toBe(true)
    expect(parseEnv({ DATABASE_PREPARE: '0' }).DATABASE_PREPARE).toBe(false)
    expect(parseEnv({ DATABASE_PREPARE: 'auto' }).DATABASE_PREPARE).toBe('auto')
  })

  test('args: REDIS_URL takes sentinel mode and TLS', () => {
    for (const url of [
      'redis+sentinel://s1:26379,s2:26379/tollgate',
      'rediss+sentinel://:pw@s1/tollgate/1?sentinelAuth=true',
      'rediss://:pw@cache:6380/2',
    ])
      expect(parseEnv({ REDIS_URL: url }).REDIS_URL).toBe(url)
  })

  test('error: bad pooler and Redis settings are named without their values', () => {
    const err = envError({
      DATABASE_DIRECT_URL: 'mysql://root:hunter2@db',
      DATABASE_PREPARE: 'maybe',
      REDIS_URL: 'redis+sentinel://:hunter2@s1,s2',
    })
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'DATABASE_DIRECT_URL',
      'DATABASE_PREPARE',
      'REDIS_URL',
    ])
    expect(err.problems.find((p) => p.startsWith('REDIS_URL'))).toContain('master name')
    expect(err.message).not.toContain('hunter2')
    // a direct URL alone (no DATABASE_URL: the embedded PGlite) means nothing
    expect(envError({ DATABASE_DIRECT_URL: 'postgres://app@db/tollgate' }).problems).toEqual([
      'DATABASE_DIRECT_URL: set DATABASE_URL too (the direct URL only carries LISTEN)',
    ])
  })
})
