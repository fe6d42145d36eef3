import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type Hex, parseEther, parseUnits } from 'viem'
import { createPaymentBus, type PaymentBus } from '../../src/pubsub.ts'
import { type Devnet, gatewayEvmWallet } from '../helpers/chain.ts'
import {
  type CustomerDepositsScene,
  type SceneChain,
  startCustomerDepositsScene,
} from '../helpers/customer-deposits.ts'
import { type DepositView, depositFields } from '../helpers/customer-deposits-chains.ts'
import { impersonate, payNativeFrom, sdnAddresses } from '../helpers/kyt.ts'
import { type LiveStream, openSocket, openSse } from '../helpers/live-client.ts'
import { waitFor } from '../helpers/processes.ts'

// Customer deposit addresses end to end with the production processes (an API and a chain worker holding only
// xpubs, a signer holding the seed) on two anvil devnets whose addresses coincide: a merchant's customers get
// permanent addresses, what they send there becomes deposits (seen, confirmed, held, rejected, reverted),
// credited to the merchant once, announced by webhooks and subscriptions, swept to the treasury and reconciled.

let scene: CustomerDepositsScene
let bus: PaymentBus
/** depositsUpdated(customerId: 'alice'), open from alice's first deposit to the end of the file. */
let alice: Streams | undefined
const treasury = gatewayEvmWallet('treasury').address
const gasTank = gatewayEvmWallet('gas').address
/** A real entry of the OFAC SDN ETH list, which anvil lets the test send from. */
const listedPayer = sdnAddresses('ETH')[0] as string
const usdt = (amount: string) => parseUnits(amount, 6)

beforeAll(async () => {
  scene = await startCustomerDepositsScene('Deposit shop')
  bus = createPaymentBus('redis://127.0.0.1:6379', scene.env.REDIS_PREFIX as string)
  const endpoint = await gql(
    `mutation ($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename } }`,
    {
      input: {
        url: scene.hooks.url,
        events: ['DEPOSIT_SEEN', 'DEPOSIT_CONFIRMED', 'DEPOSIT_HELD', 'DEPOSIT_REJECTED', 'DEPOSIT_REVERTED'],
      },
    },
  )
  expect(endpoint.data.createWebhookEndpoint.__typename).toBe('WebhookEndpointWithSecret')
  const { home, side } = scene.devnets
  // the operator fills the gas tank that pays token sweeps' gas; the first reconciliation books it as theirs
  await home.payNative(gasTank, parseEther('1'))
  const first = await scene.reconcile('home')
  expect(first.report.discrepancies).toEqual([])
  await impersonate(home, listedPayer)
  for (const devnet of [home, side]) {
    expect(await devnet.client.getBalance({ address: treasury as Hex })).toBe(0n)
    expect(await devnet.tokenBalance(treasury)).toBe(0n)
  }
  scene.miners.side.start()
}, 60_000)

afterAll(async () => {
  alice?.close()
  bus?.close()
  await scene?.stop()
}, 30_000)

const gql = (query: string, variables: Record<string, unknown> = {}) => scene.gateway.gql(query, variables)

type CustomerAddress = {
  __typename: string
  id: string
  customerId: string
  chain: string
  asset: { symbol: string } | null
  mode: string
  address: string
  networks: string[]
}

async function depositAddress(customerId: string, chain: SceneChain): Promise<CustomerAddress> {
  const res = await gql(
    `mutation ($input: DepositAddressInput!) { depositAddress(input: $input) { __typename
      ... on CustomerAddress { id customerId chain asset { symbol } mode address networks }
      ... on UserError { code field message } } }`,
    { input: { customerId, chain } },
  )
  expect(res.errors).toBeUndefined()
  expect(res.data.depositAddress.__typename).toBe('CustomerAddress')
  return res.data.depositAddress
}

type Deposit = DepositView

async function depositsOf(customerId: string): Promise<Deposit[]> {
  const res = await gql(
    `query ($customerId: String) { deposits(customerId: $customerId, first: 10) { edges { node { ${depositFields} } } } }`,
    { customerId },
  )
  expect(res.errors).toBeUndefined()
  return res.data.deposits.edges.map((e: { node: Deposit }) => e.node)
}

/** The customer's deposit of a transaction once `check` holds for it (the first transfer of the transaction). */
async function depositReaches(
  customerId: string,
  txHash: string,
  what: string,
  check: (d: Deposit) => boolean,
): Promise<Deposit> {
  // found in the database (cheap to ask often), then read through the API: polling a list would spend the key's
  // query budget
  const id = await waitFor(`${customerId}'s deposit ${txHash}`, async () => {
    const [row] = await scene.sql<{ id: string }[]>`
      SELECT d.id FROM deposits d JOIN customers c ON c.id = d.customer_id
      WHERE c.external_id = ${customerId} AND d.tx_hash = ${txHash}`
    return row?.id
  })
  let last: Deposit | undefined
  return waitFor(
    `${customerId}'s deposit ${txHash}: ${what}`,
    async () => {
      const res = await gql(`query ($id: ID!) { deposit(id: $id) { ${depositFields} } }`, { id })
      expect(res.errors).toBeUndefined()
      last = res.data.deposit
      await Bun.sleep(50)
      if (last && ['REVERTED', 'REJECTED'].includes(last.status) && !what.includes(last.status))
        throw new Error(`the deposit is ${last.status}: ${JSON.stringify(last)}`)
      return last && check(last) ? last : undefined
    },
    20_000,
  ).catch((err) => {
    throw new Error(`${err.message}; last seen: ${JSON.stringify(last)}`)
  })
}

/** Seen (one block deep) and cleared by screening: the next block confirms it. */
const seenAndClear = (customerId: string, txHash: string) =>
  depositReaches(
    customerId,
    txHash,
    'SEEN and screened clear',
    (d) => d.status === 'SEEN' && d.screening === 'clear',
  )
const statusIs = (customerId: string, txHash: string, status: string) =>
  depositReaches(customerId, txHash, status, (d) => d.status === status)

/**
 * Pays with the chain's miner paused: the deposit is SEEN and screened clear one block deep, then the next block
 * confirms it. (With blocks coming faster than screening answers, a deposit at its depth is HELD until it does.)
 */
async function paidAndConfirmed(
  chain: SceneChain,
  customerId: string,
  pay: (devnet: Devnet) => Promise<{ transactionHash: Hex; blockNumber: bigint }>,
) {
  await scene.miners[chain].pause()
  try {
    const paid = await pay(scene.devnets[chain])
    await seenAndClear(customerId, paid.transactionHash)
    await scene.devnets[chain].mine(1)
    return { paid, deposit: await statusIs(customerId, paid.transactionHash, 'CONFIRMED') }
  } finally {
    scene.miners[chain].start()
  }
}

async function customer(id: string) {
  const res = await gql(
    `query ($id: String!) { customer(id: $id) { id addressMode
      addresses { customerId chain asset { symbol } mode address networks }
      deposits(first: 50) { edges { node { id chain status amount asset { symbol } } } }
      balance { chain asset { symbol } credited pending uncredited deposits } } }`,
    { id },
  )
  expect(res.errors).toBeUndefined()
  return res.data.customer
}

type BalanceView = { chain: string; asset: { symbol: string; decimals: number }; available: string }

/** The merchant's available balances by `chain:symbol`, in base units (an asset back at 0 left out). */
async function balances(): Promise<Record<string, bigint>> {
  const res = await gql('{ balances { chain asset { symbol decimals } available } }')
  expect(res.errors).toBeUndefined()
  return Object.fromEntries(
    res.data.balances
      .map((b: BalanceView) => [`${b.chain}:${b.asset.symbol}`, parseUnits(b.available, b.asset.decimals)])
      .filter(([, amount]: [string, bigint]) => amount !== 0n),
  )
}
const gained = (after: Record<string, bigint>, before: Record<string, bigint>, key: string) =>
  (after[key] ?? 0n) - (before[key] ?? 0n)

/** The webhook types delivered about one deposit, in its event order, once `expected` many arrived. */
async function hooksOf(depositId: string, expected: string[]) {
  const of = () =>
    scene.hooks.received
      .filter((h) => h.data?.id === depositId)
      .sort((a, b) => Number(a.sequence) - Number(b.sequence))
  await waitFor(
    `webhooks ${expected.join(', ')} for ${depositId} (got ${of()
      .map((h) => h.type)
      .join(', ')})`,
    () => of().length >= expected.length,
  )
  await Bun.sleep(300)
  expect(of().map((h) => h.type)).toEqual(expected)
  return of() as Array<{ type: string; data: Record<string, unknown> }>
}

/** What the merchant's balance holds of one deposit, posting by posting (ledger rows on merchant:available). */
async function creditPostings(depositId: string): Promise<bigint[]> {
  const rows = await scene.sql<{ amount: string }[]>`
    SELECT amount::text AS amount FROM ledger_postings
    WHERE ref_type = 'deposit' AND ref_id LIKE ${`${depositId}#%`} AND account = 'merchant:available'
    ORDER BY id`
  return rows.map((r) => BigInt(r.amount))
}

type SweepRow = {
  id: string
  asset: string
  status: string
  amount: string | null
  fee: string | null
  /** What the gas tank sent the address for a token sweep's gas. */
  topUp: string | null
}

async function sweepsFrom(chain: SceneChain, address: string): Promise<SweepRow[]> {
  return scene.sql<SweepRow[]>`
    SELECT s.id, s.asset, s.status, s.amount::text AS amount, o.fee::text AS fee, s.need->>'native' AS "topUp"
    FROM sweeps s LEFT JOIN outbound_txs o ON o.id = s.sweep_tx_id
    WHERE s.chain = ${chain} AND lower(s.from_address) = lower(${address})
    ORDER BY s.created_at`
}

/** The sweeps of every asset at an address once each is done. */
async function sweptAll(chain: SceneChain, address: string, assets: number): Promise<SweepRow[]> {
  let last: SweepRow[] = []
  return waitFor(
    `${assets} sweep(s) from ${address} on ${chain} done`,
    async () => {
      last = await sweepsFrom(chain, address)
      if (last.some((s) => s.status === 'skipped' || s.status === 'failed'))
        throw new Error(`a sweep ended ${JSON.stringify(last)}`)
      return last.length === assets && last.every((s) => s.status === 'done') ? last : undefined
    },
    30_000,
  ).catch((err) => {
    throw new Error(`${err.message}; sweeps: ${JSON.stringify(last)}`)
  })
}

/** Nothing the signer does is still on its way on `chain`: every sweep ended and no transaction in flight. */
async function settled(chain: SceneChain) {
  await waitFor(
    `${chain} settled`,
    async () => {
      const [row] = await scene.sql<{ open: number; flying: number }[]>`
        SELECT (SELECT count(*)::int FROM sweeps WHERE chain = ${chain} AND status NOT IN ('done', 'skipped')) AS open,
               (SELECT count(*)::int FROM outbound_txs WHERE chain = ${chain}
                  AND status IN ('built', 'signed', 'broadcast')) AS flying`
      return row?.open === 0 && row.flying === 0
    },
    30_000,
  )
}

/** The gateway scanned `chain` up to its tip as it is now. */
async function scannedToTip(chain: SceneChain) {
  const tip = await scene.devnets[chain].height()
  await waitFor(`${chain} scanned to ${tip}`, async () => {
    const [row] = await scene.sql<{ height: string }[]>`
      SELECT height::text AS height FROM chain_cursors WHERE chain = ${chain}`
    return row !== undefined && BigInt(row.height) >= tip
  })
}

async function expectBooksExact(chain: SceneChain) {
  await settled(chain)
  const { code, report } = await scene.reconcile(chain)
  expect(report.settled).toBe(true)
  expect(report.discrepancies).toEqual([])
  expect(code).toBe(0)
}

const decide = (mutation: 'releaseDeposit' | 'rejectDeposit', id: string, note: string) =>
  gql(
    `mutation ($id: ID!, $note: String!) { ${mutation}(id: $id, note: $note) { __typename
      ... on Deposit { id status credited screening } ... on UserError { code field message } } }`,
    { id, note },
  )

async function setDepositSettings(input: Record<string, unknown>) {
  const res = await gql(
    `mutation ($input: SetDepositSettingsInput!) { setDepositSettings(input: $input) { __typename
      ... on DepositSettings { addressMode minimums { chain asset { symbol } amount } }
      ... on UserError { code field message } } }`,
    { input },
  )
  expect(res.errors).toBeUndefined()
  return res.data.setDepositSettings
}

const aliceStream = `subscription ($customerId: String) { depositsUpdated(customerId: $customerId) {
  id customerId chain status } }`
type Streams = { ws: LiveStream; sse: LiveStream; close(): void }

/** depositsUpdated(customerId: 'alice') over graphql-ws and server-sent events. */
async function aliceStreams(): Promise<Streams> {
  const socket = openSocket(scene.gateway.api.wsUrl, `Bearer ${scene.gateway.apiKey}`)
  await socket.ready
  return {
    ws: socket.subscribe(aliceStream, { customerId: 'alice' }),
    sse: openSse(
      `${scene.gateway.api.url}/graphql`,
      aliceStream,
      { customerId: 'alice' },
      scene.gateway.apiKey,
    ),
    close: () => {
      socket.close()
    },
  }
}

/** The statuses a stream was sent for one deposit, repeats of one status taken as one. */
const statusesSeen = (stream: LiveStream, id: string) =>
  stream
    .data()
    .map((d) => d.depositsUpdated)
    .filter((d) => d.id === id)
    .map((d) => d.status as string)
    .filter((s, i, all) => s !== all[i - 1])

const streamsSaw = (streams: Streams, id: string, status: string) =>
  waitFor(`alice's streams to see ${id} ${status}`, () =>
    [streams.ws, streams.sse].every((s) => statusesSeen(s, id).at(-1) === status),
  )

/**
 * Waits until both streams listen: the deposit's signal is sent again (as the worker sends it) until both were
 * sent it. The deposit stays as it is meanwhile (no block is mined).
 */
async function untilListening(streams: Streams, deposit: { id: string; status: string }) {
  const [owner] = await scene.sql<{ merchantId: string; customerId: string }[]>`
    SELECT merchant_id AS "merchantId", customer_id AS "customerId" FROM deposits WHERE id = ${deposit.id}`
  await waitFor('the streams to listen', async () => {
    bus.publishDeposits([
      {
        depositId: deposit.id,
        merchantId: owner!.merchantId,
        customerId: owner!.customerId,
        status: deposit.status as never,
        type: `deposit.${deposit.status.toLowerCase()}`,
      },
    ])
    await Bun.sleep(100)
    return [streams.ws, streams.sse].every((s) => statusesSeen(s, deposit.id).length > 0)
  })
}

describe('customer deposit addresses on anvil, through the API, the chain worker and the signer', () => {
  test('behavior: a reorg reverts a SEEN deposit (never credited) and a CONFIRMED one (its credit taken back exactly once); deposit.reverted is delivered', async () => {
    const { home } = scene.devnets
    await scene.miners.home.pause()
    try {
      const address = await depositAddress('reorged', 'home')
      const before = await balances()

      // seen one block deep, then the block is replaced and the chain grows past it
      const dropped = await home.payNative(address.address, parseEther('0.5'))
      const seen = await seenAndClear('reorged', dropped.transactionHash)
      expect(seen).toMatchObject({ amount: '0.5', credited: '0', confirmations: 1, confirmationsRequired: 2 })
      await home.reorg(1)
      await home.mine(2)
      const reverted = await statusIs('reorged', dropped.transactionHash, 'REVERTED')
      expect(reverted).toMatchObject({ id: seen.id, credited: '0', confirmations: 0 })
      await hooksOf(seen.id, ['deposit.seen', 'deposit.reverted'])
      expect(await creditPostings(seen.id)).toEqual([])

      // confirmed and credited, then both its blocks are replaced
      const undone = await home.payToken(address.address, usdt('3'))
      const seenToken = await seenAndClear('reorged', undone.transactionHash)
      await home.mine(1)
      const confirmed = await statusIs('reorged', undone.transactionHash, 'CONFIRMED')
      expect(confirmed).toMatchObject({ id: seenToken.id, credited: '3', belowMinimum: false })
      expect(gained(await balances(), before, 'home:USDT')).toBe(usdt('3'))
      await home.reorg(2)
      await home.mine(2)
      const revertedToken = await statusIs('reorged', undone.transactionHash, 'REVERTED')
      expect(revertedToken.credited).toBe('0')
      const hooks = await hooksOf(seenToken.id, ['deposit.seen', 'deposit.confirmed', 'deposit.reverted'])
      expect(hooks.map((h) => h.data.customerId)).toEqual(['reorged', 'reorged', 'reorged'])
      expect(hooks[2]?.data).toMatchObject({ status: 'REVERTED', credited: '0', chain: 'home' })

      // later blocks change nothing: one credit, one reversal
      await home.mine(2)
      await scannedToTip('home')
      expect(await creditPostings(seenToken.id)).toEqual([usdt('3'), -usdt('3')])
      expect(await balances()).toEqual(before)
      expect((await depositsOf('reorged')).map((d) => d.status).sort()).toEqual(['REVERTED', 'REVERTED'])
      const { balance } = await customer('reorged')
      expect(
        balance.every((b: { credited: string; pending: string }) => b.credited === '0' && b.pending === '0'),
      ).toBe(true)
      expect(balance.map((b: { deposits: number }) => b.deposits)).toEqual(balance.map(() => 0))
    } finally {
      scene.miners.home.start()
    }
  }, 60_000)

  test('default: a COMMON address takes ETH, later USDT: each SEEN then CONFIRMED, credited to the merchant with the customer on it; customer(id) shows both; webhooks and depositsUpdated carry them', async () => {
    const { home } = scene.devnets
    await scene.miners.home.pause()
    try {
      const address = await depositAddress('alice', 'home')
      expect(address).toMatchObject({
        customerId: 'alice',
        chain: 'home',
        asset: null,
        mode: 'COMMON',
        networks: ['home'],
      })
      // permanent: asked again, the same address
      expect(await depositAddress('alice', 'home')).toEqual(address)
      alice = await aliceStreams()
      const before = await balances()

      const ethPaid = await home.payNative(address.address, parseEther('1'))
      const ethSeen = await seenAndClear('alice', ethPaid.transactionHash)
      expect(ethSeen).toMatchObject({
        customerId: 'alice',
        chain: 'home',
        asset: { symbol: 'ETH' },
        amount: '1',
        credited: '0',
        belowMinimum: false,
        address: address.address,
        // an account chain's native transfer: the transaction's own value
        index: -1,
        blockHeight: ethPaid.blockNumber.toString(),
        confirmations: 1,
        confirmationsRequired: 2,
        confirmedAt: null,
      })
      await untilListening(alice, ethSeen)
      expect(gained(await balances(), before, 'home:ETH')).toBe(0n)
      await home.mine(1)
      const ethConfirmed = await statusIs('alice', ethPaid.transactionHash, 'CONFIRMED')
      expect(ethConfirmed).toMatchObject({
        id: ethSeen.id,
        credited: '1',
        belowMinimum: false,
        confirmations: 2,
      })
      expect(ethConfirmed.confirmedAt).not.toBeNull()
      await streamsSaw(alice, ethSeen.id, 'CONFIRMED')
      // the confirmed ETH is swept (its transaction mines a block on anvil): done before the next deposit, whose
      // blocks the test mines alone again
      scene.miners.home.start()
      await sweptAll('home', address.address, 1)
      await scene.miners.home.pause()

      const tokenPaid = await home.payToken(address.address, usdt('50'))
      const tokenSeen = await seenAndClear('alice', tokenPaid.transactionHash)
      expect(tokenSeen).toMatchObject({ asset: { symbol: 'USDT' }, amount: '50', credited: '0' })
      // a token transfer: its log's index in the block
      expect(tokenSeen.index).toBeGreaterThanOrEqual(0)
      await streamsSaw(alice, tokenSeen.id, 'SEEN')
      await home.mine(1)
      const tokenConfirmed = await statusIs('alice', tokenPaid.transactionHash, 'CONFIRMED')
      expect(tokenConfirmed.credited).toBe('50')
      await streamsSaw(alice, tokenSeen.id, 'CONFIRMED')

      const after = await balances()
      expect(gained(after, before, 'home:ETH')).toBe(parseEther('1'))
      expect(gained(after, before, 'home:USDT')).toBe(usdt('50'))
      expect(await creditPostings(ethSeen.id)).toEqual([parseEther('1')])
      expect(await creditPostings(tokenSeen.id)).toEqual([usdt('50')])

      const view = await customer('alice')
      expect(view).toMatchObject({ id: 'alice', addressMode: 'COMMON' })
      expect(view.addresses).toEqual([
        {
          customerId: 'alice',
          chain: 'home',
          asset: null,
          mode: 'COMMON',
          address: address.address,
          networks: ['home'],
        },
      ])
      expect(
        view.deposits.edges
          .map((e: { node: { id: string; status: string } }) => [e.node.id, e.node.status])
          .sort(),
      ).toEqual(
        [
          [ethSeen.id, 'CONFIRMED'],
          [tokenSeen.id, 'CONFIRMED'],
        ].sort(),
      )
      const bySymbol = (a: BalanceView, b: BalanceView) => a.asset.symbol.localeCompare(b.asset.symbol)
      expect([...view.balance].sort(bySymbol)).toEqual([
        {
          chain: 'home',
          asset: { symbol: 'ETH' },
          credited: '1',
          pending: '0',
          uncredited: '0',
          deposits: 1,
        },
        {
          chain: 'home',
          asset: { symbol: 'USDT' },
          credited: '50',
          pending: '0',
          uncredited: '0',
          deposits: 1,
        },
      ])

      for (const [deposit, amount] of [
        [ethSeen, '1'],
        [tokenSeen, '50'],
      ] as const) {
        const hooks = await hooksOf(deposit.id, ['deposit.seen', 'deposit.confirmed'])
        for (const h of hooks)
          expect(h.data).toMatchObject({
            object: 'deposit',
            id: deposit.id,
            customerId: 'alice',
            chain: 'home',
            amount,
            address: address.address,
            txHash: deposit.txHash,
          })
        expect(hooks[1]?.data).toMatchObject({ status: 'CONFIRMED', credited: amount, belowMinimum: false })
        for (const stream of [alice.ws, alice.sse])
          expect(statusesSeen(stream, deposit.id)).toEqual(['SEEN', 'CONFIRMED'])
      }
    } finally {
      scene.miners.home.start()
    }
  }, 60_000)

  test('behavior: the confirmed deposits are swept from the customer address to the treasury; reconciliation finds the books and the chain exact', async () => {
    const { home } = scene.devnets
    const [address] = (await customer('alice')).addresses
    const swept = await sweptAll('home', address.address, 2)
    const byAsset = Object.fromEntries(swept.map((s) => [s.asset.includes('erc20') ? 'USDT' : 'ETH', s]))
    expect(await home.tokenBalance(address.address)).toBe(0n)
    expect(await home.tokenBalance(treasury)).toBe(usdt('50'))
    expect(BigInt(byAsset.USDT!.amount!)).toBe(usdt('50'))
    // the ETH sweep took the whole deposit less its own fee
    expect(BigInt(byAsset.ETH!.amount!) + BigInt(byAsset.ETH!.fee!)).toBe(parseEther('1'))
    expect(await home.client.getBalance({ address: treasury as Hex })).toBe(BigInt(byAsset.ETH!.amount!))
    // the token sweep's gas top-up, less what its transfer cost, is still at the address: the gateway's own
    // (booked under gateway:deposits), which reconciliation counts there
    const remainder = BigInt(byAsset.USDT!.topUp!) - BigInt(byAsset.USDT!.fee!)
    expect(remainder).toBeGreaterThan(0n)
    expect(await home.client.getBalance({ address: address.address as Hex })).toBe(remainder)
    await expectBooksExact('home')
  }, 60_000)

  test('behavior: with a minimum set for USDT, a smaller USDT deposit confirms with credited "0" and belowMinimum true; the balance is unchanged', async () => {
    const set = await setDepositSettings({ minimums: [{ chain: 'home', asset: 'USDT', amount: '10' }] })
    expect(set).toEqual({
      __typename: 'DepositSettings',
      addressMode: 'COMMON',
      minimums: [{ chain: 'home', asset: { symbol: 'USDT' }, amount: '10' }],
    })
    const address = await depositAddress('small', 'home')
    const before = await balances()
    const { deposit: confirmed } = await paidAndConfirmed('home', 'small', (home) =>
      home.payToken(address.address, usdt('4')),
    )
    expect(confirmed).toMatchObject({ amount: '4', credited: '0', belowMinimum: true })
    expect(await balances()).toEqual(before)
    expect(await creditPostings(confirmed.id)).toEqual([])
    expect((await customer('small')).balance).toEqual([
      { chain: 'home', asset: { symbol: 'USDT' }, credited: '0', pending: '0', uncredited: '4', deposits: 1 },
    ])
    const [, done] = await hooksOf(confirmed.id, ['deposit.seen', 'deposit.confirmed'])
    expect(done?.data).toMatchObject({
      customerId: 'small',
      status: 'CONFIRMED',
      credited: '0',
      belowMinimum: true,
    })
    const cleared = await setDepositSettings({ minimums: [] })
    expect(cleared.minimums).toEqual([])
  }, 60_000)

  test('behavior: a deposit from an SDN-listed sender is HELD and not credited; releaseDeposit with a note credits it and it is swept; a rejected one is never credited or swept', async () => {
    const { home } = scene.devnets
    const released = await depositAddress('listed-released', 'home')
    const rejected = await depositAddress('listed-rejected', 'home')
    const before = await balances()
    const toRelease = await payNativeFrom(home, listedPayer, released.address, parseEther('0.5'))
    const toReject = await payNativeFrom(home, listedPayer, rejected.address, parseEther('0.4'))
    // HELD from its depth on (so too while screening has not answered), until screening holds it
    const heldBy = (customerId: string, txHash: string) =>
      depositReaches(
        customerId,
        txHash,
        'HELD by screening',
        (d) => d.status === 'HELD' && d.screening === 'held',
      )
    const heldOne = await heldBy('listed-released', toRelease.transactionHash)
    const heldTwo = await heldBy('listed-rejected', toReject.transactionHash)
    for (const d of [heldOne, heldTwo]) expect(d).toMatchObject({ credited: '0', confirmedAt: null })
    expect(await balances()).toEqual(before)
    const heldHooks = await hooksOf(heldOne.id, ['deposit.seen', 'deposit.held'])
    expect(heldHooks[1]?.data).toMatchObject({ customerId: 'listed-released', status: 'HELD' })
    await hooksOf(heldTwo.id, ['deposit.seen', 'deposit.held'])

    const release = await decide('releaseDeposit', heldOne.id, 'customer verified: a false match')
    expect(release.data.releaseDeposit).toEqual({
      __typename: 'Deposit',
      id: heldOne.id,
      status: 'CONFIRMED',
      credited: '0.5',
      screening: 'released',
    })
    const reject = await decide('rejectDeposit', heldTwo.id, 'sanctioned sender')
    expect(reject.data.rejectDeposit).toEqual({
      __typename: 'Deposit',
      id: heldTwo.id,
      status: 'REJECTED',
      credited: '0',
      screening: 'rejected',
    })
    // a decision is made once
    const again = await decide('releaseDeposit', heldTwo.id, 'changed my mind')
    expect(again.data.releaseDeposit).toMatchObject({ __typename: 'UserError', code: 'INVALID_STATE' })

    expect(gained(await balances(), before, 'home:ETH')).toBe(parseEther('0.5'))
    expect(await creditPostings(heldOne.id)).toEqual([parseEther('0.5')])
    expect(await creditPostings(heldTwo.id)).toEqual([])
    await hooksOf(heldOne.id, ['deposit.seen', 'deposit.held', 'deposit.confirmed'])
    const rejectedHooks = await hooksOf(heldTwo.id, ['deposit.seen', 'deposit.held', 'deposit.rejected'])
    expect(rejectedHooks[2]?.data).toMatchObject({ status: 'REJECTED', credited: '0', screening: 'rejected' })

    const [sweep] = await sweptAll('home', released.address, 1)
    expect(BigInt(sweep!.amount!) + BigInt(sweep!.fee!)).toBe(parseEther('0.5'))
    expect(await home.client.getBalance({ address: released.address as Hex })).toBe(0n)
    // the rejected deposit stays where it arrived, for the operator: no sweep was ever opened for it
    await settled('home')
    expect(await sweepsFrom('home', rejected.address)).toEqual([])
    expect(await home.client.getBalance({ address: rejected.address as Hex })).toBe(parseEther('0.4'))
    expect((await customer('listed-rejected')).balance).toEqual([
      {
        chain: 'home',
        asset: { symbol: 'ETH' },
        credited: '0',
        pending: '0',
        uncredited: '0.4',
        deposits: 1,
      },
    ])
    await expectBooksExact('home')
  }, 60_000)

  test('behavior: CROSS mode: a new customer’s address lists both EVM chains and what it receives on the second chain is credited to that customer there; a COMMON address receives on its own chain only', async () => {
    const { side } = scene.devnets
    // COMMON: alice's address is given on home alone; what reaches it on side is a wrong-network deposit, held
    const common = await depositAddress('alice', 'home')
    expect(common).toMatchObject({ mode: 'COMMON', networks: ['home'] })
    const stray = await side.payNative(common.address, parseEther('0.01'))

    const set = await setDepositSettings({ addressMode: 'CROSS' })
    expect(set).toMatchObject({ __typename: 'DepositSettings', addressMode: 'CROSS' })
    expect((await gql('{ depositSettings { addressMode } }')).data.depositSettings.addressMode).toBe('CROSS')
    const cross = await depositAddress('bob', 'home')
    expect(cross).toMatchObject({
      customerId: 'bob',
      chain: 'home',
      mode: 'CROSS',
      asset: null,
      networks: ['home', 'side'],
    })
    const onSide = await depositAddress('bob', 'side')
    expect(onSide).toMatchObject({
      chain: 'side',
      mode: 'CROSS',
      address: cross.address,
      networks: ['home', 'side'],
    })
    // existing customers keep the mode they were created with
    expect(await depositAddress('alice', 'home')).toEqual(common)

    const before = await balances()
    const { paid, deposit: confirmed } = await paidAndConfirmed('side', 'bob', (devnet) =>
      devnet.payNative(cross.address, parseEther('0.7')),
    )
    expect(confirmed).toMatchObject({
      customerId: 'bob',
      chain: 'side',
      asset: { symbol: 'ETH' },
      amount: '0.7',
      credited: '0.7',
      address: cross.address,
    })
    const after = await balances()
    expect(gained(after, before, 'side:ETH')).toBe(parseEther('0.7'))
    expect(gained(after, before, 'home:ETH')).toBe(0n)
    const bob = await customer('bob')
    expect(bob.addressMode).toBe('CROSS')
    expect(bob.addresses.map((a: { chain: string; address: string }) => [a.chain, a.address]).sort()).toEqual(
      [
        ['home', cross.address],
        ['side', cross.address],
      ],
    )
    expect(bob.balance).toEqual([
      {
        chain: 'side',
        asset: { symbol: 'ETH' },
        credited: '0.7',
        pending: '0',
        uncredited: '0',
        deposits: 1,
      },
    ])
    const [, done] = await hooksOf(confirmed.id, ['deposit.seen', 'deposit.confirmed'])
    expect(done?.data).toMatchObject({ customerId: 'bob', chain: 'side', credited: '0.7' })

    // the stray transfer was mined before bob's deposit, so side was scanned past it: alice has it there, held for
    // the merchant's decision, never credited on its own
    expect(stray.blockNumber).toBeLessThan(paid.blockNumber)
    const alices = await depositsOf('alice')
    expect(alices.map((d) => d.chain).sort()).toEqual(['home', 'home', 'side'])
    expect(alices.find((d) => d.chain === 'side')).toMatchObject({
      wrongNetwork: true,
      status: 'HELD',
      amount: '0.01',
      credited: '0',
      address: common.address,
    })

    const [sweep] = await sweptAll('side', cross.address, 1)
    expect(await side.client.getBalance({ address: treasury as Hex })).toBe(BigInt(sweep!.amount!))
    await expectBooksExact('side')
  }, 60_000)

  test('behavior: the customer stream carried only alice’s deposits; both chains reconcile exactly at the end', async () => {
    const streams = alice as Streams
    for (const stream of [streams.ws, streams.sse]) {
      expect(stream.errorCodes()).toEqual([])
      const seen = stream.data().map((d) => d.depositsUpdated)
      expect(new Set(seen.map((d) => d.customerId))).toEqual(new Set(['alice']))
      // her two deposits on home and the wrong-network one on side
      expect(new Set(seen.map((d) => d.id)).size).toBe(3)
    }
    await expectBooksExact('home')
    await expectBooksExact('side')
  }, 60_000)
})
