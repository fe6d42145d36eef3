import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import postgres from 'postgres'
import { createMerchant } from '../src/core/access/merchants.ts'
import { kytUpdateChannel } from '../src/core/compliance/announce.ts'
import { csvHeader } from '../src/core/compliance/report.ts'
import { newId } from '../src/core/ids.ts'
import { type DbHandle, openDb } from '../src/db/client.ts'
import { auditLog, kytChecks, merchants, payments, transfers } from '../src/db/schema/index.ts'
import { cli, ok } from './helpers/cli.ts'
import { createTestDatabase } from './helpers/db.ts'

// The operator's KYT commands, run as the real CLI against a real Postgres, over the sanctions provider and
// the real OFAC SDN ETH list (test/fixtures/kyt). Two offline EVM chains: nothing here asks a node.

const config = 'test/fixtures/kyt.plugins.config.ts'
const realList = readFileSync(join(import.meta.dir, 'fixtures/kyt/ofac_sdn_ETH.txt'), 'utf8')
// the first address of the real ETH list, and an anvil account that is on no list
const listed = '0x8589427373D6D84E98730D7795D8f6f8731FDA16'
const sender = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const nativeAsset = 'eip155:31337/slip44:60'
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-cli-kyt-'))

/** A list text dated `date`, with `extra` addresses after the real ETH list's. */
const listText = (date: string, extra: string[] = []) =>
  `# date: ${date}\n${realList.trimEnd()}\n${extra.map((a) => `${a}\n`).join('')}`
/** The version the sanctions provider names a list by. */
const versionOf = (text: string, date: string) =>
  `ETH ${date} sha256:${createHash('sha256').update(text).digest('hex').slice(0, 16)}`

type Stage = {
  url: string
  handle: DbHandle
  env: (list: string) => Record<string, string>
  drop(): Promise<void>
}

/** A database of its own (re-screening looks at every open deposit), and the CLI's environment for it. */
async function stage(): Promise<Stage> {
  const testDb = await createTestDatabase()
  const handle = await openDb({ url: testDb.url, maxConnections: 2 })
  return {
    url: testDb.url,
    handle,
    env: (list) => ({ DATABASE_URL: testDb.url, TOLLGATE_PLUGINS_CONFIG: config, TEST_KYT_LIST: list }),
    drop: async () => {
      await handle.close()
      await testDb.drop()
    },
  }
}

/**
 * A payment of `due` on devnet with one deposit of `paid` from `from`, screened as `state` (and `payment`'s
 * status as the scanner would have left it): the rows the scanner and screening write.
 */
async function seedDeposit(
  h: DbHandle,
  merchantId: string,
  params: {
    from: string
    status: 'PARTIALLY_PAID' | 'PROCESSING' | 'HELD' | 'COMPLETED'
    state: 'clear' | 'held'
    due?: bigint
    paid?: bigint
  },
) {
  const paymentId = newId('pay')
  const transferId = newId('trf')
  const txHash = `0x${createHash('sha256').update(transferId).digest('hex')}`
  const due = params.due ?? 100n
  const paid = params.paid ?? 40n
  await h.db.insert(payments).values({
    id: paymentId,
    merchantId,
    chain: 'devnet',
    asset: nativeAsset,
    amountDue: due,
    amountReceived: paid,
    amountConfirmed: params.status === 'COMPLETED' ? paid : 0n,
    status: params.status,
    address: '0x000000000000000000000000000000000000dEaD',
    walletId: 'wal_test',
    derivationIndex: 0,
    confirmationsRequired: 1,
    expiresAt: new Date(Date.now() + 3_600_000),
    clientSecret: `cs_${paymentId}`,
  })
  await h.db.insert(transfers).values({
    id: transferId,
    chain: 'devnet',
    txHash,
    index: 0,
    asset: nativeAsset,
    toAddress: '0x000000000000000000000000000000000000dead',
    fromAddress: params.from,
    amount: paid,
    blockHeight: 10n,
    blockHash: `0x${'ab'.repeat(32)}`,
    paymentId,
    status: 'confirmed',
  })
  const checkId = newId('kyt')
  await h.db.insert(kytChecks).values({
    id: checkId,
    merchantId,
    subjectType: 'transfer',
    subjectId: transferId,
    paymentId,
    chain: 'devnet',
    direction: 'inbound',
    addresses: [params.from],
    asset: nativeAsset,
    amount: paid,
    txHash,
    state: params.state,
    verdict: params.state === 'clear' ? 'allow' : 'block',
    reason: params.state === 'held' ? 'KYT_BLOCKED' : null,
    screenedAt: new Date(),
  })
  return { paymentId, transferId, checkId }
}

const paymentOf = async (h: DbHandle, id: string) =>
  (await h.db.select().from(payments).where(eq(payments.id, id)))[0]!
const checkOf = async (h: DbHandle, id: string) =>
  (await h.db.select().from(kytChecks).where(eq(kytChecks.id, id)))[0]!
const auditOf = (h: DbHandle, action: string) =>
  h.db.select().from(auditLog).where(eq(auditLog.action, action))

/**
 * Listens on the KYT update channel; `heard()` answers every payload announced so far. A marker notified after
 * the command ended comes after everything the command committed, so when it arrives the rest has too.
 */
async function listen(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  const payloads: string[] = []
  const waiting = new Map<string, () => void>()
  await sql.listen(kytUpdateChannel, (payload) => {
    const marked = waiting.get(payload)
    if (marked) marked()
    else payloads.push(payload)
  })
  return {
    async heard(): Promise<string[]> {
      const marker = `marker-${crypto.randomUUID()}`
      const arrived = new Promise<void>((resolve) => waiting.set(marker, resolve))
      await sql`select pg_notify(${kytUpdateChannel}, ${marker})`
      await arrived
      return [...payloads]
    },
    close: () => sql.end(),
  }
}

/** An http list server answering each request with the next of `answers` (a list text, or an error status). */
function listServer(answers: (string | number)[]) {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch() {
      const next = answers.length > 1 ? answers.shift() : answers[0]
      return typeof next === 'number' ? new Response('unavailable', { status: next }) : new Response(next)
    },
  })
  return { url: `http://127.0.0.1:${server.port}/ofac_sdn_ETH.txt`, stop: () => server.stop(true) }
}

afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('tollgate kyt update', () => {
  test('default: reloads a changed list, tells the workers, and re-screening holds an open payment whose sender was added', async () => {
    const s = await stage()
    // the list the provider loads at start, then the one it reloads: the reload is what the re-screening uses
    const v1 = listText('2025-01-01')
    const v2 = listText('2025-02-01', [sender])
    const server = listServer([v1, v2])
    const workers = await listen(s.url)
    try {
      const { merchant } = await createMerchant(s.handle, { name: 'Shop' })
      const open = await seedDeposit(s.handle, merchant.id, {
        from: sender,
        status: 'PARTIALLY_PAID',
        state: 'clear',
      })
      const done = await seedDeposit(s.handle, merchant.id, {
        from: sender,
        status: 'COMPLETED',
        state: 'clear',
        paid: 100n,
      })
      const other = await seedDeposit(s.handle, merchant.id, {
        from: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        status: 'PARTIALLY_PAID',
        state: 'clear',
      })

      const run = ok(await cli(['kyt', 'update'], s.env(server.url)))
      expect(run.stdout).toContain('sanctions: reloaded')
      expect(run.stdout).toContain(`  ${versionOf(v2, '2025-02-01')}  153 address(es)  from ${server.url}`)
      expect(run.stdout).not.toContain(versionOf(v1, '2025-01-01'))
      expect(run.stdout).toContain('re-screened 2 open deposit(s): 1 newly held, 0 failed')
      expect(run.stdout).toContain(`  held ${open.paymentId} (merchant ${merchant.id}, was PARTIALLY_PAID)`)

      expect((await paymentOf(s.handle, open.paymentId)).status).toBe('HELD')
      expect(await checkOf(s.handle, open.checkId)).toMatchObject({
        state: 'held',
        verdict: 'block',
        reason: 'KYT_BLOCKED',
        versions: `sanctions=${versionOf(v2, '2025-02-01')}`,
      })
      // a completed payment keeps its credit; another sender stays clear
      expect((await paymentOf(s.handle, done.paymentId)).status).toBe('COMPLETED')
      expect((await checkOf(s.handle, done.checkId)).state).toBe('clear')
      expect((await paymentOf(s.handle, other.paymentId)).status).toBe('PARTIALLY_PAID')
      expect((await checkOf(s.handle, other.checkId)).state).toBe('clear')

      const heard = await workers.heard()
      expect(heard).toHaveLength(1)
      const notice = JSON.parse(heard[0] as string) as { at: string }
      expect(new Date(notice.at).toISOString()).toBe(notice.at)
      expect(run.stdout).toContain(`running workers told to reload (${kytUpdateChannel}, ${notice.at})`)

      const [audit, ...more] = await auditOf(s.handle, 'kyt.rescreened')
      expect(more).toEqual([])
      expect(audit).toMatchObject({
        merchantId: null,
        actor: 'cli',
        targetType: 'kyt_providers',
        targetId: 'sanctions',
        data: { reloaded: ['sanctions'], screened: 2, held: 1, failed: 0, heldPayments: [open.paymentId] },
      })
    } finally {
      await workers.close()
      server.stop()
      await s.drop()
    }
  })

  test('error: a list that fails to reload names the provider, exits non-zero, and nothing is told, screened or recorded', async () => {
    const s = await stage()
    const server = listServer([listText('2025-01-01', [sender]), 503])
    const workers = await listen(s.url)
    try {
      const { merchant } = await createMerchant(s.handle, { name: 'Shop' })
      const open = await seedDeposit(s.handle, merchant.id, {
        from: sender,
        status: 'PARTIALLY_PAID',
        state: 'clear',
      })
      const run = await cli(['kyt', 'update'], s.env(server.url))
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(
        `kyt update: provider "sanctions" could not reload: KYT_LIST_UNREADABLE: ${server.url}: HTTP 503`,
      )
      expect(run.stderr).toContain('nothing was replaced; no worker was told and nothing was re-screened')
      expect(run.stdout).toBe('')
      expect((await paymentOf(s.handle, open.paymentId)).status).toBe('PARTIALLY_PAID')
      expect((await checkOf(s.handle, open.checkId)).state).toBe('clear')
      expect(await workers.heard()).toEqual([])
      expect(await auditOf(s.handle, 'kyt.rescreened')).toEqual([])
    } finally {
      await workers.close()
      server.stop()
      await s.drop()
    }
  })

  test('error: a broken list file fails the update naming the provider and the line; nothing changes', async () => {
    const s = await stage()
    const file = join(tmp, 'broken.txt')
    writeFileSync(file, `${sender}\nnot-an-address\n`)
    const workers = await listen(s.url)
    try {
      const { merchant } = await createMerchant(s.handle, { name: 'Shop' })
      const open = await seedDeposit(s.handle, merchant.id, {
        from: sender,
        status: 'PARTIALLY_PAID',
        state: 'clear',
      })
      const run = await cli(['kyt', 'update'], s.env(file))
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain('kyt provider "sanctions"')
      expect(run.stderr).toContain(`${file}:2: not an address of a known chain: "not-an-address"`)
      expect(run.stdout).toBe('')
      expect((await paymentOf(s.handle, open.paymentId)).status).toBe('PARTIALLY_PAID')
      expect((await checkOf(s.handle, open.checkId)).state).toBe('clear')
      expect(await workers.heard()).toEqual([])
      expect(await auditOf(s.handle, 'kyt.rescreened')).toEqual([])
    } finally {
      await workers.close()
      await s.drop()
    }
  })

  test('behavior: a deposit the providers cannot answer for keeps its decision, is counted as failed, and the update exits 1', async () => {
    const s = await stage()
    const file = join(tmp, 'list.txt')
    writeFileSync(file, listText('2025-01-01'))
    try {
      const { merchant } = await createMerchant(s.handle, { name: 'Shop' })
      // no address to ask about: the provider refuses the question (KYT_BAD_REQUEST), as it refuses any it cannot look up
      const unanswerable = await seedDeposit(s.handle, merchant.id, {
        from: '',
        status: 'PARTIALLY_PAID',
        state: 'clear',
      })
      const run = await cli(['kyt', 'update'], s.env(file))
      expect(run.code).toBe(1)
      expect(run.stdout).toContain('re-screened 1 open deposit(s): 0 newly held, 1 failed')
      expect(run.stderr).toContain(
        '1 deposit(s) got no answer from the providers and keep their earlier decision',
      )
      expect((await checkOf(s.handle, unanswerable.checkId)).state).toBe('clear')
      expect((await auditOf(s.handle, 'kyt.rescreened'))[0]?.data).toMatchObject({
        screened: 1,
        held: 0,
        failed: 1,
      })
    } finally {
      await s.drop()
    }
  })

  test('error: arguments are refused with exit 2', async () => {
    const run = await cli(['kyt', 'update', 'now'], {})
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('kyt update: takes no arguments (got now)')
  })
})

describe('tollgate kyt report, policy and payment decisions', () => {
  let s: Stage
  let env: Record<string, string>
  let merchantId: string
  let otherMerchantId: string
  const commaNote = 'said "no", then\nyes'
  const formulaNote = '=HYPERLINK("http://evil.example","open")'

  beforeAll(async () => {
    s = await stage()
    const file = join(tmp, 'shared.txt')
    writeFileSync(file, listText('2025-01-01'))
    env = s.env(file)
    merchantId = (await createMerchant(s.handle, { name: 'Shop' })).merchant.id
    otherMerchantId = (await createMerchant(s.handle, { name: 'Other' })).merchant.id
  })
  afterAll(() => s?.drop())

  /** Screenings opened at fixed instants in 2025 (the report's window), with a reviewer's notes. */
  async function seedReportRows() {
    const row = (id: string, createdAt: string, extra: Partial<typeof kytChecks.$inferInsert>) => ({
      id,
      merchantId,
      subjectType: 'transfer' as const,
      subjectId: `trf_${id}`,
      paymentId: `pay_${id}`,
      chain: 'devnet',
      direction: 'inbound' as const,
      addresses: [listed],
      asset: nativeAsset,
      amount: 5n,
      txHash: `0x${id}`,
      state: 'clear' as const,
      createdAt: new Date(createdAt),
      ...extra,
    })
    await s.handle.db.insert(kytChecks).values([
      row('kyt_r0_before', '2025-02-28T23:59:59.999Z', {}),
      row('kyt_r1_first', '2025-03-01T00:00:00.000Z', {
        state: 'rejected',
        verdict: 'block',
        reason: 'KYT_BLOCKED',
        answers: [
          {
            provider: 'sanctions',
            address: listed,
            verdict: 'block',
            categories: ['sanctions'],
            version: 'ETH 2025-01-01 sha256:00',
          },
        ],
        versions: 'sanctions=ETH 2025-01-01 sha256:00',
        decidedBy: 'cli',
        decidedAt: new Date('2025-03-02T10:00:00.000Z'),
        screenedAt: new Date('2025-03-01T00:00:05.000Z'),
        note: commaNote,
      }),
      row('kyt_r2_formula', '2025-03-10T12:00:00.000Z', {
        state: 'released',
        verdict: 'review',
        decidedBy: 'key_abc',
        decidedAt: new Date('2025-03-11T00:00:00.000Z'),
        screenedAt: new Date('2025-03-10T12:00:01.000Z'),
        note: formulaNote,
      }),
      row('kyt_r3_other', '2025-03-15T00:00:00.000Z', { merchantId: otherMerchantId }),
      row('kyt_r4_at_end', '2025-04-01T00:00:00.000Z', {}),
    ])
  }

  test('default: the csv report lists every screening opened in [from, to), quoting notes and defusing formulas', async () => {
    await seedReportRows()
    const run = ok(await cli(['kyt', 'report', '--from', '2025-03-01', '--to', '2025-04-01'], env))
    const lines = run.stdout.split('\n')
    expect(lines[0]).toBe(csvHeader())
    expect(run.stdout).not.toContain('kyt_r0_before')
    expect(run.stdout).not.toContain('kyt_r4_at_end')
    expect(run.stdout).toContain(
      [
        '2025-03-01T00:00:05.000Z',
        'kyt_r1_first',
        merchantId,
        'devnet',
        'inbound',
        'transfer:trf_kyt_r1_first',
        'pay_kyt_r1_first',
        '0xkyt_r1_first',
        nativeAsset,
        '5',
        listed,
        'rejected',
        'block',
        'KYT_BLOCKED',
        '',
        'sanctions',
        `sanctions:${listed}:block`,
        'sanctions=ETH 2025-01-01 sha256:00',
        'cli',
        '2025-03-02T10:00:00.000Z',
        '"said ""no"", then\nyes"',
      ].join(','),
    )
    // a note a spreadsheet would run as a formula starts with a quote instead
    expect(run.stdout).toContain(
      ',key_abc,2025-03-11T00:00:00.000Z,"\'=HYPERLINK(""http://evil.example"",""open"")"\n',
    )
    expect(run.stdout).toContain(`kyt_r3_other,${otherMerchantId},`)
    // three rows (one of them two lines long), in the order they were opened
    expect(run.stdout.indexOf('kyt_r1_first')).toBeLessThan(run.stdout.indexOf('kyt_r2_formula'))
    expect(run.stdout.indexOf('kyt_r2_formula')).toBeLessThan(run.stdout.indexOf('kyt_r3_other'))
    expect(lines).toHaveLength(1 + 3 + 1 + 1)
  })

  test('args: --format json prints one object per line with the notes as they are; --merchant and a zoned instant narrow it', async () => {
    const run = ok(
      await cli(
        [
          'kyt',
          'report',
          '--from',
          '2025-03-01T01:00:00+01:00',
          '--to',
          '2025-03-31T00:00:00Z',
          '--merchant',
          merchantId,
          '--format',
          'json',
        ],
        env,
      ),
    )
    const rows = run.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>)
    expect(rows.map((r) => r.checkId)).toEqual(['kyt_r1_first', 'kyt_r2_formula'])
    expect(rows[0]).toMatchObject({ note: commaNote, state: 'rejected', verdict: 'block', decidedBy: 'cli' })
    expect(rows[1]).toMatchObject({ note: formulaNote, state: 'released', decidedBy: 'key_abc' })
    // an empty window: the header alone (csv), nothing at all (json)
    const empty = ['kyt', 'report', '--from', '2024-01-01', '--to', '2024-01-02']
    expect(ok(await cli(empty, env)).stdout).toBe(`${csvHeader()}\n`)
    expect(ok(await cli([...empty, '--format', 'json'], env)).stdout).toBe('')
  })

  test('error: missing or invalid dates, from not before to, an unknown format or option exit 2 saying what is wrong', async () => {
    const cases: [string[], string][] = [
      [['--to', '2025-04-01'], '--from is required'],
      [['--from', '2025-03-01'], '--to is required'],
      [
        ['--from', '2025-02-30', '--to', '2025-04-01'],
        '--from takes a date (2026-01-31, UTC) or an ISO-8601 instant',
      ],
      [['--from', '2025-03-01T10:00:00', '--to', '2025-04-01'], 'not "2025-03-01T10:00:00"'],
      [['--from', 'yesterday', '--to', '2025-04-01'], 'not "yesterday"'],
      [['--from', '2025-04-01', '--to', '2025-04-01'], 'must be before --to'],
      [['--from', '2025-05-01', '--to', '2025-04-01'], 'must be before --to'],
      [
        ['--from', '2025-03-01', '--to', '2025-04-01', '--format', 'xml'],
        '--format is csv (default) or json, not "xml"',
      ],
      [['--from', '2025-03-01', '--to', '2025-04-01', '--bogus'], "kyt report: Unknown option '--bogus'"],
    ]
    const runs = await Promise.all(cases.map(([args]) => cli(['kyt', 'report', ...args], env)))
    for (const [i, [args, message]] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof cli>>
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' })
      expect(run.stderr).toContain(message)
    }
    const run = await cli(['kyt', 'audit'], env)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('kyt: the commands are update, report and policy')
  })

  test('default: policy shows the overrides and the effective policy per chain; --set and --clear store them, audited', async () => {
    const shown = ok(await cli(['kyt', 'policy', merchantId], env)).stdout
    expect(shown).toContain(`${merchantId}: no KYT policy overrides (the gateway's policy applies)`)
    expect(shown).toContain(
      '  devnet  failMode closed after 120000 ms; deposits: allow credit, review hold, block hold; withdrawals: allow send, review approval, block refuse',
    )
    expect(shown).toContain(
      '  side    failMode closed after 120000 ms; deposits: allow credit, review credit, block hold;',
    )

    const overrides = { failMode: 'open', chains: { devnet: { deposits: { block: 'credit' } } } }
    const set = ok(await cli(['kyt', 'policy', merchantId, '--set', JSON.stringify(overrides)], env)).stdout
    expect(set).toContain(`set the KYT policy overrides of ${merchantId}`)
    expect(set).toContain(
      '  devnet  failMode open after 120000 ms; deposits: allow credit, review hold, block credit;',
    )
    expect(set).toContain(
      '  side    failMode open after 120000 ms; deposits: allow credit, review credit, block hold;',
    )
    const [stored] = await s.handle.db.select().from(merchants).where(eq(merchants.id, merchantId))
    expect(stored?.kytPolicy).toEqual(overrides)

    const json = JSON.parse(ok(await cli(['kyt', 'policy', merchantId, '--json'], env)).stdout) as {
      overrides: unknown
      effective: Record<string, { failMode: string; deposits: Record<string, string> }>
    }
    expect(json.overrides).toEqual(overrides)
    expect(json.effective.devnet).toMatchObject({
      failMode: 'open',
      deposits: { review: 'hold', block: 'credit' },
    })
    expect(json.effective.side).toMatchObject({
      failMode: 'open',
      deposits: { review: 'credit', block: 'hold' },
    })

    const cleared = ok(await cli(['kyt', 'policy', merchantId, '--clear'], env)).stdout
    expect(cleared).toContain(`cleared the KYT policy overrides of ${merchantId}`)
    expect(cleared).toContain(`${merchantId}: no KYT policy overrides`)
    const [after] = await s.handle.db.select().from(merchants).where(eq(merchants.id, merchantId))
    expect(after?.kytPolicy).toBeNull()

    const audit = (await auditOf(s.handle, 'kyt.policy_set')).filter((a) => a.merchantId === merchantId)
    expect(audit.map((a) => ({ actor: a.actor, target: a.targetId, data: a.data }))).toEqual([
      { actor: 'cli', target: merchantId, data: { policy: overrides, previous: null } },
      { actor: 'cli', target: merchantId, data: { policy: null, previous: overrides } },
    ])
  })

  test('error: invalid JSON or policy, both --set and --clear, or no merchant exit 2 naming the problem; nothing is stored', async () => {
    const cases: [string[], string][] = [
      [[otherMerchantId, '--set', '{failMode: open}'], 'kyt policy: --set takes the overrides as JSON'],
      [[otherMerchantId, '--set', '["open"]'], 'kyt policy: --set takes a JSON object'],
      [
        [otherMerchantId, '--set', '{"deposits":{"review":"send"}}'],
        'INVALID_INPUT: merchant.deposits.review',
      ],
      [
        [otherMerchantId, '--set', '{"chains":{"devnet":{"failMode":"maybe"}}}'],
        'merchant.chains.devnet.failMode',
      ],
      [[otherMerchantId, '--set', '{"failmode":"open"}'], 'INVALID_INPUT: merchant'],
      [[otherMerchantId, '--set', '{}', '--clear'], 'give --set or --clear, not both'],
      [[], 'kyt policy: give the merchant id'],
    ]
    const runs = await Promise.all(cases.map(([args]) => cli(['kyt', 'policy', ...args], env)))
    for (const [i, [args, message]] of cases.entries()) {
      const run = runs[i] as Awaited<ReturnType<typeof cli>>
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' })
      expect(run.stderr).toContain(message)
    }
    const [other] = await s.handle.db.select().from(merchants).where(eq(merchants.id, otherMerchantId))
    expect(other?.kytPolicy).toBeNull()
    expect(
      (await auditOf(s.handle, 'kyt.policy_set')).filter((a) => a.merchantId === otherMerchantId),
    ).toEqual([])
    // a merchant that does not exist is the core's NOT_FOUND
    const unknown = await cli(['kyt', 'policy', 'mer_nope', '--set', '{"failMode":"open"}'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('NOT_FOUND: merchant not found')
  })

  test('default: payment release and reject decide a held payment of any merchant with the note, audited as cli', async () => {
    const held = await seedDeposit(s.handle, otherMerchantId, {
      from: listed,
      status: 'HELD',
      state: 'held',
      paid: 100n,
    })
    const release = ok(await cli(['payment', 'release', held.paymentId, '--note', 'customer verified'], env))
    // released: the deposit counts again; it completes once the scanner counts its confirmations
    expect(release.stdout).toBe(
      `released ${held.paymentId} (merchant ${otherMerchantId}): HELD -> PROCESSING\n`,
    )
    expect((await paymentOf(s.handle, held.paymentId)).status).toBe('PROCESSING')
    expect(await checkOf(s.handle, held.checkId)).toMatchObject({
      state: 'released',
      decidedBy: 'cli',
      note: 'customer verified',
    })

    const rejected = await seedDeposit(s.handle, merchantId, { from: listed, status: 'HELD', state: 'held' })
    const reject = ok(
      await cli(['payment', 'reject', rejected.paymentId, '--note', 'sender on the SDN list'], env),
    )
    expect(reject.stdout).toBe(`rejected ${rejected.paymentId} (merchant ${merchantId}): HELD -> REJECTED\n`)
    expect((await paymentOf(s.handle, rejected.paymentId)).status).toBe('REJECTED')
    expect(await checkOf(s.handle, rejected.checkId)).toMatchObject({
      state: 'rejected',
      note: 'sender on the SDN list',
    })

    const audit = await s.handle.db.select().from(auditLog).where(eq(auditLog.actor, 'cli'))
    expect(
      audit
        .filter((a) => a.action.startsWith('payment.'))
        .map((a) => [a.action, a.merchantId, a.targetId, a.data]),
    ).toEqual([
      [
        'payment.released',
        otherMerchantId,
        held.paymentId,
        { note: 'customer verified', checks: [held.checkId], reasons: ['KYT_BLOCKED'] },
      ],
      [
        'payment.rejected',
        merchantId,
        rejected.paymentId,
        { note: 'sender on the SDN list', checks: [rejected.checkId], reasons: ['KYT_BLOCKED'] },
      ],
    ])
  })

  test('error: without a note, on a payment not held or unknown, the core refuses and nothing changes; a wrong command line exits 2', async () => {
    const held = await seedDeposit(s.handle, merchantId, { from: listed, status: 'HELD', state: 'held' })
    for (const args of [[], ['--note', '   ']]) {
      const run = await cli(['payment', 'release', held.paymentId, ...args], env)
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('INVALID_INPUT: a note saying why is required')
    }
    expect((await paymentOf(s.handle, held.paymentId)).status).toBe('HELD')
    expect((await checkOf(s.handle, held.checkId)).state).toBe('held')
    expect(
      (await s.handle.db.select().from(auditLog).where(eq(auditLog.targetId, held.paymentId))).length,
    ).toBe(0)

    const open = await seedDeposit(s.handle, merchantId, {
      from: sender,
      status: 'PARTIALLY_PAID',
      state: 'clear',
    })
    const notHeld = await cli(['payment', 'reject', open.paymentId, '--note', 'why'], env)
    expect(notHeld.code).toBe(1)
    expect(notHeld.stderr).toContain(
      'INVALID_STATE: no deposit of this PARTIALLY_PAID payment is held for review',
    )
    const unknown = await cli(['payment', 'release', 'pay_nope', '--note', 'why'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('NOT_FOUND: payment not found')

    for (const [args, message] of [
      [['release'], 'payment release: give the payment id'],
      [['refund', held.paymentId], 'payment: the commands are release, reject and recover'],
      [['reject', held.paymentId, '--reason', 'x'], "payment reject: Unknown option '--reason'"],
      [['reject', held.paymentId, 'extra', '--note', 'x'], 'payment reject: unexpected argument extra'],
    ] as [string[], string][]) {
      const run = await cli(['payment', ...args], env)
      expect({ args, code: run.code }).toEqual({ args, code: 2 })
      expect(run.stderr).toContain(message)
    }
    expect((await paymentOf(s.handle, held.paymentId)).status).toBe('HELD')
  })

  test('behavior: help lists the kyt and payment commands', async () => {
    const run = ok(await cli(['help'], {}))
    for (const line of [
      'tollgate kyt update',
      'tollgate kyt report --from DATE --to DATE [--merchant ID] [--format csv|json]',
      'tollgate kyt policy MERCHANT_ID [--set JSON | --clear] [--json]',
      'tollgate payment release|reject PAYMENT_ID --note TEXT',
    ])
      expect(run.stdout).toContain(line)
  })
})
