import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createTestApp, type TestApp } from '../helpers/app.ts'

// Approving withdrawals and reviewing KYT holds are scopes of their own (what a console approver or compliance
// officer stands for), not only `admin`: each opens its mutations and nothing else.

let app: TestApp
let admin: string

beforeAll(async () => {
  app = await createTestApp()
  admin = (await app.merchant('Review shop')).key
})
afterAll(() => app.close())

async function keyWith(scopes: string[]): Promise<string> {
  const res = await app.gql(
    `mutation ($scopes: [ApiKeyScope!]!) { createApiKey(name: "reviewer", scopes: $scopes) {
      ... on ApiKeyCreated { key } ... on UserError { code } } }`,
    { scopes },
    admin,
  )
  expect(res.errors).toBeUndefined()
  return res.data.createApiKey.key
}

/** A review mutation on an id that does not exist: past the scope check it is NOT_FOUND; before it, FORBIDDEN. */
const calls = {
  approveWithdrawal: `mutation { approveWithdrawal(id: "wd_none") { __typename ... on UserError { code } } }`,
  rejectWithdrawal: `mutation { rejectWithdrawal(id: "wd_none") { __typename ... on UserError { code } } }`,
  releasePayment: `mutation { releasePayment(id: "pay_none", note: "checked") { __typename ... on UserError { code } } }`,
  rejectPayment: `mutation { rejectPayment(id: "pay_none", note: "checked") { __typename ... on UserError { code } } }`,
  releaseDeposit: `mutation { releaseDeposit(id: "dep_none", note: "checked") { __typename ... on UserError { code } } }`,
  rejectDeposit: `mutation { rejectDeposit(id: "dep_none", note: "checked") { __typename ... on UserError { code } } }`,
}
type Call = keyof typeof calls

async function outcome(call: Call, key: string): Promise<string> {
  const res = await app.gql(calls[call], {}, key)
  if (res.errors) return res.errors[0].extensions.code
  return res.data[call].code ?? res.data[call].__typename
}

describe('review scopes', () => {
  test('default: withdrawals:approve opens approving and rejecting withdrawals, nothing of compliance', async () => {
    const key = await keyWith(['WITHDRAWALS_APPROVE'])
    expect(await outcome('approveWithdrawal', key)).toBe('NOT_FOUND')
    expect(await outcome('rejectWithdrawal', key)).toBe('NOT_FOUND')
    for (const call of ['releasePayment', 'rejectPayment', 'releaseDeposit', 'rejectDeposit'] as const)
      expect(await outcome(call, key)).toBe('FORBIDDEN')
  })

  test('default: compliance:review opens releasing and rejecting held payments and deposits, not withdrawals', async () => {
    const key = await keyWith(['COMPLIANCE_REVIEW'])
    for (const call of ['releasePayment', 'rejectPayment', 'releaseDeposit', 'rejectDeposit'] as const)
      expect(await outcome(call, key)).toBe('NOT_FOUND')
    expect(await outcome('approveWithdrawal', key)).toBe('FORBIDDEN')
    expect(await outcome('rejectWithdrawal', key)).toBe('FORBIDDEN')
  })

  test('behavior: admin still opens all of them; a key with the other scopes none', async () => {
    const others = await keyWith(['PAYMENTS_READ', 'PAYMENTS_WRITE', 'WITHDRAWALS_WRITE', 'WEBHOOKS_WRITE'])
    for (const call of Object.keys(calls) as Call[]) {
      expect(await outcome(call, admin)).toBe('NOT_FOUND')
      expect(await outcome(call, others)).toBe('FORBIDDEN')
    }
  })
})
