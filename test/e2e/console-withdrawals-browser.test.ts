import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { BrowserContext, Locator, Page } from 'playwright-core'
import { getAddress, type Hex, parseEther } from 'viem'
import { sign } from 'viem/accounts'
import { roleWallet } from '../../src/core/payouts/wallet-roles.ts'
import { type TestApp, testConfig } from '../helpers/app.ts'
import { artifactsDir } from '../helpers/browser.ts'
import type { Devnet } from '../helpers/chain.ts'
import {
  type ConsoleScene,
  consoleUser,
  expectCleanPage,
  noHorizontalScroll,
  openPage,
  payAndScan,
  signedInPage,
  signInRefusals,
  startConsoleScene,
  type TestConsoleUser,
} from '../helpers/console.ts'
import { passUntil } from '../helpers/payout-passes.ts'
import { deploySafe, ownerKeys } from '../helpers/safe.ts'

// The console's Withdrawals page in Chromium against a devnet whose ETH withdrawals above 1 need two approvers:
// an operator's API key asks for 2 ETH, approver Ana approves it through the confirmation step (1 of 2), cannot
// approve again, approver Ben (another browser) approves it out of the queue, the payout pass sends it on anvil
// and the detail view shows its transaction. A viewer sees withdrawals without any button, and the API refuses
// the approval the viewer's own session sends.

// The Multisig page on the same devnet: a 2-of-3 Safe is the cold wallet; a proposal drafted through the API is
// listed with what owners sign, a garbage signature is refused in words, an owner's is added, and it is canceled.

const hostileReason = `<script>alert('reason')</script><img src=x onerror=alert(1)>`
const destination = '0x00000000000000000000000000000000000000a1'

let scene: ConsoleScene
let devnet: Devnet
let app: TestApp
let base: string
let shop: { id: string; key: string }
let operatorKey: string
let ana: TestConsoleUser
let ben: TestConsoleUser
let vera: TestConsoleUser
let withdrawalId: string
let safe: Hex
const [owner, otherOwner, thirdOwner] = ownerKeys(3) as Array<{ key: Hex; address: Hex }>

beforeAll(async () => {
  scene = await startConsoleScene({
    // the cold wallet is a Safe deployed on the devnet before the gateway starts
    config: async (chain) => {
      ;({ safe } = await deploySafe(chain, [owner!.address, otherOwner!.address, thirdOwner!.address], 2))
      return testConfig(
        chain.url,
        { confirmations: 2 },
        {
          payouts: { mode: 'batch', approvalAbove: { ETH: '1' }, approvalsRequired: { ETH: 2 } },
          sweeps: { enabled: false },
          // a float above what the hot wallet holds: the payout passes move nothing into the Safe
          cold: {
            address: safe,
            multisig: {
              threshold: 2,
              owners: [owner!.address, otherOwner!.address, thirdOwner!.address],
            },
            float: { ETH: '1000' },
          },
        },
      )
    },
  })
  ;({ devnet, app, base } = scene)
  shop = await app.merchant('Payout shop')

  // the balance the real way: a 5 ETH payment paid on anvil and scanned; the operator fills the hot wallet
  const created = await app.gql(
    `mutation ($input: CreatePaymentInput!) { createPayment(input: $input) {
      ... on CreatePaymentPayload { payment { id address } } } }`,
    { input: { chain: 'devnet', asset: 'ETH', amount: '5' } },
    shop.key,
  )
  await payAndScan(app, devnet, [[created.data.createPayment.payment.address, '5']])
  const treasury = roleWallet(app.ctx, app.ctx.chains.get('devnet')!, 'treasury')
  await devnet.payNative(treasury.address, parseEther('10'))

  const key = await app.gql(
    `mutation { createApiKey(name: "payout bot", scopes: [WITHDRAWALS_WRITE, PAYMENTS_READ]) {
      ... on ApiKeyCreated { key } } }`,
    {},
    shop.key,
  )
  operatorKey = key.data.createApiKey.key
  withdrawalId = await requestWithdrawal('2', 'browser-quorum-1')
  ;[ana, ben, vera] = await Promise.all([
    consoleUser(app, 'Ana Approver', [{ merchantId: shop.id, role: 'approver' }]),
    consoleUser(app, 'Ben Approver', [{ merchantId: shop.id, role: 'approver' }]),
    consoleUser(app, 'Vera Viewer', [{ merchantId: shop.id, role: 'viewer' }]),
  ])
}, 90_000)

afterAll(() => scene?.close())

async function requestWithdrawal(amount: string, idempotencyKey: string): Promise<string> {
  const res = await app.gql(
    `mutation ($input: RequestWithdrawalInput!) { requestWithdrawal(input: $input) {
      ... on RequestWithdrawalPayload { withdrawal { id status } } ... on UserError { code message } } }`,
    { input: { chain: 'devnet', asset: 'ETH', to: destination, amount, idempotencyKey } },
    operatorKey,
  )
  const w = res.data?.requestWithdrawal?.withdrawal
  if (!w) throw new Error(`requestWithdrawal: ${JSON.stringify(res)}`)
  expect(w.status).toBe('AWAITING_APPROVAL')
  return w.id
}

const readWithdrawal = async (id: string) =>
  (
    await app.gql(
      'query ($id: ID!) { withdrawal(id: $id) { status txHash approvalsMissing approvals { keyId reason } } }',
      { id },
      shop.key,
    )
  ).data.withdrawal

/** The withdrawal's card in the queue. */
const queued = (page: Page, id: string): Locator =>
  page.getByRole('list', { name: 'Queue' }).getByRole('article', { name: `Withdrawal ${id}` })

/** Presses `label` on the card, then confirms it with `reason` typed in the confirmation step. */
async function confirmOn(card: Locator, label: string, reason: string) {
  await card.getByRole('button', { name: label, exact: true }).click()
  const step = card.getByRole('group', { name: label })
  await step.getByLabel('Reason (optional, at most 500 characters)').fill(reason)
  await step.getByRole('button', { name: `Confirm: ${label}` }).click()
}

/** A signed-in browser of its own for `user`, with everything it must not do recorded. */
async function session(user: TestConsoleUser, width = 1280) {
  // expected refusals: no session before signing in, the TOTP_REQUIRED step, and a CSRF token another request of
  // the same session rotated (the page renews it once)
  return signedInPage(scene, user, {
    width,
    expected: (url, status) => signInRefusals(url, status) || (url.endsWith('/graphql') && status === 403),
  })
}

describe('console withdrawals in Chromium', () => {
  const contexts: BrowserContext[] = []
  afterAll(async () => {
    for (const c of contexts) await c.close()
  })

  test('behavior: two approvers release a large withdrawal; the payout pass sends it and the console shows its transaction', async () => {
    const a = await session(ana)
    contexts.push(a.context)
    await a.page.getByRole('link', { name: 'Withdrawals' }).click()
    await a.page.getByRole('heading', { name: 'Withdrawals', level: 1 }).waitFor()
    const card = queued(a.page, withdrawalId)
    await card.waitFor()
    expect(await card.locator('.quorum').textContent()).toBe('0 of 2 approvals')
    expect(await card.textContent()).toContain('2 ETH on devnet')
    expect(await card.locator('.withdrawal-to').textContent()).toBe(getAddress(destination))
    expect(await card.textContent()).toContain('payout bot')

    // pressing Approve only opens the confirmation step; nothing is decided yet
    await card.getByRole('button', { name: 'Approve', exact: true }).click()
    expect(await card.getByRole('group', { name: 'Approve' }).textContent()).toContain(
      'It goes out once 2 different approvers approved it; it has 0 of 2 approvals.',
    )
    expect((await readWithdrawal(withdrawalId)).approvals).toEqual([])
    await card.getByRole('button', { name: 'Cancel', exact: true }).click()

    // a 10 KB reason is refused in words and decides nothing
    await confirmOn(card, 'Approve', 'x'.repeat(10_240))
    await card.getByRole('alert').filter({ hasText: 'The text was not accepted.' }).waitFor()
    expect((await readWithdrawal(withdrawalId)).approvals).toEqual([])
    await card.getByRole('button', { name: 'Cancel', exact: true }).click()

    // the hostile reason is accepted as text and shown as the characters it is
    await confirmOn(card, 'Approve', hostileReason)
    await card.getByRole('status').filter({ hasText: 'Approved.' }).waitFor()
    await card.locator('.quorum', { hasText: '1 of 2 approvals' }).waitFor()
    expect(await card.locator('.decider').allTextContents()).toEqual(['Approved by Ana Approver'])
    expect(await card.locator('.decision-reason').textContent()).toBe(hostileReason)
    expect(await a.page.locator('main script, main img').count()).toBe(0)
    expect((await readWithdrawal(withdrawalId)).approvals).toEqual([
      { keyId: `user:${ana.id}`, reason: hostileReason },
    ])

    // having decided, Ana is offered no second decision (the API would answer ALREADY_DECIDED)
    await card
      .locator('.decided-already', {
        hasText: 'You have decided on this withdrawal: another approver must decide now.',
      })
      .waitFor()
    expect(await card.getByRole('button', { name: /^(Approve|Reject)$/ }).count()).toBe(0)
    const afterAna = await readWithdrawal(withdrawalId)
    expect(afterAna).toMatchObject({ status: 'AWAITING_APPROVAL', approvalsMissing: 1 })
    expect(afterAna.approvals).toHaveLength(1)

    // Ben, in a browser of his own, approves: the withdrawal leaves the queue and is queued for sending
    const b = await session(ben)
    contexts.push(b.context)
    await openPage(b.page, base, 'withdrawals')
    const bensCard = queued(b.page, withdrawalId)
    await bensCard.locator('.quorum', { hasText: '1 of 2 approvals' }).waitFor()
    await confirmOn(bensCard, 'Approve', 'checked the invoice')
    await b.page.getByText('No withdrawal is awaiting approval.').waitFor()
    const recent = b.page
      .getByRole('list', { name: 'Recent withdrawals' })
      .getByRole('article', { name: `Withdrawal ${withdrawalId}` })
    // the two lists are read again one after the other: the recent one may answer a moment later
    await recent.locator('.withdrawal-status', { hasText: /^queued$/ }).waitFor()
    // Ana's page, left open, follows Ben's decision live (withdrawalsUpdated), without a reload
    await a.page.getByText('No withdrawal is awaiting approval.').waitFor()
    expect(await recent.locator('.decider').allTextContents()).toEqual([
      'Approved by Ana Approver',
      'Approved by Ben Approver',
    ])
    expect(await recent.getByRole('button').count()).toBe(0)
    expect((await readWithdrawal(withdrawalId)).status).toBe('QUEUED')

    // the payout pass sends it on anvil; the detail view shows the transaction and the history
    await passUntil(
      app,
      'devnet',
      () => devnet.mine(1),
      'the approved withdrawal confirmed',
      async () => (await readWithdrawal(withdrawalId)).status === 'CONFIRMED',
      45_000,
    )
    const { txHash } = await readWithdrawal(withdrawalId)
    const receipt = await devnet.client.getTransactionReceipt({ hash: txHash as Hex })
    expect(receipt.status).toBe('success')
    await recent.getByRole('link', { name: `Details of withdrawal ${withdrawalId}` }).click()
    await b.page.getByRole('heading', { name: 'History' }).waitFor()
    expect(await b.page.locator('.withdrawal-tx').textContent()).toBe(txHash)
    expect(await b.page.locator('.withdrawal-status').textContent()).toBe('confirmed')
    const history = await b.page.locator('.timeline .event-type').allTextContents()
    expect(history[0]).toBe('withdrawal.requested')
    expect(history).toContain('withdrawal.approval_added')
    expect(history.at(-1)).toBe('withdrawal.confirmed')
    await b.page.screenshot({ path: join(artifactsDir, 'console-withdrawal-detail.png'), fullPage: true })

    await expectCleanPage(a.page, a)
    await expectCleanPage(b.page, b)
  }, 120_000)

  test('error: a viewer sees the queue without buttons, and the approval its session sends is FORBIDDEN and changes nothing', async () => {
    const waiting = await requestWithdrawal('1.5', 'browser-quorum-2')
    const v = await session(vera, 375)
    contexts.push(v.context)
    await openPage(v.page, base, 'withdrawals')
    const card = queued(v.page, waiting)
    await card.locator('.quorum', { hasText: '0 of 2 approvals' }).waitFor()
    await v.page
      .getByRole('list', { name: 'Recent withdrawals' })
      .getByRole('article', { name: `Withdrawal ${withdrawalId}` })
      .waitFor()
    expect(
      await v.page
        .locator('main')
        .getByRole('button', { name: /Approve|Reject|Cancel/ })
        .count(),
    ).toBe(0)
    expect(await v.page.getByText('Your role can read them only.').count()).toBe(1)

    // the API is what refuses: the viewer's own session, its CSRF token, the approval mutation
    const before = await readWithdrawal(waiting)
    const answer = await v.page.evaluate(
      async ({ id, merchantId }) => {
        const session = await (await fetch('/console/api/session', { credentials: 'same-origin' })).json()
        const response = await fetch('/graphql', {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            'content-type': 'application/json',
            'x-csrf-token': session.csrfToken,
            'x-tollgate-merchant': merchantId,
          },
          body: JSON.stringify({
            query: 'mutation ($id: ID!) { approveWithdrawal(id: $id, reason: "viewer") { __typename } }',
            variables: { id },
          }),
        })
        return { status: response.status, body: await response.json() }
      },
      { id: waiting, merchantId: shop.id },
    )
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(answer.body.data?.approveWithdrawal ?? null).toBeNull()
    expect(await readWithdrawal(waiting)).toEqual(before)
    expect(before.approvals).toEqual([])

    // the page still works with the token that fetch rotated (renewed once), and nothing scrolls sideways
    await v.page.getByLabel('Status').selectOption('CONFIRMED')
    await queued(v.page, withdrawalId).waitFor()
    expect(await noHorizontalScroll(v.page)).toBe(true)
    await v.page.screenshot({ path: join(artifactsDir, 'console-withdrawals-375.png'), fullPage: true })
    await expectCleanPage(v.page, v)
  }, 60_000)
})

describe('console multisig proposals in Chromium', () => {
  test('behavior: a proposal lists what owners sign; a garbage signature is refused in words, an owner’s is added, then it is canceled', async () => {
    await devnet.payNative(safe, parseEther('1'))
    const proposed = await app.gql(
      `mutation ($input: ProposeTransferInput!) { proposeTransfer(input: $input) {
        ... on ProposeTransferPayload { proposal { id status toSign } } ... on UserError { code message } } }`,
      {
        input: {
          chain: 'devnet',
          asset: 'ETH',
          to: destination,
          amount: '0.5',
          idempotencyKey: 'browser-proposal-1',
        },
      },
      shop.key,
    )
    const proposal = proposed.data?.proposeTransfer?.proposal as { id: string; toSign: Hex } | undefined
    if (!proposal) throw new Error(`proposeTransfer: ${JSON.stringify(proposed)}`)
    const readProposal = async () =>
      (
        await app.gql(
          'query ($id: ID!) { multisigProposal(id: $id) { status signers } }',
          { id: proposal.id },
          shop.key,
        )
      ).data.multisigProposal

    const ada = await consoleUser(app, 'Ada Admin', [{ merchantId: shop.id, role: 'admin' }])
    const s = await session(ada, 375)
    await s.page.getByRole('link', { name: 'Multisig' }).click()
    await s.page.getByRole('heading', { name: 'Multisig proposals' }).waitFor()
    const card = s.page.getByRole('article', { name: `Proposal ${proposal.id}` })
    await card.waitFor()
    expect(await card.locator('.proposal-status').textContent()).toBe('signing')
    expect(await card.locator('.signatures').textContent()).toBe('0 of 2 signatures, 2 missing')
    expect(await card.locator('.to-sign-text').textContent()).toBe(proposal.toSign)
    expect(await s.page.getByRole('button', { name: /Execute/ }).count()).toBe(0)
    expect(await s.page.getByText('there is nothing more to press').count()).toBe(1)

    // garbage, then a signature of a key that owns nothing: refused in words, nothing written
    const field = card.getByLabel('Owner’s signature (hex) or signed PSBT (base64)')
    const mallory = ownerKeys(1)[0]!
    for (const signature of [
      '0xdeadbeef<script>',
      await sign({ hash: proposal.toSign, privateKey: mallory.key, to: 'hex' }),
    ]) {
      await field.fill(signature)
      await card.getByRole('button', { name: 'Add signature', exact: true }).click()
      await card.getByRole('button', { name: 'Confirm: Add signature' }).click()
      await card
        .getByRole('alert')
        .filter({
          hasText: /^That is not a valid signature of one of the wallet’s owners for this proposal\./,
        })
        .waitFor()
      await card.getByRole('button', { name: 'Cancel', exact: true }).click()
    }
    expect(await readProposal()).toEqual({ status: 'SIGNING', signers: [] })

    // an owner's signature is added: 1 of 2
    await field.fill(await sign({ hash: proposal.toSign, privateKey: owner!.key, to: 'hex' }))
    await card.getByRole('button', { name: 'Add signature', exact: true }).click()
    await card.getByRole('button', { name: 'Confirm: Add signature' }).click()
    await card.locator('.signatures', { hasText: '1 of 2 signatures, 1 missing' }).waitFor()
    expect(await card.locator('.signers li').allTextContents()).toEqual([getAddress(owner!.address)])
    expect(await readProposal()).toEqual({ status: 'SIGNING', signers: [getAddress(owner!.address)] })

    // canceled through its confirmation step; the status filter finds it among the canceled
    await card.getByRole('button', { name: 'Cancel proposal', exact: true }).click()
    await card.getByRole('button', { name: 'Confirm: Cancel proposal' }).click()
    await card.locator('.proposal-status', { hasText: 'canceled' }).waitFor()
    expect(await card.getByRole('button').count()).toBe(0)
    expect((await readProposal()).status).toBe('CANCELED')
    await s.page.getByLabel('Status').selectOption('SIGNING')
    await s.page.getByText('No proposal is signing.').waitFor()
    await s.page.getByLabel('Status').selectOption('CANCELED')
    await s.page.getByRole('article', { name: `Proposal ${proposal.id}` }).waitFor()
    expect(await noHorizontalScroll(s.page)).toBe(true)
    await s.page.screenshot({ path: join(artifactsDir, 'console-multisig-375.png'), fullPage: true })
    await expectCleanPage(s.page, s)
    await s.context.close()
  }, 60_000)
})
