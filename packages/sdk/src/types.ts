/** The plugin API version this SDK speaks. A plugin built for another version is refused at boot. */
export const SDK_API_VERSION = 1

/** CAIP-19 style asset id, e.g. `eip155:1/slip44:60` or `eip155:1/erc20:0xa0b8…`. */
export type AssetId = string

/** One asset a chain driver can receive and send. */
export type AssetInfo = {
  id: AssetId
  symbol: string
  name: string
  /** Base units per whole unit = 10^decimals. */
  decimals: number
  /** True for the chain's own coin (pays fees). */
  native: boolean
  /** Token contract, normalized by the driver; absent for the native asset. */
  contract?: string
  /** Overrides the chain's confirmation depth for this asset. */
  confirmations?: number
}

/** A block as the core tracks it for reorg detection. */
export type BlockRef = { height: bigint; hash: string; parentHash: string; time: number }

/**
 * Value that arrived at a watched address. `(txHash, index)` identifies it on its chain: `index` is the log
 * index of a token transfer, the output index (vout) on UTXO chains, and -1 for an account chain's native
 * value transfer (which cannot collide with a log index of the same transaction). Indexes below -1 are native
 * value moved by contracts (internal transfers): EVM gives `-2 - k` for the k-th value-moving call frame of the
 * transaction (depth-first), and, where the node has no call traces, `txHash` = the block's hash with an index
 * derived from the recipient for an arrival found by comparing balances. Whatever the scheme, the same transfer
 * must get the same `(txHash, index)` on every scan of the same block.
 */
export type Transfer = {
  txHash: string
  index: number
  block: BlockRef
  asset: AssetId
  /** The recipient as `addressKey` gives it (the key the watch set holds). */
  to: string
  /** The address that sent it, as the chain shows it (the transaction's sender; a token transfer's `from`). */
  from?: string
  /**
   * Every address whose funds paid it, as `validateAddress` accepts them, each once: what KYT screening checks.
   * EVM: the transaction's sender and, for a token, the `Transfer` event's `from`; Tron: the owner address (and
   * the TRC-20 `from`); UTXO chains: the addresses of the spent outputs. Empty only when the chain cannot tell
   * (a coinbase, a script without an address). Drivers that leave it out are screened on `from` alone.
   */
  senders?: readonly string[]
  amount: bigint
}

/**
 * A transfer into a watched address that the node's mempool holds: broadcast, not in a block yet. Its
 * `(txHash, index)` is the one the block scan reports once it is mined.
 */
export type PendingTransfer = Omit<Transfer, 'block'> & {
  /** The outputs (`txid:vout`) its transaction spends: a transaction spending one of them too conflicts with it. */
  spends: readonly string[]
}

/**
 * What became of a transaction reported pending: still in the mempool; mined (the block scan reports it); replaced
 * by a conflicting transaction that pays the same watched address (an RBF fee bump: `by` is the replacement, which
 * is reported pending in its turn); double-spent by a conflicting transaction that does not (`by` when the node
 * shows it, else null: mined elsewhere); or dropped: gone from the mempool with its inputs unspent (evicted,
 * expired, or a node restart).
 */
export type MempoolFate =
  | { state: 'pending' }
  | { state: 'mined' }
  | { state: 'replaced'; by: string }
  | { state: 'double_spent'; by: string | null }
  | { state: 'dropped' }

/** A node's mempool as a driver reads it (UTXO chains; any chain whose node shows its mempool). */
export type MempoolReader = {
  /** Unconfirmed transfers into `watch` keys, as the node's mempool holds them now. */
  pending(watch: ReadonlySet<string>, signal?: AbortSignal): Promise<PendingTransfer[]>
  /** What became of transactions earlier reported pending, by txid (each asked once, with what it spent and paid). */
  fate(
    txs: readonly { txHash: string; spends: readonly string[]; to: readonly string[] }[],
    signal?: AbortSignal,
  ): Promise<Map<string, MempoolFate>>
}

/** What `ChainDriver.scan` is asked: a height range and the watch set to report transfers into. */
export type ScanRequest = {
  /** First and last height, inclusive. */
  from: bigint
  to: bigint
  /** `addressKey`s of the addresses to report transfers into. */
  watch: ReadonlySet<string>
  signal?: AbortSignal
}

/** Transfers into watched addresses, and the ref of every block of the range (for reorg detection). */
export type ScanResult = {
  transfers: Transfer[]
  blocks: BlockRef[]
  /**
   * What reading the range cost the node, where the driver counts it: JSON-RPC calls made (each call of a
   * batched request counts) and bytes of the answers. Calls made meanwhile for other work on the same
   * connection may be counted in.
   */
  cost?: { calls: number; bytes: number }
}

export type AddressValidation = { ok: true; normalized: string } | { ok: false; reason: string }

export type DerivedAddress = { address: string; path: string }

/** Minimal structured logger a driver may use (pino-compatible). */
export type DriverLogger = {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What the gateway hands a driver factory. Drivers never see the database, queues or seeds. */
export type DriverContext = {
  /** The chain's name in `plugins.config.ts`, e.g. `ethereum`. */
  chain: string
  log: DriverLogger
}

/**
 * A chain driver: a plain object made by a plugin's `create`. Watch-only parts (derivation, validation,
 * URIs) are pure; the rest talks to the chain's nodes.
 */
export type ChainDriver = {
  /** CAIP-2 chain id: `eip155:1`, `bip122:000000000019d6689c085ae165831e93`, `tron:0x2b6653dc`. */
  chainId: string
  nativeAsset: AssetInfo
  assets: readonly AssetInfo[]
  /** Depth at which a deposit counts as final for crediting. */
  confirmations: number
  /** Deepest reorg the chain is expected to have; a deeper one halts the scanner. */
  finalityDepth: number
  /** Outputs one transaction can pay (1 = no native batching). */
  maxOutputs: number
  /** Hardened BIP32 account path whose xpub the gateway derives deposit addresses from, e.g. `m/44'/60'/0'`. */
  accountPath: string
  /** Derives the receive address `accountPath/0/index` from the account xpub. Pure; no keys involved. */
  deriveAddress(a: { xpub: string; index: number }): DerivedAddress
  /** UTXO chains: the change address `…/1/index` of the account whose xpub is given (internal chain). */
  deriveChangeAddress?(a: { xpub: string; index: number }): DerivedAddress
  /** The only place addresses are normalized. */
  validateAddress(s: string): AddressValidation
  /** A wallet URI for paying `amount` base units of `asset` to `address` (EIP-681, BIP21, `tron:`…). */
  paymentUri(a: { address: string; asset: AssetInfo; amount: bigint }): string
  /**
   * The canonical key under which an address is compared (EVM: lowercase hex). The core builds watch sets
   * from `addressKey(normalizedAddress)`; `scan` reports `Transfer.to` as such a key.
   */
  addressKey(address: string): string
  getTip(signal?: AbortSignal): Promise<BlockRef>
  getBlockRef(height: bigint, signal?: AbortSignal): Promise<BlockRef>
  /** Every transfer into a watched address in blocks `from..to`; failed transactions never count. */
  scan(request: ScanRequest): Promise<ScanResult>
  /**
   * How the driver finds deposits, for operators (the `chains` query shows it): mode names by aspect. A mode
   * the driver decides by asking its node (which methods it has) is asked once and remembered, by scans or by
   * this call; a node that cannot be asked leaves it reading as its setting (e.g. `auto`): this never rejects
   * for a node's failure.
   *
   * @example
   * await driver.detectionModes?.() // { nativeDeposits: 'on', internalTransfers: 'traces:trace_block' }
   */
  detectionModes?(signal?: AbortSignal): Promise<Readonly<Record<string, string>>>
  /**
   * Whether the node is on the network the driver is configured for (EVM: `eth_chainId`; Bitcoin: the genesis
   * block hash; Tron: the genesis block id). The scanner asks before its first run, after a failed run and every
   * few minutes; a node on another network stops the chain's scanning and makes it not ready until it answers
   * `ok` again. A node that cannot be asked rejects with a retryable `DriverError` (the run fails as for any
   * call). `expected` and `actual` name the networks for the operator (e.g. `eip155:1`, `eip155:31337`).
   */
  checkNetwork?(signal?: AbortSignal): Promise<NetworkCheck>
  /**
   * A read-only contract call at the node's latest block (EVM `eth_call`): `data` is the ABI-encoded call, the
   * answer the ABI-encoded result, both `0x` hex. What on-chain KYT oracles are asked through; a node that cannot
   * be asked rejects with a retryable `DriverError`, a reverting call with a non-retryable one.
   */
  callContract?(call: { to: string; data: string }, signal?: AbortSignal): Promise<string>
  /**
   * The node's mempool, where the driver can read it: unconfirmed deposits are shown at once (never credited
   * before their confirmations, unless a zero-confirmation policy says so) and watched for replacement and
   * double spends.
   */
  mempool?: MempoolReader
  /** Optional push of new heads (WebSocket subscription or fast polling); returns an unsubscribe function. */
  watchHeads?(onHead: (height: bigint) => void): () => void
  /** Sending: present on drivers that can move funds (sweeps, withdrawals). */
  payouts?: PayoutDriver
  /** Wallets several owners control (cold storage): transfers out of them are drafted, signed by owners, executed. */
  multisig?: MultisigDriver
  close?(): Promise<void>
}

/** A driver's word on its node's network (see `ChainDriver.checkNetwork`). */
export type NetworkCheck = { ok: true } | { ok: false; expected: string; actual: string }

/** What a driver's signing step may use: digests signed by derivation path. The seed never reaches a driver. */
export type DigestSigner = {
  signDigest(path: string, digest: Uint8Array): { signature: Uint8Array; recovery: number }
  publicKey(path: string): Uint8Array
}

/** One payment inside an outbound transaction. */
export type PayoutOutput = { to: string; amount: bigint }

/** A coin the gateway controls on a UTXO chain, offered to `build` to spend. */
export type Coin = {
  txid: string
  vout: number
  amount: bigint
  /** The output's scriptPubKey, hex. */
  script: string
  /** Derivation path of the key that spends it. */
  path: string
}

/** A gateway address and the derivation path of its key. */
export type WalletAddress = { address: string; path: string }

/**
 * A transaction to build: `outputs.length <= maxOutputs`, all of one asset. Account chains send from `from`;
 * UTXO chains spend from `inputs` (choosing a subset unless `sweepAll`) and return change to `change`.
 */
export type BuildRequest = {
  from: WalletAddress
  asset: AssetInfo
  outputs: readonly PayoutOutput[]
  /** UTXO chains: the coins the core offers. */
  inputs?: readonly Coin[]
  /** UTXO chains: where change goes (a fresh internal address). */
  change?: WalletAddress
  /**
   * A sweep: send everything (`from`'s whole balance of the asset, or all `inputs`) to `outputs[0].to`;
   * for the native asset the fee comes out of it, and `outputs[0].amount` is ignored.
   */
  sweepAll?: boolean
  /** Account chains: the nonce the core allocated for this sender. */
  nonce?: bigint
  /** Fee multiplier in percent for a replacement (e.g. 125 = 25 % above the network's current price). */
  feeBumpPercent?: number
  /** The fee terms of the transaction being replaced; a replacement must outbid them. */
  replaces?: UnsignedTx
  /**
   * Account chains: send this contract call from `from` instead of paying `outputs` (a Safe's `execTransaction`);
   * `outputs` is then empty and `asset` the native one. Drivers without multisig wallets never get one.
   */
  call?: ContractCall
}

/** What a gas-tank funding (or its undoing) is built from; `replaces` + `feeBumpPercent` when it is stuck. */
export type FundingRequest = {
  from: WalletAddress
  to: string
  need: SweepNeed
  nonce?: bigint
  feeBumpPercent?: number
  replaces?: UnsignedTx
}

/**
 * A built, unsigned transaction. `payload` is the driver's own, JSON-safe (bigints as decimal strings), stored
 * before signing; `maxFee` is the most it can cost in the native asset's base units.
 */
export type UnsignedTx = {
  payload: Record<string, unknown>
  maxFee: bigint
  /** What the outputs pay, per output, as built (a sweep's amount is known only here). */
  amounts?: readonly bigint[]
  /** UTXO chains: the coins it spends (`txid:vout`), so the core can lock them. */
  spends?: readonly string[]
  /** UTXO chains: the change output it creates, if any. */
  change?: { vout: number; amount: bigint }
}

/** What an address must hold before a token can leave it, in the chain's own resources. */
export type SweepNeed = {
  /** Native base units the sender must hold to pay the fee (already including a safety margin). */
  native: bigint
  /**
   * Chain resources the funding may provide instead of native coin, under the driver's own names (Tron:
   * `energy` and `bandwidth`, which a delegation can provide). The core stores them and hands them back to
   * `buildFunding` / `buildDefunding`; it never reads them.
   */
  resources?: Readonly<Record<string, bigint>>
}

/** Signed bytes as the node takes them, and the hash the chain will know them by. */
export type SignedTx = { raw: string; hash: string }

export type TxStatus =
  | { state: 'unknown' }
  | { state: 'pending' }
  /** Included; `success: false` when it ran and failed (fee still paid). */
  | { state: 'mined'; success: boolean; blockHeight: bigint; fee: bigint }

/**
 * A driver's word on a withdrawal's destination. `BURN_ADDRESS`: nobody controls it (the zero address, a known
 * burn address); `DESTINATION_REJECTED`: the transfer would fail there (a contract that reverts it). `reason` is
 * shown to the merchant.
 */
export type DestinationCheck =
  | { ok: true }
  | { ok: false; code: 'BURN_ADDRESS' | 'DESTINATION_REJECTED'; reason: string }

/**
 * The sending half of a driver. Drivers build, sign and broadcast; the core persists every step between them
 * (build → persist → sign → persist raw bytes and hash → broadcast → track) and owns nonces.
 */
export type PayoutDriver = {
  /**
   * The driver spends coins the core tracks (UTXO chains): `build` spends from the `inputs` the core offers
   * and returns change to the fresh `change` address. The core then keeps the gateway's coin set, consolidates
   * deposits instead of sweeping each address, and reconciles coin by coin (`unspent`). Absent or false on
   * account chains (EVM, Tron), which send from address balances.
   */
  spendsCoins?: boolean
  build(request: BuildRequest, signal?: AbortSignal): Promise<UnsignedTx>
  sign(tx: UnsignedTx, from: { path: string }, signer: DigestSigner): Promise<SignedTx>
  /** Sends signed bytes; a node that already has them counts as success. */
  broadcast(tx: SignedTx, signal?: AbortSignal): Promise<void>
  status(hash: string, signal?: AbortSignal): Promise<TxStatus>
  /** Account chains: the next nonce the chain expects from `address` (mined transactions only). */
  confirmedNonce?(address: string, signal?: AbortSignal): Promise<bigint>
  /** Spendable balance of `address` in `asset`'s base units. */
  balance(address: string, asset: AssetInfo, signal?: AbortSignal): Promise<bigint>
  /**
   * UTXO chains: the node's word on coins (`txid:vout`): their value while unspent (mempool spends count as
   * spent), null once spent or unknown. Reconciliation checks the coins the core tracks with it.
   */
  unspent?(outpoints: readonly string[], signal?: AbortSignal): Promise<Map<string, bigint | null>>
  /** The smallest amount an output to `address` may carry (UTXO dust limits); requests below it are refused. */
  minOutput?(address: string, asset: AssetInfo): bigint
  /**
   * Whether a withdrawal of `amount` of `asset` to `to` (normalized) can arrive, asked when it is requested,
   * before anything is reserved; `from` is the address that will send it (the treasury). Refuse what is certain
   * to be lost or to fail — a burn address, a transfer the chain would revert — and nothing that depends on what
   * `from` holds right now. A node that cannot be asked is a retryable `DriverError` (the request is refused
   * and may be sent again). Without it, a destination is checked by `validateAddress` alone.
   */
  checkDestination?(
    a: { from: string; to: string; asset: AssetInfo; amount: bigint },
    signal?: AbortSignal,
  ): Promise<DestinationCheck>
  /**
   * Account chains with tokens: what `address` still needs before it can send `amount` of the token to `to`
   * (null when it already holds enough). The core then has the gas tank fund it with `buildFunding`.
   */
  sweepNeed?(a: { address: string; asset: AssetInfo; amount: bigint; to: string }): Promise<SweepNeed | null>
  /**
   * The gas tank's transaction that covers `need` at `to`: a native transfer (EVM, Tron), or a resource
   * delegation (Tron, when configured).
   */
  buildFunding?(a: FundingRequest): Promise<UnsignedTx>
  /** Takes back a funding that can be reclaimed (Tron: undelegate) after the sweep it paid for; null if none. */
  buildDefunding?(a: FundingRequest): Promise<UnsignedTx | null>
  /**
   * How to cut `outputs` (one asset, paid from `from`) into transactions: groups of indexes into `outputs`, each
   * group one transaction, every index in exactly one group, each group at most `maxOutputs` long. A driver that
   * can pay many outputs in one transaction at a price (EVM: a batch contract call) decides here which outputs
   * are cheaper together and which alone, and keeps an output whose transfer would revert out of the others'
   * transaction (it goes alone, and fails alone). Without it the core cuts them in order into `maxOutputs` chunks.
   *
   * @example
   * await payouts.planOutputs?.({ from: treasury, asset: usdt, outputs }) // [[0, 1, 3, 4], [2]]: 2 reverts
   */
  planOutputs?(
    a: { from: WalletAddress; asset: AssetInfo; outputs: readonly PayoutOutput[] },
    signal?: AbortSignal,
  ): Promise<number[][]>
  /**
   * What `from` must send once before the driver can batch (EVM: deploying the batch contract, approving it to
   * spend each token), as transactions with the nonces `nonce`, `nonce + 1`, …; empty when it is all in place.
   * The core persists them as ordinary outbound transactions (purpose `setup`) that the payout pass signs and
   * sends.
   *
   * @example
   * const txs = await payouts.batchSetup?.({ from: treasury, nonce: 7n }) // [{ what: 'deploy', asset, unsigned }]
   */
  batchSetup?(
    a: { from: WalletAddress; nonce?: bigint },
    signal?: AbortSignal,
  ): Promise<Array<{ what: string; asset: AssetInfo; unsigned: UnsignedTx }>>
}

/**
 * The part of the Standard Schema interface the SDK uses for option validation; zod, valibot and arktype
 * schemas all satisfy it.
 */
export type OptionsSchema<Output> = {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => OptionsValidation<Output> | Promise<OptionsValidation<Output>>
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined
  }
}

export type OptionsValidation<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined
      }>
    }

/** What a plugin module exports by default. */
export type ChainDriverDefinition<Options = unknown> = {
  apiVersion: number
  /** The plugin's name, for messages (`evm`, `bitcoin`, `@acme/tollgate-solana`). */
  name: string
  options: OptionsSchema<Options>
  create(options: Options, ctx: DriverContext): ChainDriver | Promise<ChainDriver>
}

/** A contract call a gateway wallet sends (a Safe's `execTransaction`): `data` hex, `value` in native base units. */
export type ContractCall = { to: string; data: string; value: bigint }

/** A wallet several owners control; `threshold` of them must sign a transfer out of it. */
export type MultisigWallet = {
  /** The wallet's address (a Safe's; on Bitcoin the P2WSH address derived from the owners' keys). */
  address: string
  threshold: number
  /** Who may sign, as the driver normalized them: owner addresses (EVM), account xpubs (Bitcoin). */
  owners: readonly string[]
}

/** A transfer out of a multisig wallet while owners sign it: the driver's own JSON payload and what they sign. */
export type MultisigDraft = {
  payload: Record<string, unknown>
  /** What an owner signs, to show them: an EIP-712 digest (EVM), an unsigned PSBT in base64 (Bitcoin). */
  toSign: string
  /** UTXO chains: the wallet's coins it spends (`txid:vout`), so the core can lock them. */
  spends?: readonly string[]
}

/** What a draft signed by enough owners becomes. */
export type MultisigExecution =
  /** Complete and signed by the owners (Bitcoin): the core broadcasts these bytes as they are. */
  | { signed: SignedTx }
  /** A call one of the gateway's own wallets must send (a Safe's `execTransaction`), built and sent like a payout. */
  | { call: ContractCall }

/**
 * Multisig wallets of a chain. The core keeps drafts and signatures in its database; the driver builds, checks
 * and completes them.
 *
 * @example
 * const draft = await driver.multisig.propose({ wallet, to: '0x…', asset, amount: 10n ** 18n })
 * const { payload, signers } = driver.multisig.addSignature({ wallet, payload: draft.payload, signature: '0x…' })
 */
export type MultisigDriver = {
  /**
   * Checks a configured wallet and completes it (Bitcoin derives the P2WSH address from the owners' xpubs; EVM
   * needs `address`). Throws an Error saying what is wrong with the settings.
   */
  wallet(settings: { address?: string; threshold: number; owners: readonly string[] }): MultisigWallet
  /**
   * A transfer of `amount` of `asset` from the wallet to `to`, unsigned. UTXO chains spend `inputs` (the wallet's
   * coins the core tracks) and return change to the wallet; account chains read what they need (a Safe's nonce).
   */
  propose(
    a: { wallet: MultisigWallet; to: string; asset: AssetInfo; amount: bigint; inputs?: readonly Coin[] },
    signal?: AbortSignal,
  ): Promise<MultisigDraft>
  /**
   * Adds one owner's signature: a 65-byte hex signature over the draft's digest (EVM), or a PSBT of the draft with
   * an owner's partial signatures (Bitcoin). Anything else, a signature of someone not an owner, or one over another
   * draft, is refused with a non-retryable `DriverError` of code `INVALID_SIGNATURE`. Returns the draft with it and
   * every owner who has signed so far.
   */
  addSignature(a: { wallet: MultisigWallet; payload: Record<string, unknown>; signature: string }): {
    payload: Record<string, unknown>
    signers: string[]
  }
  /** Completes a draft `threshold` owners signed (the core asks only then). */
  finalize(
    a: { wallet: MultisigWallet; payload: Record<string, unknown> },
    signal?: AbortSignal,
  ): Promise<MultisigExecution>
}
