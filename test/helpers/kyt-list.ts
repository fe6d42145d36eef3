import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import type { Db } from '../../src/db/client.ts'
import { payments } from '../../src/db/schema/index.ts'

/** A sanctions list written for one test: where it is and the version the sanctions provider names it by. */
export type TestKytList = {
  file: string
  /** sha256 of the file's bytes, hex. */
  sha256: string
  /** `ASSET date sha256:<first 16 hex digits>`, as the provider reports it with every answer. */
  version: string
  /** The 1-based line each listed address is on (answers name it). */
  lineOf(address: string): number
  remove(): void
}

/**
 * Writes a list file in the SDN list's format (one address per line, `#` comments, a `# date:` header) into a
 * temporary folder of its own. The addresses are the test's own: wallets it funds and pays from, which no real
 * list holds.
 *
 * @example
 * const list = writeKytList('XBT', [listedPayer.address, sdnAddress('XBT')], '2025-03-14')
 * afterAll(() => list.remove())
 */
export function writeKytList(asset: string, addresses: readonly string[], date: string): TestKytList {
  const dir = mkdtempSync(join(tmpdir(), `kyt-list-${asset.toLowerCase()}-`))
  const file = join(dir, `test_${asset}.txt`)
  const header = [`# date: ${date}`, '# addresses a test funds and pays from, and real SDN entries']
  const text = `${[...header, ...addresses].join('\n')}\n`
  writeFileSync(file, text)
  const sha256 = createHash('sha256').update(text).digest('hex')
  return {
    file,
    sha256,
    version: `${asset} ${date} sha256:${sha256.slice(0, 16)}`,
    lineOf: (address) => {
      const i = addresses.indexOf(address)
      if (i < 0) throw new Error(`${address} is not on the list`)
      return header.length + i + 1
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** The real OFAC SDN digital-currency address lists kept as fixtures (see test/fixtures/kyt/SOURCES.md). */
export const sdnListFile = (asset: string) => join(import.meta.dir, `../fixtures/kyt/ofac_sdn_${asset}.txt`)

/**
 * The addresses of one of the real OFAC SDN lists kept as fixtures (test/fixtures/kyt), in the list's order and
 * spelling.
 *
 * @example
 * sdnListAddresses('XBT')[0] // '123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX'
 */
export function sdnListAddresses(asset: string): string[] {
  return readFileSync(sdnListFile(asset), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
}

/** The fields of `Payment.kyt` the end-to-end tests read. */
export const kytFields = `kyt { state verdict reason versions addresses txHash decidedBy note
  answers { provider address verdict risk categories reasons version error } }`

/** A payment's status as stored. */
export const statusOf = async (db: Db, id: string) =>
  (await db.select({ status: payments.status }).from(payments).where(eq(payments.id, id)))[0]?.status

/**
 * What `Payment.kyt` shows (with {@link kytFields}) for a deposit the list blocked: held, the list's version, and
 * the sanctions provider's answer naming the address and its line.
 *
 * @example
 * expect(view.kyt).toEqual(heldByList(list, 'XBT', payer.address, txid))
 */
export function heldByList(list: TestKytList, asset: string, address: string, txHash: string) {
  return [
    {
      state: 'HELD',
      verdict: 'BLOCK',
      reason: 'KYT_BLOCKED',
      versions: `sanctions=${list.version}`,
      addresses: [address],
      txHash,
      decidedBy: null,
      note: null,
      answers: [
        {
          provider: 'sanctions',
          address,
          verdict: 'BLOCK',
          risk: 'severe',
          categories: ['sanctions'],
          reasons: [`${address} is on the OFAC SDN ${asset} list (line ${list.lineOf(address)})`],
          version: list.version,
          error: null,
        },
      ],
    },
  ]
}

/**
 * An admin's decision on a held payment through GraphQL (`releasePayment` / `rejectPayment` with a note): the
 * payment's status and screenings as answered, or the user error.
 *
 * @example
 * const answer = await decideHeld(gql, 'rejectPayment', payment.id, 'sender on the sanctions list')
 */
export async function decideHeld(
  gql: (query: string, variables: Record<string, unknown>) => Promise<any>,
  decision: 'releasePayment' | 'rejectPayment',
  id: string,
  note: string,
) {
  const res = await gql(
    `mutation ($id: ID!, $note: String!) { ${decision}(id: $id, note: $note) {
      ... on Payment { status ${kytFields} } ... on UserError { code message } } }`,
    { id, note },
  )
  return res.data[decision]
}
