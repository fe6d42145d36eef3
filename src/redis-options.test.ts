import { describe, expect, test } from 'bun:test'
import { errorCode, errorKind } from './core/errors.ts'
import { redisOptions } from './redis-options.ts'

/** The typed error redisOptions throws for `url` (fails the test when it parses). */
function refusal(url: string): Error {
  try {
    redisOptions(url)
  } catch (err) {
    expect(errorCode(err)).toBe('REDIS_URL_INVALID')
    expect(errorKind(err)).toBe('permanent')
    return err as Error
  }
  throw new Error(`expected ${JSON.stringify(url)} to be refused`)
}

describe('redisOptions', () => {
  test('args: a plain URL gives host, port and database; TLS with rediss', () => {
    expect(redisOptions('redis://127.0.0.1:6379')).toEqual({ host: '127.0.0.1', port: 6379, db: 0 })
    expect(redisOptions('redis://cache')).toEqual({ host: 'cache', port: 6379, db: 0 })
    expect(redisOptions('redis://cache:6380/3')).toEqual({ host: 'cache', port: 6380, db: 3 })
    expect(redisOptions('rediss://cache.example.com:6380/')).toEqual({
      host: 'cache.example.com',
      port: 6380,
      db: 0,
      tls: {},
    })
    expect(redisOptions('redis://[::1]:7000')).toEqual({ host: '::1', port: 7000, db: 0 })
    expect(redisOptions('REDIS://cache')).toMatchObject({ host: 'cache' })
  })

  test('args: credentials are percent-decoded; a password alone is the default user', () => {
    expect(redisOptions('redis://app:p%40ss%3Aword@cache:6379')).toMatchObject({
      username: 'app',
      password: 'p@ss:word',
    })
    const alone = redisOptions('redis://:s3cret@cache')
    expect(alone.password).toBe('s3cret')
    expect(alone.username).toBeUndefined()
  })

  test('args: sentinel mode lists the sentinels, names the master, and fails over on announcements', () => {
    const options = redisOptions('redis+sentinel://s1:26379,s2,[fd00::5]:26380/mymaster/2')
    expect(options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: 'fd00::5', port: 26380 },
      ],
      name: 'mymaster',
      db: 2,
      failoverDetector: true,
    })
    expect(options.host).toBeUndefined()
    expect(options.sentinelPassword).toBeUndefined()
    expect(options.tls).toBeUndefined()
    // a demoted master's READONLY answer reconnects (and resends); other errors do not
    const reconnect = options.reconnectOnError as (err: Error) => boolean | 1 | 2
    expect(reconnect(new Error("READONLY You can't write against a read only replica."))).toBe(2)
    expect(reconnect(new Error('ERR unknown command'))).toBe(false)
  })

  test('args: sentinel credentials go to the data nodes, and to the sentinels only with sentinelAuth=true', () => {
    expect(redisOptions('redis+sentinel://:pw@s1/m')).toMatchObject({ password: 'pw' })
    expect(redisOptions('redis+sentinel://:pw@s1/m').sentinelPassword).toBeUndefined()
    expect(redisOptions('redis+sentinel://u:pw@s1/m?sentinelAuth=true')).toMatchObject({
      username: 'u',
      password: 'pw',
      sentinelUsername: 'u',
      sentinelPassword: 'pw',
    })
  })

  test('args: rediss+sentinel uses TLS to the sentinels and to the nodes they name', () => {
    expect(redisOptions('rediss+sentinel://s1:26379/m')).toMatchObject({
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
    })
  })

  test('error: hostile or malformed URLs are refused by a typed error that never repeats the URL', () => {
    const secret = 'hunter2-secret'
    const bad = [
      '',
      'foo',
      'http://cache:6379',
      'redis:cache',
      `redis://u:${secret}@cache:6379?family=6`,
      `redis://:${secret}@cache/0#frag`,
      `redis://:${secret}@cache:0`,
      `redis://:${secret}@cache:65536`,
      `redis://:${secret}@cache:12ab`,
      `redis://:${secret}@cache/db1`,
      `redis://:${secret}@cache/1/2`,
      `redis://:${secret}@a,b/0`,
      `redis://${secret}@cache`,
      'redis://user:@cache',
      `redis://:${secret}@`,
      `redis://:${secret}@cache name`,
      `redis://:${secret}@cache\n`,
      `redis://:${secret}@cache\u0000`,
      `redis://:${secret}@cache\\evil`,
      `redis://:${secret}@-cache`,
      `redis://:${secret}@ca_che`,
      `redis://:${secret}@[::1`,
      `redis://:${secret}@[zz::1]`,
      `redis://:%E0%A4%A@cache`,
      `redis://u@v:${secret}@cache`,
      `redis+sentinel://:${secret}@s1,s2`,
      `redis+sentinel://:${secret}@s1/`,
      `redis+sentinel://:${secret}@s1/my master`,
      `redis+sentinel://:${secret}@s1/m/x`,
      `redis+sentinel://:${secret}@s1/m/1/2`,
      `redis+sentinel://:${secret}@s1,,s2/m`,
      `redis+sentinel://:${secret}@s1/m?sentinelAuth=yes`,
      `redis+sentinel://:${secret}@s1/m?sentinelPassword=${secret}`,
      `redis+sentinel://:${secret}@${Array.from({ length: 33 }, (_, i) => `s${i}`).join(',')}/m`,
      `redis://:${secret}@${'a'.repeat(64)}`,
      `redis://:${secret}@cache/${'1'.repeat(3000)}`,
    ]
    for (const url of bad) {
      const err = refusal(url)
      expect(err.message).toStartWith('REDIS_URL: ')
      expect(err.message).not.toContain(secret)
    }
  })

  test('error: a non-string is refused, not thrown on', () => {
    refusal(undefined as unknown as string)
    refusal(42 as unknown as string)
  })
})
