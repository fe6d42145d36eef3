import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ChainDriver, KytContext, KytRequest } from '@tollgate/sdk'
import { driverRejection } from '@tollgate/sdk/testing'
import { getAddress } from 'viem'
import bitcoin from '../bitcoin/index.ts'
import evm from '../evm/index.ts'
import tron from '../tron/index.ts'
import sanctions, { createSanctionsProvider, type SanctionsProvider } from './index.ts'
import { sanctionsOptionsSchema } from './options.ts'

// The real OFAC SDN lists (test/fixtures/kyt, see SOURCES.md there), keyed through the real drivers' addressKey.

const fixtures = resolve(import.meta.dir, '../../../test/fixtures/kyt')
const assets = ['ETH', 'BSC', 'TRX', 'USDC', 'USDT', 'XBT'] as const
const listFile = (asset: string) => join(fixtures, `ofac_sdn_${asset}.txt`)
const log = { debug() {}, info() {}, warn() {}, error() {} }
const offline = 'http://127.0.0.1:1'

async function driver(
  plugin: typeof evm | typeof tron | typeof bitcoin,
  options: unknown,
): Promise<ChainDriver> {
  const validated = await plugin.options['~standard'].validate(options)
  if (validated.issues) throw new Error(JSON.stringify(validated.issues))
  return (plugin.create as (o: unknown, c: unknown) => Promise<ChainDriver>)(validated.value, {
    chain: 'test',
    log,
  })
}

let ethereum: ChainDriver
let bsc: ChainDriver
let tronMain: ChainDriver
let btc: ChainDriver
let regtest: ChainDriver
let ctx: KytContext
let all: SanctionsProvider
let dir: string

const create = (options: unknown, context: KytContext = ctx) =>
  createSanctionsProvider(sanctionsOptionsSchema.parse(options), context)
const ask = (d: ChainDriver, address: string): KytRequest => ({
  chain: d.chainId,
  address,
  addressKey: d.addressKey(address),
  direction: 'inbound',
})
const entries = (asset: string) =>
  readFileSync(listFile(asset), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))

beforeAll(async () => {
  ethereum = await driver(evm, { preset: 'ethereum', rpcUrls: [offline] })
  bsc = await driver(evm, { preset: 'bsc', rpcUrls: [offline] })
  tronMain = await driver(tron, { preset: 'tron', fullHosts: [offline] })
  btc = await driver(bitcoin, { network: 'mainnet', rpcUrls: [offline] })
  regtest = await driver(bitcoin, { network: 'regtest', rpcUrls: [offline] })
  ctx = {
    name: 'sanctions',
    log,
    chains: [ethereum, bsc, tronMain, btc, regtest].map((d, i) => ({
      name: `chain-${i}`,
      chainId: d.chainId,
      addressKey: d.addressKey,
    })),
  }
  all = await create({ lists: assets.map((asset) => ({ asset, file: listFile(asset) })) })
  dir = mkdtempSync(join(tmpdir(), 'kyt-sanctions-'))
})
afterAll(async () => {
  for (const d of [ethereum, bsc, tronMain, btc, regtest]) await d?.close?.()
  rmSync(dir, { recursive: true, force: true })
})

describe('screening against the real SDN lists', () => {
  test('behavior: every address of every list is blocked on each chain of its family, naming the list and its version', async () => {
    let screened = 0
    for (const asset of assets) {
      const sha = createHash('sha256')
        .update(readFileSync(listFile(asset)))
        .digest('hex')
      for (const address of entries(asset)) {
        const chains = address.startsWith('0x')
          ? [ethereum, bsc]
          : address.startsWith('T')
            ? [tronMain]
            : [btc]
        for (const chain of chains) {
          const answer = await all.screen(ask(chain, address))
          expect(answer).toMatchObject({ verdict: 'block', risk: 'severe', categories: ['sanctions'] })
          expect(answer.reasons.some((r) => r.includes(`OFAC SDN ${asset} list`))).toBe(true)
          expect(answer.source.provider).toBe('sanctions')
          expect(answer.source.version).toContain(`${asset} `)
          expect(answer.source.version).toContain(`sha256:${sha.slice(0, 16)}`)
          screened++
        }
      }
    }
    // 622 entries, of which 163 EVM ones (152 ETH, 1 BSC, 2 USDC, 8 USDT) are screened on Ethereum and on BSC
    expect(screened).toBe(622 + 163)
    expect(all.lists().map((l) => [l.asset, l.size])).toEqual([
      ['ETH', 152],
      ['BSC', 1],
      ['TRX', 6],
      ['USDC', 2],
      ['USDT', 26],
      ['XBT', 435],
    ])
  })

  test('behavior: an EVM entry is blocked whatever its spelling (EIP-55 checksum, upper case)', async () => {
    const listed = entries('ETH')[0] as string
    for (const spelling of [
      getAddress(listed.toLowerCase()),
      `0x${listed.slice(2).toUpperCase()}`,
      listed.toLowerCase(),
    ])
      expect((await all.screen(ask(ethereum, spelling))).verdict).toBe('block')
  })

  test('behavior: well-known unlisted addresses are allowed, with the lists’ versions', async () => {
    const clean: Array<[ChainDriver, string]> = [
      [ethereum, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'], // anvil's first account
      [ethereum, '0xdAC17F958D2ee523a2206206994597C13D831ec7'], // USDT's contract
      [bsc, '0x55d398326f99059fF775485246999027B3197955'], // BSC-USD's contract
      [tronMain, 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'], // USDT's TRC-20 contract
      [btc, '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'], // the genesis block's address
      [btc, 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'],
    ]
    for (const [chain, address] of clean) {
      const answer = await all.screen(ask(chain, address))
      expect(answer).toEqual({
        verdict: 'allow',
        categories: [],
        reasons: [],
        source: { provider: 'sanctions', version: expect.stringContaining('XBT ') },
      })
    }
  })

  test('behavior: a listed ETH address is not matched on Tron (same 20 bytes, another chain)', async () => {
    const listed = (entries('ETH')[0] as string).toLowerCase()
    expect((await all.screen(ask(ethereum, listed))).verdict).toBe('block')
    const sameBytesOnTron = `41${listed.slice(2)}`
    expect((await all.screen(ask(tronMain, sameBytesOnTron))).verdict).toBe('allow')
    // even a caller passing the EVM key with the Tron chain id finds nothing
    const mixed = {
      chain: tronMain.chainId,
      address: listed,
      addressKey: listed,
      direction: 'outbound' as const,
    }
    expect((await all.screen(mixed)).verdict).toBe('allow')
  })

  test('behavior: mainnet Bitcoin entries are not on regtest; a regtest entry of a test list is blocked there only', async () => {
    const regtestAddress = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080'
    const file = join(dir, 'regtest.txt')
    writeFileSync(file, `# test-only entry\n${regtestAddress}\n`)
    const kyt = await create({
      lists: [
        { asset: 'XBT', file: listFile('XBT') },
        { asset: 'TEST', file },
      ],
    })
    expect(await kyt.screen(ask(regtest, regtestAddress))).toMatchObject({
      verdict: 'block',
      reasons: [`${regtestAddress} is on the OFAC SDN TEST list (line 2)`],
    })
    // the same witness program on mainnet is another address, and not listed
    expect((await kyt.screen(ask(btc, 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'))).verdict).toBe('allow')
    expect((await kyt.screen(ask(btc, entries('XBT')[0] as string))).verdict).toBe('block')
  })

  test('behavior: `chains` restricts a list to the chains it names', async () => {
    const listed = entries('BSC')[0] as string
    const kyt = await create({ lists: [{ asset: 'BSC', file: listFile('BSC'), chains: [bsc.chainId] }] })
    expect((await kyt.screen(ask(bsc, listed))).verdict).toBe('block')
    expect((await kyt.screen(ask(ethereum, listed))).verdict).toBe('allow')
    // by default an EVM entry applies to every EVM chain: the same key controls it on each
    expect((await all.screen(ask(ethereum, listed))).verdict).toBe('block')
    const err = await driverRejection(
      create({ lists: [{ asset: 'BSC', file: listFile('BSC'), chains: ['eip155:137'] }] }),
    )
    expect(err).toMatchObject({ code: 'KYT_CONFIG', retryable: false })
  })
})

describe('hostile and unknown input to screen', () => {
  test('boundary: bad requests are KYT_BAD_REQUEST, an unknown chain KYT_UNKNOWN_CHAIN; the provider keeps answering', async () => {
    const good = ask(ethereum, entries('ETH')[0] as string)
    const hostile: unknown[] = [
      { ...good, address: '', addressKey: '' },
      { ...good, address: 'a'.repeat(10_000), addressKey: 'a'.repeat(10_000) },
      { ...good, address: 42, addressKey: 42 },
      { ...good, addressKey: ['0x'] },
      null,
      'not a request',
      { ...good, direction: undefined },
    ]
    for (const request of hostile)
      expect(await driverRejection(all.screen(request as KytRequest))).toMatchObject({
        code: 'KYT_BAD_REQUEST',
        retryable: false,
      })
    expect(await driverRejection(all.screen({ ...good, chain: 'eip155:137' }))).toMatchObject({
      code: 'KYT_UNKNOWN_CHAIN',
      retryable: false,
    })
    expect((await all.screen(good)).verdict).toBe('block')
  })
})

describe('loading lists', () => {
  const malformed: Array<[string, string, number]> = [
    ['garbage', '0x8589427373D6D84E98730D7795D8f6f8731FDA16\n\nnot an address\n', 3],
    ['a short EVM address', '# header\n0x8589427373D6D84E98730D7795D8f6f8731FDA1\n', 2],
    ['a Tron address with a broken checksum', 'TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLrf\n', 1],
    ['a bech32 address with a broken checksum', 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr\n', 1],
    ['a base58 Bitcoin address with a broken checksum', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb\n', 1],
    [
      'two addresses on one line',
      '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n',
      1,
    ],
    ['a huge line', `${'1'.repeat(100_000)}\n`, 1],
  ]
  for (const [name, text, line] of malformed)
    test(`boundary: ${name} is refused with the file and line number`, async () => {
      const file = join(dir, 'bad.txt')
      writeFileSync(file, text)
      const err = await driverRejection(create({ lists: [{ asset: 'ETH', file }] }))
      expect(err).toMatchObject({ code: 'KYT_LIST_MALFORMED', retryable: false })
      expect(err.message).toContain(`${file}:${line}:`)
      expect(err.message.length).toBeLessThan(file.length + 200)
    })

  test('boundary: a list without an address, or not UTF-8, is refused', async () => {
    const file = join(dir, 'empty.txt')
    for (const content of ['', '# date: 2024-09-27\n\n', Buffer.from([0xff, 0xfe, 0x30, 0x78])]) {
      writeFileSync(file, content)
      expect(await driverRejection(create({ lists: [{ asset: 'ETH', file }] }))).toMatchObject({
        code: 'KYT_LIST_MALFORMED',
      })
    }
  })

  test('boundary: a file over maxBytes is KYT_LIST_TOO_LARGE; a missing file KYT_LIST_UNREADABLE', async () => {
    const tooLarge = await driverRejection(
      create({ lists: [{ asset: 'ETH', file: listFile('ETH') }], maxBytes: 6000 }),
    )
    expect(tooLarge).toMatchObject({ code: 'KYT_LIST_TOO_LARGE', retryable: false })
    const missing = await driverRejection(create({ lists: [{ asset: 'ETH', file: join(dir, 'nope.txt') }] }))
    expect(missing).toMatchObject({ code: 'KYT_LIST_UNREADABLE', retryable: false })
    expect(missing.message).toContain('nope.txt')
    expect(await driverRejection(create({ lists: [{ asset: 'ETH', file: dir }] }))).toMatchObject({
      code: 'KYT_LIST_UNREADABLE',
    })
  })

  test('behavior: the version is the date header (else the file date) and the hash; it changes with the file, on reload', async () => {
    const file = join(dir, 'trx.txt')
    const original = readFileSync(listFile('TRX'), 'utf8')
    writeFileSync(file, `# date: 2024-09-27\n${original}`)
    const kyt = await create({ lists: [{ asset: 'TRX', file }] })
    const sha = (text: string) => createHash('sha256').update(text).digest('hex')
    const first = `TRX 2024-09-27 sha256:${sha(readFileSync(file, 'utf8')).slice(0, 16)}`
    const usdt = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'
    expect(await kyt.screen(ask(tronMain, usdt))).toMatchObject({
      verdict: 'allow',
      source: { version: first },
    })

    // an update adds an address: blocked from the reload on, under the new version
    writeFileSync(file, `# date: 2024-10-01\n${original}${usdt}\n`)
    expect((await kyt.screen(ask(tronMain, usdt))).verdict).toBe('allow')
    await kyt.reload()
    const second = `TRX 2024-10-01 sha256:${sha(readFileSync(file, 'utf8')).slice(0, 16)}`
    expect(await kyt.screen(ask(tronMain, usdt))).toMatchObject({
      verdict: 'block',
      source: { version: second },
    })

    // a broken update is refused and the lists in use stay
    writeFileSync(file, `${original}garbage\n`)
    expect(await driverRejection(kyt.reload())).toMatchObject({ code: 'KYT_LIST_MALFORMED' })
    expect(await kyt.screen(ask(tronMain, usdt))).toMatchObject({
      verdict: 'block',
      source: { version: second },
    })

    // without a header: the file's modification date
    writeFileSync(file, original)
    utimesSync(file, new Date('2024-09-27T12:00:00Z'), new Date('2024-09-27T12:00:00Z'))
    await kyt.reload()
    expect(kyt.lists()[0]?.version).toBe(`TRX 2024-09-27 sha256:${sha(original).slice(0, 16)}`)
    expect(kyt.lists()[0]?.sha256).toBe(sha(original))
  })

  test('behavior: a URL list is fetched within the cap; 5xx is retryable, an oversized body refused', async () => {
    const xbt = readFileSync(listFile('XBT'))
    const server = Bun.serve({
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname
        if (path === '/xbt')
          return new Response(xbt, { headers: { 'last-modified': 'Fri, 27 Sep 2024 10:00:00 GMT' } })
        if (path === '/huge')
          return new Response(
            new ReadableStream({
              pull(controller) {
                controller.enqueue(
                  new TextEncoder().encode(`${'1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n'.repeat(1000)}`),
                )
              },
            }),
          )
        return new Response('busy', { status: 503 })
      },
    })
    try {
      const base = `http://127.0.0.1:${server.port}`
      const kyt = await create({ lists: [{ asset: 'XBT', url: `${base}/xbt` }] })
      expect(kyt.lists()[0]?.date).toBe('2024-09-27')
      expect((await kyt.screen(ask(btc, entries('XBT')[5] as string))).verdict).toBe('block')
      expect(await driverRejection(create({ lists: [{ asset: 'XBT', url: `${base}/down` }] }))).toMatchObject(
        {
          code: 'KYT_LIST_UNREADABLE',
          retryable: true,
        },
      )
      expect(
        await driverRejection(create({ lists: [{ asset: 'XBT', url: `${base}/huge` }], maxBytes: 1 << 20 })),
      ).toMatchObject({ code: 'KYT_LIST_TOO_LARGE' })
    } finally {
      server.stop(true)
    }
  })

  test('boundary: the options schema is strict', async () => {
    const refused: unknown[] = [
      {},
      { lists: [] },
      { lists: [{ asset: 'ETH' }] },
      { lists: [{ asset: 'ETH', file: 'a', url: 'https://example.com/a' }] },
      { lists: [{ asset: 'ETH', file: 'a', extra: 1 }] },
      { lists: [{ asset: 'ETH', url: 'file:///etc/passwd' }] },
      { lists: [{ asset: 'ETH', file: 'a', chains: ['ethereum'] }] },
      { lists: [{ asset: 'ETH', file: 'a' }], maxBytes: 1 << 30 },
      { lists: [{ asset: 'ETH', file: 'a' }], unknown: true },
    ]
    for (const options of refused) {
      const result = await sanctions.options['~standard'].validate(options)
      expect(result.issues?.length ?? 0).toBeGreaterThan(0)
    }
    expect(sanctions).toMatchObject({ apiVersion: 1, name: 'kyt-sanctions' })
    const provider = await sanctions.create(
      sanctionsOptionsSchema.parse({ lists: [{ asset: 'BSC', file: listFile('BSC') }] }),
      ctx,
    )
    expect((await provider.screen(ask(bsc, entries('BSC')[0] as string))).verdict).toBe('block')
  })
})
