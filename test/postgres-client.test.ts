import { expect, test } from 'bun:test'
import postgres from 'postgres'
import { pgServerUrl } from './helpers/db.ts'

// The postgres client (patched, see patches/ and docs/decisions.md): a connection whose backend dies must fail
// the queries on it with CONNECTION_CLOSED, never throw from its write timer, where no caller can catch it and
// the process goes down (what a Postgres restart did to API and worker processes).

const url = `${pgServerUrl}/test`

test('error: three queries one after another on a reserved connection whose backend was terminated reject; nothing escapes uncaught', async () => {
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown) => uncaught.push(err)
  process.on('uncaughtException', onUncaught)
  const sql = postgres(url, { max: 2, onnotice: () => {} })
  const killer = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const reserved = await sql.reserve()
    const [row] = await reserved`select pg_backend_pid() as pid`
    await killer`select pg_terminate_backend(${row?.pid})`
    // one after another, as a caller would: each settles (none waits forever) and none throws out of a timer
    const outcomes: string[] = []
    for (let i = 0; i < 3; i++)
      outcomes.push(
        await Promise.race([
          reserved`select 1`.then(
            () => 'answered',
            (err: { code?: string }) => err.code ?? 'error',
          ),
          Bun.sleep(5_000).then(() => 'never settled'),
        ]),
      )
    // let any write timer scheduled by those queries run
    await new Promise((resolve) => setTimeout(resolve, 50))
    // the first may be the socket's own ECONNRESET; every later one is CONNECTION_CLOSED
    expect(outcomes[0]).toMatch(/^(CONNECTION_CLOSED|ECONNRESET)$/)
    expect(outcomes.slice(1)).toEqual(['CONNECTION_CLOSED', 'CONNECTION_CLOSED'])
    expect(uncaught).toEqual([])
  } finally {
    process.off('uncaughtException', onUncaught)
    await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })])
  }
}, 30_000)
