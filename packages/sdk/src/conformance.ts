/**
 * The chain-driver conformance suite: `bun:test` blocks that check a plugin against the driver contract of
 * `types.ts` on a real (or stand-in) node. Every built-in driver runs it; a plugin author runs it against their
 * own driver from one test file:
 *
 * ```ts
 * import { runDriverConformance } from '@tollgate/sdk/conformance'
 * runDriverConformance(definition, harness)
 * ```
 *
 * It is a separate entry from `@tollgate/sdk` because it imports `bun:test`, which the gateway never loads.
 */
import { afterAll, beforeAll, describe, test } from 'bun:test'
import { capabilityGaps } from './capabilities.ts'
import { isDriverError } from './errors.ts'
import {
  type AssetId,
  type AssetInfo,
  type BlockRef,
  type BuildRequest,
  type ChainDriver,
  type ChainDriverDefinition,
  type Coin,
  type DerivedAddress,
  type DigestSigner,
  type DriverLogger,
  type PayoutDriver,
  type ScanResult,
  SDK_API_VERSION,
  type Transfer,
  type TxStatus,
  type UnsignedTx,
} from './types.ts'

/**
 * The gateway's signer as the suite needs it: digests by path (payouts) and account xpubs (derivation).
 *
 * @example
 * import { createTestSigner } from '@tollgate/sdk/testing'
 * const signer: ConformanceSigner = createTestSigner() // an HD wallet over a public test mnemonic
 */
export type ConformanceSigner = DigestSigner & {
  /** The extended public key of a hardened account path (the suite asks for the driver's `accountPath`). */
  xpub(accountPath: string): string
}

/**
 * What the payout checks need beyond the driver (`payouts: false` instead on a watch-only driver).
 *
 * @example
 * // an account chain (nonce from confirmedNonce): nothing to add
 * const accountChain: PayoutHarness = {}
 * // a UTXO chain whose addressKey is the scriptPubKey: each reported transfer is a coin
 * const utxoChain: PayoutHarness = {
 *   coins: (owner, received) =>
 *     received.map((t) => ({ txid: t.txHash, vout: t.index, amount: t.amount, script: t.to, path: owner.path })),
 * }
 */
export type PayoutHarness = {
  /**
   * UTXO chains: the `Coin`s that `received` (the transfers `scan` reported into `owner`) make. When given, the
   * suite builds with `inputs` and a `change` address; when not, it builds with a `nonce` from `confirmedNonce`
   * (if the driver has it) or neither.
   */
  coins?(owner: DerivedAddress, received: readonly Transfer[]): Coin[] | Promise<Coin[]>
  /** Native base units funded to the sender (default 2 whole units): the payout plus every fee it can cost. */
  fund?: bigint
  /** Native base units the payout sends (default half a unit plus one base unit). */
  amount?: bigint
}

/**
 * What only the plugin author can give the suite: a node to talk to, ways to make value arrive and blocks
 * appear, and address samples.
 *
 * Fields are read after `setup()` resolved, so the ones that depend on the node (options carrying its URL,
 * `fund`) can be getters or close over variables that `setup` assigns. Which optional checks exist is decided
 * when the suite registers its tests, by whether the keys `token`, `sameAddress`, `unreachableOptions` and
 * `wrongNetworkOptions` are present, and by `payouts` being an object (a plain value, not a getter).
 *
 * @example
 * let node: Devnet
 * const harness: ConformanceHarness = {
 *   setup: async () => { node = await startDevnet() },
 *   teardown: () => node.stop(),
 *   get options() { return { rpcUrl: node.url } },
 *   invalidOptions: [{}, { rpcUrl: 'ftp://x' }],
 *   signer,
 *   validAddresses: [someAddress],
 *   invalidAddresses: ['bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'],
 *   fund: (address, asset, amount) => node.pay(address, asset, amount), // resolves to the tx hash once mined
 *   mine: (n) => node.mine(n),
 *   payouts: {},
 * }
 */
export type ConformanceHarness = {
  /** Starts the node (and whatever `fund` needs); runs in `beforeAll`. */
  setup?(): Promise<void> | void
  /** Stops what `setup` started; runs in `afterAll`, also after a failed setup. */
  teardown?(): Promise<void> | void
  /** Options the plugin's schema accepts (its input form); the driver under test is created from them. */
  options: unknown
  /** Option objects the plugin's schema must refuse (each with at least one issue). */
  invalidOptions: readonly unknown[]
  /** Options naming a node that is down (e.g. a closed local port, a short timeout): `getTip` must fail. */
  unreachableOptions?: unknown
  /**
   * Options naming the same node as `options` but configuring another network (another chain id, genesis):
   * a driver with `checkNetwork` must answer `{ ok: false, expected, actual }` with them.
   */
  wrongNetworkOptions?: unknown
  /** Derives the account xpub at the driver's `accountPath` and signs payouts. */
  signer: ConformanceSigner
  /** Addresses the driver must accept (several types where the chain has them). */
  validAddresses: readonly string[]
  /** Addresses the driver must refuse, including other chains' and other networks' addresses. */
  invalidAddresses: readonly string[]
  /** Groups of spellings of one address (e.g. lower- and upper-case hex): each validates to one `addressKey`. */
  sameAddress?: ReadonlyArray<readonly string[]>
  /**
   * Makes `amount` base units of `asset` arrive at `address` in one transaction and returns once it is mined
   * (in the chain's tip), with its hash as `scan` reports `txHash` (a string; anything else: unknown).
   */
  fund(address: string, asset: AssetInfo, amount: bigint): Promise<unknown>
  /** Produces `blocks` new blocks and returns once they are the tip. */
  mine(blocks: number): Promise<void>
  /**
   * The address `fund` pays from, for every asset (a devnet's funded account, a faucet). When given, each deposit
   * `fund` makes must list it (as `validateAddress` normalizes it) in the transfer's `senders`; without it the
   * suite checks senders by membership only where it paid itself (the payout checks).
   */
  payer?: string
  /** Id of a token in `driver.assets` that `fund` can pay: token deposits are checked too. */
  token?: AssetId
  /** Base units `fund` sends in the deposit checks (default one whole unit plus 12 345 base units). */
  amount?(asset: AssetInfo): bigint
  /** `false` for a watch-only driver; otherwise the payout checks run (the driver must then have `payouts`). */
  payouts: false | PayoutHarness
  /** First derivation index the suite uses (default 0); it uses indexes up to `firstIndex + 30`. */
  firstIndex?: number
  /** The chain name handed to `create` (default: the plugin's name). */
  chain?: string
  log?: DriverLogger
  /** Per-test timeout in ms (default 30 000). */
  timeoutMs?: number
}

/**
 * A broken expectation of the driver contract: what each failing conformance test throws.
 *
 * @example
 * throw new ConformanceError('transfer amount is "1000001n", fund sent 1000000n')
 */
export class ConformanceError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConformanceError'
  }
}

/** CAIP-2: `namespace:reference`. */
const caip2 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/
/** CAIP-19: `chain_id/asset_namespace:asset_reference`. */
const caip19 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\/[-a-z0-9]{3,8}:[-.%a-zA-Z0-9]{1,128}$/
/** `m` followed by one or more hardened indexes (`'` or `h`). */
const hardenedPath = /^m(\/[0-9]+['h])+$/
const uriScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/
const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} }

/** JSON for messages: bigints as `123n`. */
function show(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value)
  } catch {
    return String(value)
  }
}

function ensure(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(message)
}

const sameRef = (a: BlockRef, b: BlockRef) =>
  a.height === b.height && a.hash === b.hash && a.parentHash === b.parentHash && a.time === b.time

function checkBlockRef(ref: unknown, where: string): asserts ref is BlockRef {
  const r = ref as BlockRef
  ensure(r && typeof r === 'object', `${where}: expected a BlockRef, got ${show(ref)}`)
  ensure(
    typeof r.height === 'bigint' && r.height >= 0n,
    `${where}: height must be a bigint >= 0n, got ${show(r)}`,
  )
  ensure(typeof r.hash === 'string' && r.hash.length > 0, `${where}: hash must be a non-empty string`)
  ensure(typeof r.parentHash === 'string', `${where}: parentHash must be a string, got ${show(r.parentHash)}`)
  ensure(r.hash !== r.parentHash, `${where}: hash equals parentHash (${r.hash})`)
  // the core reads `time` as Unix seconds (it multiplies by 1000): milliseconds would lie far in the future
  const latest = Math.floor(Date.now() / 1000) + 86_400
  ensure(
    Number.isInteger(r.time) && r.time > 0 && r.time <= latest,
    `${where}: time must be Unix seconds (integer, > 0, not past tomorrow), got ${show(r.time)}`,
  )
}

/** The DriverError `promise` rejects with; fails when it resolves or rejects with something else. */
async function driverErrorOf(promise: Promise<unknown>, what: string) {
  let outcome: { value: unknown } | { error: unknown }
  try {
    outcome = { value: await promise }
  } catch (error) {
    outcome = { error }
  }
  ensure(
    'error' in outcome,
    `${what}: expected a rejection with a DriverError, it resolved to ${show(outcome)}`,
  )
  const err = outcome.error
  ensure(
    isDriverError(err),
    `${what}: expected a DriverError (name 'DriverError', boolean retryable), got ${err instanceof Error ? `${err.name}: ${err.message}` : show(err)}`,
  )
  ensure(typeof err.code === 'string' && err.code.length > 0, `${what}: DriverError without a code`)
  ensure(typeof err.retryable === 'boolean', `${what}: DriverError.retryable must be a boolean`)
  return err
}

/**
 * Checks a transfer's `senders`: present, an array of addresses `validateAddress` accepts, each in its normalized
 * form (what screening lists are matched against), none twice. Empty is allowed: the chain cannot always tell
 * (a coinbase, a script without an address).
 */
function checkSenders(t: Transfer, validateAddress: ChainDriver['validateAddress'], where: string) {
  const id = `${t.txHash}:${t.index}`
  ensure(
    Array.isArray(t.senders),
    `${where}: transfer ${id} has no senders (the addresses that paid it, for KYT screening): ${show(t.senders)}`,
  )
  const seen = new Set<string>()
  for (const sender of t.senders) {
    ensure(
      typeof sender === 'string',
      `${where}: transfer ${id}: a sender must be a string, got ${show(sender)}`,
    )
    const v = validateAddress(sender)
    ensure(v.ok, `${where}: transfer ${id}: validateAddress refuses its sender ${sender}: ${show(v)}`)
    ensure(
      v.normalized === sender,
      `${where}: transfer ${id}: sender ${sender} is not in validateAddress's normalized form ${v.normalized}`,
    )
    ensure(!seen.has(sender), `${where}: transfer ${id} lists sender ${sender} twice`)
    seen.add(sender)
  }
}

/** Checks the shape and consistency of a scan answer for `from..to` (senders with `validateAddress`), returns it. */
function checkScanResult(
  result: ScanResult,
  from: bigint,
  to: bigint,
  where: string,
  validateAddress: ChainDriver['validateAddress'],
): ScanResult {
  ensure(
    result && Array.isArray(result.blocks) && Array.isArray(result.transfers),
    `${where}: expected { transfers: [], blocks: [] }, got ${show(result)}`,
  )
  const expected = Number(to - from + 1n)
  ensure(
    result.blocks.length === expected,
    `${where}: ${from}..${to} must give exactly ${expected} block refs, got ${result.blocks.length} (${show(result.blocks.map((b) => b.height))})`,
  )
  result.blocks.forEach((b, i) => {
    checkBlockRef(b, `${where}: blocks[${i}]`)
    ensure(
      b.height === from + BigInt(i),
      `${where}: blocks must be one per height in order; blocks[${i}].height is ${b.height}, expected ${from + BigInt(i)}`,
    )
    const prev = result.blocks[i - 1]
    if (prev)
      ensure(
        b.parentHash === prev.hash,
        `${where}: block ${b.height}'s parentHash ${b.parentHash} is not block ${prev.height}'s hash ${prev.hash}`,
      )
  })
  const seen = new Set<string>()
  for (const t of result.transfers) {
    const id = `${t.txHash}:${t.index}`
    ensure(
      typeof t.txHash === 'string' && t.txHash.length > 0,
      `${where}: transfer without txHash: ${show(t)}`,
    )
    ensure(Number.isInteger(t.index), `${where}: transfer index must be an integer: ${show(t)}`)
    ensure(!seen.has(id), `${where}: (txHash, index) ${id} reported twice`)
    seen.add(id)
    ensure(
      typeof t.amount === 'bigint' && t.amount > 0n,
      `${where}: amount must be a bigint > 0n: ${show(t)}`,
    )
    ensure(t.from === undefined || typeof t.from === 'string', `${where}: from must be a string: ${show(t)}`)
    checkSenders(t, validateAddress, where)
    const block = result.blocks.find((b) => b.height === t.block?.height)
    ensure(
      block && sameRef(block, t.block),
      `${where}: transfer ${id}'s block ${show(t.block)} is not the range's block at that height`,
    )
  }
  return result
}

const jsonRoundTrip = (payload: Record<string, unknown>): Record<string, unknown> =>
  JSON.parse(JSON.stringify(payload))

/**
 * Registers the conformance tests of a chain-driver plugin with `bun:test`: call it at the top level of a test
 * file. One `describe` per area (definition, driver shape, addresses, blocks, scan, payouts), each check a named
 * test that fails with a `ConformanceError` naming what the driver did wrong.
 *
 * @example
 * // my-chain.conformance.test.ts
 * import { runDriverConformance } from '@tollgate/sdk/conformance'
 * import definition from './index.ts'
 *
 * let node: MyNode
 * runDriverConformance(definition, {
 *   setup: async () => { node = await startMyNode() },
 *   teardown: () => node.stop(),
 *   get options() { return { rpcUrl: node.url } },
 *   invalidOptions: [{}, { rpcUrl: 'not a url' }],
 *   signer: createTestSigner(), // from '@tollgate/sdk/testing'
 *   validAddresses: ['my1qxy…'],
 *   invalidAddresses: ['0x52908400098527886E0F7030069857D2E4169EE7', 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'],
 *   fund: async (address, asset, amount) => node.pay(address, amount),
 *   mine: async (n) => { await node.mine(n) },
 *   payouts: false,
 * })
 */
export function runDriverConformance<Options>(
  definition: ChainDriverDefinition<Options>,
  harness: ConformanceHarness,
): void {
  const name = typeof definition?.name === 'string' && definition.name ? definition.name : '(unnamed plugin)'
  const timeout = harness.timeoutMs ?? 30_000
  const base = harness.firstIndex ?? 0
  const check = (title: string, fn: () => unknown) => test(title, fn as () => Promise<void>, timeout)
  let driver: ChainDriver | undefined
  let created: unknown
  let xpub = ''

  const ctx = () => ({ chain: harness.chain ?? name, log: harness.log ?? silent })
  const validate = async (input: unknown) => definition.options['~standard'].validate(input)
  const live = (): ChainDriver => {
    ensure(driver, `no driver: create(options) failed in setup (${show(created)})`)
    return driver
  }
  const derive = (index: number) => live().deriveAddress({ xpub, index: base + index })
  const keyOf = (address: string) => {
    const d = live()
    const v = d.validateAddress(address)
    ensure(v.ok, `validateAddress(${address}) refused an address the suite must key: ${show(v)}`)
    return d.addressKey(v.normalized)
  }
  /** `checkScanResult` with the live driver's `validateAddress` for the senders. */
  const checkScan = (result: ScanResult, from: bigint, to: bigint, where: string) =>
    checkScanResult(result, from, to, where, (address) => live().validateAddress(address))
  /** The normalized form of an address the suite knows (a payer), as senders must spell it. */
  const normalized = (address: string) => {
    const v = live().validateAddress(address)
    ensure(v.ok, `validateAddress(${address}) refused an address the suite paid from: ${show(v)}`)
    return v.normalized
  }
  /** Fails unless transfer `t` lists `payer` among its senders. */
  const ensurePaidBy = (t: Transfer, payer: string, what: string) => {
    const want = normalized(payer)
    ensure(
      t.senders?.includes(want),
      `${what}: transfer ${t.txHash}:${t.index}'s senders ${show(t.senders)} do not list the payer ${want}`,
    )
  }
  const amountFor = (asset: AssetInfo) => harness.amount?.(asset) ?? 10n ** BigInt(asset.decimals) + 12_345n
  const assetById = (id: AssetId) => {
    const asset = live().assets.find((a) => a.id === id)
    ensure(
      asset,
      `the harness's token ${id} is not in driver.assets (${show(live().assets.map((a) => a.id))})`,
    )
    return asset
  }

  /** Funds `address` and scans the blocks the funding added, watching that address. */
  async function fundAndScan(address: string, asset: AssetInfo, amount: bigint) {
    const d = live()
    const before = (await d.getTip()).height
    const txHash = await harness.fund(address, asset, amount)
    const after = (await d.getTip()).height
    ensure(
      after > before,
      `fund(${address}) returned, but the tip stayed at ${before}: fund must return once mined`,
    )
    const from = before + 1n
    const request = { from, to: after, watch: new Set([keyOf(address)]) }
    const result = checkScan(await d.scan(request), from, after, `scan(${from}..${after})`)
    return { txHash: typeof txHash === 'string' && txHash ? txHash : undefined, from, to: after, result }
  }

  describe(`${name}: driver conformance (plugin API ${SDK_API_VERSION})`, () => {
    beforeAll(async () => {
      await harness.setup?.()
      const checked = await validate(harness.options)
      if (checked.issues) {
        created = { optionsRefused: checked.issues }
        return
      }
      try {
        driver = await definition.create(checked.value, ctx())
        created = driver
      } catch (err) {
        created = { createThrew: err instanceof Error ? err.message : String(err) }
        return
      }
      // a signer that cannot derive the driver's account path fails every test that derives, with this reason
      try {
        xpub = harness.signer.xpub(driver.accountPath)
      } catch (err) {
        created = { signerXpubThrew: err instanceof Error ? err.message : String(err) }
        driver = undefined
      }
    }, 120_000)
    afterAll(async () => {
      try {
        await driver?.close?.()
      } finally {
        await harness.teardown?.()
      }
    }, 60_000)

    describe('definition', () => {
      check('apiVersion equals SDK_API_VERSION', () => {
        ensure(
          definition.apiVersion === SDK_API_VERSION,
          `apiVersion is ${show(definition.apiVersion)}, this SDK speaks ${SDK_API_VERSION}`,
        )
      })

      check('name is a non-empty string', () => {
        ensure(
          typeof definition.name === 'string' && definition.name.trim().length > 0,
          `name must be a non-empty string, got ${show(definition.name)}`,
        )
      })

      check('options is a Standard Schema (version 1) that accepts the harness options', async () => {
        const std = definition.options?.['~standard']
        ensure(std && std.version === 1, `options['~standard'].version must be 1, got ${show(std?.version)}`)
        ensure(
          typeof std.vendor === 'string' && std.vendor.length > 0,
          'options["~standard"].vendor is missing',
        )
        ensure(typeof std.validate === 'function', 'options["~standard"].validate is not a function')
        const result = await validate(harness.options)
        ensure(!result.issues, `the harness options were refused: ${show(result.issues)}`)
        ensure('value' in result, 'a successful validation must carry `value`')
      })

      check('options: every invalid options object is refused with issues that have messages', async () => {
        ensure(harness.invalidOptions.length > 0, 'the harness must give at least one invalid options object')
        for (const [i, input] of harness.invalidOptions.entries()) {
          const result = await validate(input)
          ensure(
            result.issues && result.issues.length > 0,
            `invalidOptions[${i}] ${show(input)} was accepted (as ${show((result as { value?: unknown }).value)})`,
          )
          for (const issue of result.issues)
            ensure(
              typeof issue.message === 'string' && issue.message.length > 0,
              `invalidOptions[${i}]: an issue without a message: ${show(issue)}`,
            )
        }
      })

      check('create returns a driver object', () => {
        ensure(driver && typeof driver === 'object', `create did not give a driver: ${show(created)}`)
        for (const method of [
          'deriveAddress',
          'validateAddress',
          'paymentUri',
          'addressKey',
          'getTip',
          'getBlockRef',
          'scan',
        ] as const)
          ensure(typeof driver[method] === 'function', `driver.${method} must be a function`)
      })
    })

    describe('driver shape', () => {
      check('chainId is CAIP-2 (namespace:reference)', () => {
        const { chainId } = live()
        ensure(typeof chainId === 'string' && caip2.test(chainId), `chainId ${show(chainId)} is not CAIP-2`)
      })

      check('nativeAsset is in assets, the only one with native: true', () => {
        const d = live()
        ensure(d.nativeAsset?.native === true, `nativeAsset.native must be true: ${show(d.nativeAsset)}`)
        ensure(Array.isArray(d.assets) && d.assets.length > 0, 'assets must be a non-empty array')
        const listed = d.assets.find((a) => a.id === d.nativeAsset.id)
        ensure(listed, `nativeAsset ${d.nativeAsset.id} is not in assets ${show(d.assets.map((a) => a.id))}`)
        ensure(
          Bun.deepEquals(listed, d.nativeAsset),
          `assets' entry ${show(listed)} differs from nativeAsset ${show(d.nativeAsset)}`,
        )
        const natives = d.assets.filter((a) => a.native)
        ensure(
          natives.length === 1,
          `exactly one asset must be native, got ${show(natives.map((a) => a.id))}`,
        )
        ensure(
          d.nativeAsset.contract === undefined,
          `the native asset has a contract: ${d.nativeAsset.contract}`,
        )
      })

      check(
        'asset ids are CAIP-19 under chainId and unique; decimals, symbols and confirmations well-formed',
        () => {
          const d = live()
          const ids = new Set<string>()
          for (const a of d.assets) {
            ensure(typeof a.id === 'string' && caip19.test(a.id), `asset id ${show(a.id)} is not CAIP-19`)
            ensure(a.id.startsWith(`${d.chainId}/`), `asset id ${a.id} is not under chainId ${d.chainId}`)
            ensure(!ids.has(a.id), `asset id ${a.id} appears twice`)
            ids.add(a.id)
            ensure(
              Number.isInteger(a.decimals) && a.decimals >= 0 && a.decimals <= 255,
              `${a.id}: decimals must be an integer 0..255, got ${show(a.decimals)}`,
            )
            ensure(typeof a.symbol === 'string' && a.symbol.length > 0, `${a.id}: symbol must be non-empty`)
            ensure(typeof a.name === 'string' && a.name.length > 0, `${a.id}: name must be non-empty`)
            ensure(typeof a.native === 'boolean', `${a.id}: native must be a boolean`)
            ensure(
              a.confirmations === undefined || (Number.isInteger(a.confirmations) && a.confirmations >= 1),
              `${a.id}: a per-asset confirmations must be an integer >= 1, got ${show(a.confirmations)}`,
            )
          }
        },
      )

      check('confirmations >= 1 and finalityDepth >= confirmations (integers)', () => {
        const { confirmations, finalityDepth } = live()
        ensure(
          Number.isInteger(confirmations) && confirmations >= 1,
          `confirmations must be an integer >= 1, got ${show(confirmations)}`,
        )
        // plausibility, not safety: crediting at a depth beyond the deepest reorg the driver expects means one of
        // the two numbers is wrong
        ensure(
          Number.isInteger(finalityDepth) && finalityDepth >= confirmations,
          `finalityDepth must be an integer >= confirmations (${confirmations}), got ${show(finalityDepth)}`,
        )
      })

      check('maxOutputs is an integer >= 1', () => {
        const { maxOutputs } = live()
        ensure(
          Number.isInteger(maxOutputs) && maxOutputs >= 1,
          `maxOutputs must be >= 1, got ${show(maxOutputs)}`,
        )
      })

      check('capabilities come in working sets (see driverCapabilities)', () => {
        const gaps = capabilityGaps(live())
        ensure(gaps.length === 0, `capabilities missing their partners: ${gaps.join('; ')}`)
      })

      check('accountPath is a hardened BIP32 path', () => {
        const { accountPath } = live()
        ensure(
          typeof accountPath === 'string' && hardenedPath.test(accountPath),
          `accountPath ${show(accountPath)} must be m/ followed by hardened indexes only (e.g. m/44'/60'/0')`,
        )
      })
    })

    describe('addresses', () => {
      check('deriveAddress is deterministic and names the path accountPath/0/index', () => {
        const d = live()
        for (const i of [0, 1, 2, 3, 4]) {
          const a = derive(i)
          const again = derive(i)
          ensure(
            a.address === again.address && a.path === again.path,
            `deriveAddress(index ${base + i}) gave ${show(a)}, then ${show(again)}`,
          )
          ensure(
            a.path === `${d.accountPath}/0/${base + i}`,
            `deriveAddress(index ${base + i}).path is ${show(a.path)}, expected ${d.accountPath}/0/${base + i}`,
          )
        }
      })

      check('derived addresses are distinct per index, valid, already normalized, with distinct keys', () => {
        const d = live()
        const derived = [0, 1, 2, 3, 4].map((i) => derive(i))
        const addresses = new Set(derived.map((a) => a.address))
        ensure(addresses.size === derived.length, `indexes 0..4 gave repeated addresses: ${show(derived)}`)
        const keys = new Set<string>()
        for (const a of derived) {
          const v = d.validateAddress(a.address)
          ensure(v.ok, `the derived address ${a.address} does not validate: ${show(v)}`)
          ensure(
            v.normalized === a.address,
            `derived ${a.address} is not in normalized form (${v.normalized})`,
          )
          const key = d.addressKey(v.normalized)
          ensure(typeof key === 'string' && key.length > 0, `addressKey(${a.address}) gave ${show(key)}`)
          ensure(d.addressKey(v.normalized) === key, `addressKey(${a.address}) is not stable`)
          keys.add(key)
        }
        ensure(keys.size === derived.length, 'two derived addresses share an addressKey')
      })

      check('every valid address validates; normalizing is idempotent and the key stable', () => {
        const d = live()
        ensure(harness.validAddresses.length > 0, 'the harness must give at least one valid address')
        for (const address of harness.validAddresses) {
          const v = d.validateAddress(address)
          ensure(v.ok, `validateAddress(${show(address)}) refused a valid address: ${show(v)}`)
          ensure(
            typeof v.normalized === 'string' && v.normalized.length > 0,
            `${address}: empty normalized form`,
          )
          const again = d.validateAddress(v.normalized)
          ensure(
            again.ok && again.normalized === v.normalized,
            `validateAddress(${v.normalized}) (the normalized form of ${address}) gave ${show(again)}`,
          )
          const key = d.addressKey(v.normalized)
          ensure(typeof key === 'string' && key.length > 0, `addressKey(${v.normalized}) gave ${show(key)}`)
          ensure(d.addressKey(v.normalized) === key, `addressKey(${v.normalized}) is not stable`)
        }
      })

      check('every invalid address (and the empty string) is refused with a reason', () => {
        const d = live()
        ensure(harness.invalidAddresses.length > 0, 'the harness must give at least one invalid address')
        for (const address of [...harness.invalidAddresses, '', 'not an address']) {
          let v: ReturnType<ChainDriver['validateAddress']>
          try {
            v = d.validateAddress(address)
          } catch (err) {
            throw new ConformanceError(
              `validateAddress(${show(address)}) threw instead of answering { ok: false, reason }: ${err}`,
            )
          }
          ensure(!v.ok, `validateAddress(${show(address)}) accepted an invalid address as ${show(v)}`)
          ensure(
            typeof v.reason === 'string' && v.reason.length > 0,
            `validateAddress(${show(address)}) refused without a reason`,
          )
        }
      })

      if ('sameAddress' in harness)
        check('spellings of one address validate to one normalized form and one key', () => {
          const d = live()
          const groups = harness.sameAddress ?? []
          ensure(groups.length > 0, 'sameAddress is present but empty')
          for (const group of groups) {
            ensure(group.length >= 2, `a sameAddress group needs two spellings: ${show(group)}`)
            const results = group.map((s) => ({ s, v: d.validateAddress(s) }))
            for (const { s, v } of results) ensure(v.ok, `validateAddress(${s}) refused: ${show(v)}`)
            const normalized = new Set(results.map(({ v }) => (v.ok ? v.normalized : '')))
            ensure(
              normalized.size === 1,
              `spellings of one address normalize differently: ${show([...normalized])}`,
            )
            const keys = new Set(results.map(({ v }) => (v.ok ? d.addressKey(v.normalized) : '')))
            ensure(keys.size === 1, `spellings of one address get different keys: ${show([...keys])}`)
          }
        })

      check('paymentUri is a URI with a scheme that contains the address, for every asset', () => {
        const d = live()
        const address = derive(0).address
        for (const asset of d.assets) {
          const amount = 10n ** BigInt(asset.decimals) + 1n
          const uri = d.paymentUri({ address, asset, amount })
          ensure(
            typeof uri === 'string' && uriScheme.test(uri),
            `paymentUri for ${asset.id} is not a URI: ${uri}`,
          )
          ensure(URL.canParse(uri), `paymentUri for ${asset.id} does not parse as a URL: ${uri}`)
          ensure(uri.includes(address), `paymentUri for ${asset.id} does not contain ${address}: ${uri}`)
        }
      })
    })

    describe('blocks', () => {
      check('getTip returns a well-formed BlockRef equal to getBlockRef(tip.height)', async () => {
        const d = live()
        const tip = await d.getTip()
        checkBlockRef(tip, 'getTip()')
        const same = await d.getBlockRef(tip.height)
        checkBlockRef(same, `getBlockRef(${tip.height})`)
        ensure(
          sameRef(tip, same),
          `getTip() gave ${show(tip)}, getBlockRef(${tip.height}) gave ${show(same)}`,
        )
      })

      check('after mine(3) the tip is 3 higher and getBlockRef links each block to its parent', async () => {
        const d = live()
        const before = await d.getTip()
        await harness.mine(3)
        const tip = await d.getTip()
        ensure(
          tip.height === before.height + 3n,
          `tip went from ${before.height} to ${tip.height} after mine(3)`,
        )
        const refs = await Promise.all([3n, 2n, 1n, 0n].map((back) => d.getBlockRef(tip.height - back)))
        for (const [i, r] of refs.entries()) checkBlockRef(r, `getBlockRef(${tip.height - BigInt(3 - i)})`)
        ensure(
          sameRef(refs[0] as BlockRef, before),
          'the block that was the tip changed while mining on top of it',
        )
        for (let i = 1; i < refs.length; i++) {
          const [parent, child] = [refs[i - 1] as BlockRef, refs[i] as BlockRef]
          ensure(
            child.height === parent.height + 1n,
            `getBlockRef(${parent.height + 1n}) says ${child.height}`,
          )
          ensure(
            child.parentHash === parent.hash,
            `getBlockRef(${child.height}).parentHash ${child.parentHash} is not getBlockRef(${parent.height}).hash ${parent.hash}`,
          )
        }
        ensure(sameRef(refs[3] as BlockRef, tip), 'getBlockRef(tip.height) differs from getTip()')
      })

      check('getBlockRef past the tip rejects with a DriverError', async () => {
        const d = live()
        const tip = await d.getTip()
        await driverErrorOf(d.getBlockRef(tip.height + 1000n), `getBlockRef(${tip.height + 1000n})`)
      })

      if ('unreachableOptions' in harness)
        check('a node that is down makes getTip reject with a retryable DriverError', async () => {
          const checked = await validate(harness.unreachableOptions)
          ensure(!checked.issues, `unreachableOptions were refused: ${show(checked.issues)}`)
          const dead = await definition.create(checked.value, ctx())
          try {
            const err = await driverErrorOf(dead.getTip(), 'getTip() on an unreachable node')
            ensure(
              err.retryable,
              `a node that is down must be retryable, got code ${err.code} retryable false`,
            )
          } finally {
            await dead.close?.()
          }
        })
    })

    describe('network', () => {
      check('checkNetwork, when present, answers { ok: true } for the configured node', async () => {
        const d = live()
        if (!d.checkNetwork) return
        const verdict = await d.checkNetwork()
        ensure(
          verdict && typeof verdict === 'object' && verdict.ok === true,
          `checkNetwork() on the harness node gave ${show(verdict)}, expected { ok: true }`,
        )
      })

      if ('wrongNetworkOptions' in harness)
        check('checkNetwork names both networks when the node is on another one', async () => {
          const checked = await validate(harness.wrongNetworkOptions)
          ensure(!checked.issues, `wrongNetworkOptions were refused: ${show(checked.issues)}`)
          const other = await definition.create(checked.value, ctx())
          try {
            ensure(typeof other.checkNetwork === 'function', 'wrongNetworkOptions given but no checkNetwork')
            const verdict = await other.checkNetwork?.()
            ensure(
              verdict?.ok === false &&
                typeof verdict.expected === 'string' &&
                typeof verdict.actual === 'string' &&
                verdict.expected !== '' &&
                verdict.actual !== '' &&
                verdict.expected !== verdict.actual,
              `checkNetwork() with wrongNetworkOptions gave ${show(verdict)}, expected { ok: false, expected, actual } naming two networks`,
            )
          } finally {
            await other.close?.()
          }
        })

      if ('unreachableOptions' in harness)
        check('checkNetwork on a node that is down rejects with a retryable DriverError', async () => {
          const checked = await validate(harness.unreachableOptions)
          ensure(!checked.issues, `unreachableOptions were refused: ${show(checked.issues)}`)
          const dead = await definition.create(checked.value, ctx())
          try {
            if (!dead.checkNetwork) return
            const err = await driverErrorOf(dead.checkNetwork(), 'checkNetwork() on an unreachable node')
            ensure(err.retryable, `a node that is down must be retryable, got code ${err.code}`)
          } finally {
            await dead.close?.()
          }
        })

      check(
        'detectionModes, when present, names each mode, and never rejects for a node that is down',
        async () => {
          const named = async (d: ChainDriver, where: string) => {
            if (!d.detectionModes) return
            const modes = await d.detectionModes()
            ensure(
              modes !== null &&
                typeof modes === 'object' &&
                Object.values(modes).every((v) => typeof v === 'string' && v !== ''),
              `detectionModes() ${where} gave ${show(modes)}, expected mode names by aspect`,
            )
          }
          await named(live(), 'on the harness node')
          if (!('unreachableOptions' in harness)) return
          const checked = await validate(harness.unreachableOptions)
          ensure(!checked.issues, `unreachableOptions were refused: ${show(checked.issues)}`)
          const dead = await definition.create(checked.value, ctx())
          try {
            await named(dead, 'on an unreachable node')
          } finally {
            await dead.close?.()
          }
        },
      )
    })

    describe('scan', () => {
      check(
        'a range gives exactly one BlockRef per height, in order, linked, equal to getBlockRef',
        async () => {
          const d = live()
          await harness.mine(2)
          const tip = await d.getTip()
          const from = tip.height - 3n > 0n ? tip.height - 3n : 0n
          const result = checkScan(
            await d.scan({ from, to: tip.height, watch: new Set() }),
            from,
            tip.height,
            `scan(${from}..${tip.height})`,
          )
          ensure(
            result.transfers.length === 0,
            `an empty watch set gave transfers: ${show(result.transfers)}`,
          )
          for (const b of result.blocks) {
            const ref = await d.getBlockRef(b.height)
            ensure(
              sameRef(b, ref),
              `scan's block ${show(b)} differs from getBlockRef(${b.height}) ${show(ref)}`,
            )
          }
          const single = checkScan(
            await d.scan({ from: tip.height, to: tip.height, watch: new Set() }),
            tip.height,
            tip.height,
            `scan(${tip.height}..${tip.height})`,
          )
          ensure(
            sameRef(single.blocks[0] as BlockRef, tip),
            'a one-block scan of the tip differs from getTip()',
          )
        },
      )

      check('a native deposit into a derived address is reported exactly once, as fund sent it', async () => {
        const d = live()
        const to = derive(10)
        const asset = d.nativeAsset
        const amount = amountFor(asset)
        const { txHash, from, to: last, result } = await fundAndScan(to.address, asset, amount)
        const key = keyOf(to.address)
        ensure(
          result.transfers.length === 1,
          `expected exactly one transfer into ${to.address} in ${from}..${last}, got ${show(result.transfers)}`,
        )
        const t = result.transfers[0] as Transfer
        ensure(t.amount === amount, `transfer amount is ${show(t.amount)}, fund sent ${amount}n`)
        ensure(t.to === key, `transfer.to is ${show(t.to)}, expected addressKey ${show(key)}`)
        ensure(t.asset === asset.id, `transfer.asset is ${show(t.asset)}, expected ${asset.id}`)
        if (txHash)
          ensure(t.txHash === txHash, `transfer.txHash is ${t.txHash}, fund's transaction is ${txHash}`)
        if (harness.payer !== undefined)
          ensurePaidBy(t, harness.payer, 'a native deposit from the harness payer')

        const none = checkScan(await d.scan({ from, to: last, watch: new Set() }), from, last, 'scan')
        ensure(none.transfers.length === 0, `an empty watch set gave transfers: ${show(none.transfers)}`)
        const other = await d.scan({ from, to: last, watch: new Set([keyOf(derive(11).address)]) })
        checkScan(other, from, last, 'scan')
        ensure(
          other.transfers.length === 0,
          `watching another address gave the deposit anyway: ${show(other.transfers)}`,
        )
        for (const [i, b] of none.blocks.entries())
          ensure(
            sameRef(b, result.blocks[i] as BlockRef),
            'the same range scanned twice gave different blocks',
          )
      })

      if ('token' in harness)
        check('a token deposit is reported exactly once with the token asset id', async () => {
          ensure(harness.token, 'token is present but empty')
          const d = live()
          const asset = assetById(harness.token)
          ensure(!asset.native, `the harness's token ${asset.id} is the native asset`)
          const to = derive(12)
          const amount = amountFor(asset)
          const { txHash, from, to: last, result } = await fundAndScan(to.address, asset, amount)
          const key = keyOf(to.address)
          ensure(
            result.transfers.length === 1,
            `expected exactly one transfer into ${to.address} in ${from}..${last}, got ${show(result.transfers)}`,
          )
          const t = result.transfers[0] as Transfer
          ensure(t.asset === asset.id, `transfer.asset is ${show(t.asset)}, expected ${asset.id}`)
          ensure(t.amount === amount, `transfer amount is ${show(t.amount)}, fund sent ${amount}n`)
          ensure(t.to === key, `transfer.to is ${show(t.to)}, expected addressKey ${show(key)}`)
          if (txHash)
            ensure(t.txHash === txHash, `transfer.txHash is ${t.txHash}, fund's transaction is ${txHash}`)
          if (harness.payer !== undefined)
            ensurePaidBy(t, harness.payer, 'a token deposit from the harness payer')
          const none = checkScan(await d.scan({ from, to: last, watch: new Set() }), from, last, 'scan')
          ensure(none.transfers.length === 0, `an empty watch set gave transfers: ${show(none.transfers)}`)
        })

      check(
        'a deposit lists its senders: addresses validateAddress accepts, normalized, each once (the harness payer among them)',
        async () => {
          const d = live()
          const to = derive(13)
          const { result } = await fundAndScan(to.address, d.nativeAsset, amountFor(d.nativeAsset))
          const t = result.transfers[0]
          ensure(t && result.transfers.length === 1, `expected one deposit, got ${show(result.transfers)}`)
          checkSenders(t, (address) => d.validateAddress(address), 'the deposit')
          ensure(
            (t.senders?.length ?? 0) > 0,
            `a deposit paid by a transaction of the harness lists no sender: ${show(t)}`,
          )
          if (harness.payer !== undefined) ensurePaidBy(t, harness.payer, 'the deposit')
        },
      )

      // the contract is silent on from > to. It is the empty range: "the ref of every block of the range" is then
      // none, so an empty answer is right; refusing it as a caller's bug is too, but not as retryable (the core
      // would retry a bug forever). Blocks or transfers for it are wrong.
      check(
        'an inverted range (from > to) gives no blocks and no transfers, or a non-retryable DriverError',
        async () => {
          const d = live()
          const tip = await d.getTip()
          const watch = new Set([keyOf(derive(10).address)])
          let answer: ScanResult | undefined
          let error: unknown
          try {
            answer = await d.scan({ from: tip.height, to: tip.height - 1n, watch })
          } catch (err) {
            error = err
          }
          if (answer)
            ensure(
              Array.isArray(answer.blocks) &&
                answer.blocks.length === 0 &&
                Array.isArray(answer.transfers) &&
                answer.transfers.length === 0,
              `scan(${tip.height}..${tip.height - 1n}) must be empty, got ${show(answer)}`,
            )
          else {
            const err = await driverErrorOf(Promise.reject(error), `scan(${tip.height}..${tip.height - 1n})`)
            ensure(!err.retryable, `an inverted range never gets better: ${err.code} must not be retryable`)
          }
        },
      )

      // a scan the caller gave up on must not resolve as if it had run; it rejects with a DriverError, the only
      // error the core classifies (retryable or not is the driver's choice: the built-ins say ABORTED, retryable)
      check('an already-aborted signal makes scan reject with a DriverError', async () => {
        const d = live()
        const tip = await d.getTip()
        const controller = new AbortController()
        controller.abort()
        const from = tip.height > 2n ? tip.height - 2n : 0n
        await driverErrorOf(
          d.scan({
            from,
            to: tip.height,
            watch: new Set([keyOf(derive(10).address)]),
            signal: controller.signal,
          }),
          'scan with an aborted signal',
        )
      })

      check('a range reaching past the tip rejects with a DriverError (never a shorter answer)', async () => {
        const d = live()
        const tip = await d.getTip()
        await driverErrorOf(
          d.scan({ from: tip.height, to: tip.height + 5n, watch: new Set() }),
          `scan(${tip.height}..${tip.height + 5n}) with the tip at ${tip.height}`,
        )
      })
    })

    if (harness.payouts !== false) {
      const payoutHarness = harness.payouts
      describe('payouts', () => {
        const payoutsOf = (): PayoutDriver => {
          const p = live().payouts
          ensure(p, 'the harness enables payouts, but the driver has no `payouts`')
          for (const m of ['build', 'sign', 'broadcast', 'status', 'balance'] as const)
            ensure(typeof p[m] === 'function', `payouts.${m} must be a function`)
          return p
        }

        check('the driver has payouts with build, sign, broadcast, status and balance', () => {
          payoutsOf()
        })

        check(
          'checkDestination (destinationCheck), where present, accepts a fresh address of the chain with { ok: true }',
          async () => {
            const d = live()
            const payouts = payoutsOf()
            if (!payouts.checkDestination) return
            const sender = derive(30)
            const recipient = derive(31)
            for (const asset of d.assets) {
              const verdict = await payouts.checkDestination({
                from: sender.address,
                to: recipient.address,
                asset,
                amount: 1n,
              })
              ensure(
                verdict && verdict.ok === true,
                `checkDestination refused an ordinary ${asset.symbol} recipient ${recipient.address}: ${show(verdict)}`,
              )
            }
          },
        )

        check(
          'a native payout: build, sign, broadcast twice, mined with success and a fee, recipient paid (scan, balance)',
          async () => {
            const d = live()
            const payouts = payoutsOf()
            const asset = d.nativeAsset
            const unit = 10n ** BigInt(asset.decimals)
            const fundAmount = payoutHarness.fund ?? 2n * unit
            const amount = payoutHarness.amount ?? unit / 2n + 1n
            const sender = derive(20)
            const recipient = derive(21)
            const change = derive(22)
            const funded = await fundAndScan(sender.address, asset, fundAmount)
            ensure(
              funded.result.transfers.length === 1 && funded.result.transfers[0]?.amount === fundAmount,
              `funding the sender: expected one transfer of ${fundAmount}n, got ${show(funded.result.transfers)}`,
            )

            const request: BuildRequest = {
              from: sender,
              asset,
              outputs: [{ to: recipient.address, amount }],
            }
            if (payoutHarness.coins) {
              request.inputs = await payoutHarness.coins(sender, funded.result.transfers)
              ensure(request.inputs.length > 0, 'coins() gave no coins for the funded sender')
              request.change = change
            } else if (payouts.confirmedNonce) {
              const nonce = await payouts.confirmedNonce(sender.address)
              ensure(typeof nonce === 'bigint' && nonce >= 0n, `confirmedNonce gave ${show(nonce)}`)
              ensure(nonce === 0n, `a sender that never sent has confirmedNonce 0n, got ${nonce}n`)
              request.nonce = nonce
            }

            const unsigned: UnsignedTx = await payouts.build(request)
            ensure(
              unsigned && typeof unsigned.payload === 'object',
              `build gave no payload: ${show(unsigned)}`,
            )
            ensure(
              typeof unsigned.maxFee === 'bigint' && unsigned.maxFee > 0n,
              `maxFee must be a bigint > 0n`,
            )
            let stored: Record<string, unknown>
            try {
              stored = jsonRoundTrip(unsigned.payload)
            } catch (err) {
              throw new ConformanceError(`the payload is not JSON-safe (it is stored before signing): ${err}`)
            }
            ensure(
              Bun.deepEquals(stored, unsigned.payload),
              'the payload changes through JSON (bigints must be decimal strings, no Dates, no class instances)',
            )
            if (unsigned.amounts)
              ensure(
                unsigned.amounts.length === 1 && unsigned.amounts[0] === amount,
                `amounts must be [${amount}n] for one output of ${amount}n, got ${show(unsigned.amounts)}`,
              )

            // the core signs what it stored, possibly after a restart: the JSON form of the payload
            const signed = await payouts.sign(
              { ...unsigned, payload: stored },
              { path: sender.path },
              harness.signer,
            )
            ensure(
              typeof signed.raw === 'string' && signed.raw.length > 0 && typeof signed.hash === 'string',
              `sign gave ${show(signed)}`,
            )
            const again = await payouts.sign(
              { ...unsigned, payload: stored },
              { path: sender.path },
              harness.signer,
            )
            ensure(
              again.hash === signed.hash,
              `signing the same payload twice gave hashes ${signed.hash}, ${again.hash}`,
            )

            await payouts.broadcast(signed)
            try {
              await payouts.broadcast(signed)
            } catch (err) {
              throw new ConformanceError(
                `broadcasting the same bytes again must succeed (the node already has them): ${err instanceof Error ? `${err.name} ${(err as { code?: string }).code ?? ''}: ${err.message}` : show(err)}`,
              )
            }
            const sent: TxStatus = await payouts.status(signed.hash)
            ensure(
              sent.state === 'pending' || sent.state === 'mined',
              `status right after broadcast must be pending or mined, got ${show(sent)}`,
            )

            await harness.mine(1)
            const status = await payouts.status(signed.hash)
            ensure(status.state === 'mined', `status after mining is ${show(status)}, expected mined`)
            ensure(status.success === true, `the payout ran and failed: ${show(status)}`)
            ensure(
              typeof status.fee === 'bigint' && status.fee > 0n,
              `a mined payout's fee must be > 0n: ${show(status)}`,
            )
            ensure(
              status.fee <= unsigned.maxFee,
              `fee ${status.fee}n is above build's maxFee ${unsigned.maxFee}n`,
            )
            const tip = await d.getTip()
            ensure(
              typeof status.blockHeight === 'bigint' && status.blockHeight <= tip.height,
              `status.blockHeight ${show(status.blockHeight)} is not a mined height (tip ${tip.height})`,
            )

            const h = status.blockHeight
            const arrived = checkScan(
              await d.scan({ from: h, to: h, watch: new Set([keyOf(recipient.address)]) }),
              h,
              h,
              `scan(${h}..${h})`,
            )
            ensure(
              arrived.transfers.length === 1,
              `expected one transfer into the recipient in block ${h}, got ${show(arrived.transfers)}`,
            )
            const t = arrived.transfers[0] as Transfer
            ensure(
              t.txHash === signed.hash,
              `the recipient's transfer is ${t.txHash}, the payout is ${signed.hash}`,
            )
            ensure(
              t.amount === amount && t.asset === asset.id,
              `the recipient got ${show(t)}, expected ${amount}n`,
            )
            // the suite paid from `sender`: screening must see it
            ensurePaidBy(t, sender.address, 'the payout')

            // balance: the recipient holds at least the payout, or the driver cannot tell (a UTXO chain's balance
            // is the coins the core tracks) and says so with a non-retryable DriverError
            let held: bigint | undefined
            let refusal: unknown
            try {
              held = await payouts.balance(recipient.address, asset)
            } catch (err) {
              refusal = err
            }
            if (refusal === undefined)
              ensure(
                typeof held === 'bigint' && held >= amount,
                `balance(${recipient.address}) is ${show(held)} after it was paid ${amount}n`,
              )
            else {
              const err = await driverErrorOf(Promise.reject(refusal), `balance(${recipient.address})`)
              ensure(!err.retryable, `balance failed with a retryable ${err.code}: ${err.message}`)
            }
          },
        )
      })
    }
  })
}
