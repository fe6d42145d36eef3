import { DriverError } from '@tollgate/sdk'
import { mapLimit } from '@tollgate/sdk/map-limit'
import { script as btcScript, type Network, payments } from 'bitcoinjs-lib'
import { scriptToAddress } from './address.ts'
import type { BitcoinNetwork } from './networks.ts'
import { type ParsedInput, type ParsedTransaction, parseTransaction, scanParseOptions } from './parse.ts'
import type { BitcoinRpc } from './rpc.ts'
import { rawTransaction } from './tx-status.ts'

/** bitcoinjs-lib's network record for `payments`: only the address fields are read. */
function paymentNetwork(network: BitcoinNetwork): Network {
  return {
    messagePrefix: '\x18Bitcoin Signed Message:\n',
    bech32: network.bech32,
    bip32: { public: 0, private: 0 },
    pubKeyHash: network.pubKeyHash,
    scriptHash: network.scriptHash,
    wif: 0,
  }
}

/** A witness program (BIP141): a version opcode (OP_0, OP_1..OP_16) and one push of 2 to 40 bytes. */
function isWitnessProgram(s: Uint8Array): boolean {
  const version = s[0] as number
  return (
    s.length >= 4 &&
    s.length <= 42 &&
    (version === 0x00 || (version >= 0x51 && version <= 0x60)) &&
    s[1] === s.length - 2
  )
}

/** `build()`'s address, or undefined when bitcoinjs-lib refuses the data as that payment type. */
function tryAddress(build: () => { address?: string }): string | undefined {
  try {
    return build().address
  } catch {
    return undefined
  }
}

/**
 * The address an input spent from, when its own unlocking data proves it; undefined when only the spent output
 * can tell (P2TR, P2WSH, legacy P2SH such as multisig, P2PK, bare multisig, non-standard scripts).
 *
 * - P2WPKH: empty scriptSig, witness `[signature, public key]` (canonical DER, a valid compressed key): the
 *   program is hash160 of that key (consensus checks it), so the address is the key's P2WPKH address. P2WSH and
 *   P2TR spends end in a script or a control block, which is not a valid key in practice.
 * - P2SH-wrapped segwit (P2SH-P2WPKH, P2SH-P2WSH): a witness and a scriptSig that is one push of a witness
 *   program, the redeem script: the address is its P2SH address (a non-witness output spent with a witness is
 *   invalid, so this shape is always a P2SH spend).
 * - P2PKH: no witness, scriptSig `[signature, public key]` (canonical DER, a valid key): the key's P2PKH address.
 *
 * @example
 * inputAddress({ scriptSig: new Uint8Array(), witness: [sig, pubkey] }, bitcoinNetworks.mainnet) // 'bc1q…'
 */
export function inputAddress(input: ParsedInput, network: BitcoinNetwork): string | undefined {
  const net = paymentNetwork(network)
  const { scriptSig, witness } = input
  if (witness.length > 0 && scriptSig.length === 0)
    return witness.length === 2
      ? tryAddress(() => payments.p2wpkh({ witness: [...witness], network: net }))
      : undefined
  if (witness.length > 0) {
    const chunks = btcScript.decompile(scriptSig)
    const redeem = chunks?.length === 1 ? chunks[0] : undefined
    if (!(redeem instanceof Uint8Array) || !isWitnessProgram(redeem)) return undefined
    return tryAddress(() => payments.p2sh({ redeem: { output: redeem }, network: net }))
  }
  return tryAddress(() => payments.p2pkh({ input: scriptSig, network: net }))
}

/** A spent output still to read from the node. */
type Outpoint = { txid: string; vout: number }

/**
 * One input's sender as far as the block tells: its address, `null` when the spent output has none (P2PK, bare
 * multisig, non-standard), or the outpoint still to read.
 */
export type SenderSlot = string | null | Outpoint

/** The address of the output `vout` of `tx`, `null` when it has none. */
function outputAddress(tx: ParsedTransaction, vout: number, network: BitcoinNetwork, spentBy: string) {
  const out = tx.outputs[vout]
  if (!out)
    throw new DriverError('BAD_TX_DATA', `${tx.txid} has no output ${vout}, spent by ${spentBy}`, {
      retryable: true,
    })
  return scriptToAddress(Buffer.from(out.script, 'hex'), network) ?? null
}

/**
 * The senders of `tx` as far as its block tells, one slot per input: the address the input proves
 * (`inputAddress`), else that of the spent output when `sameBlock` holds the spending's parent (a chain of
 * transactions in one block), else the outpoint, for `resolveSenders` to read. A coinbase has no slots.
 *
 * @example
 * sendersInBlock(tx, bitcoinNetworks.mainnet, () => undefined) // ['bc1q…', { txid: '9d04…', vout: 1 }]
 */
export function sendersInBlock(
  tx: ParsedTransaction,
  network: BitcoinNetwork,
  sameBlock: (txid: string) => ParsedTransaction | undefined,
): SenderSlot[] {
  return tx.inputs.map((input, i) => {
    const address = inputAddress(input, network)
    if (address !== undefined) return address
    const [txid, vout] = (tx.prevouts[i] as string).split(':') as [string, string]
    const parent = sameBlock(txid)
    return parent ? outputAddress(parent, Number(vout), network, tx.txid) : { txid, vout: Number(vout) }
  })
}

/** The transaction `txid` from the node (raw, parsed, checked to hash to `txid`). */
async function fetchTransaction(
  rpc: BitcoinRpc,
  txid: string,
  network: BitcoinNetwork,
  spentBy: string,
  signal?: AbortSignal,
): Promise<ParsedTransaction> {
  const raw = await rawTransaction(rpc, txid, signal)
  if (raw === undefined)
    throw new DriverError(
      'TX_INDEX_REQUIRED',
      `cannot read ${txid}, spent by ${spentBy}, for its sender: the node needs a transaction index (Core -txindex, bcoin --index-tx)`,
      { retryable: false },
    )
  const tx = parseTransaction(raw, network, scanParseOptions)
  if (tx.txid !== txid)
    throw new DriverError('BAD_TX_DATA', `transaction answered for ${txid} hashes to ${tx.txid}`, {
      retryable: true,
    })
  return tx
}

/**
 * Completes the slots of `sendersInBlock` (by paying txid) into senders: the addresses in input order, each
 * once. The outpoints left are read with one `getrawtransaction <txid> false` per distinct transaction over all
 * of `slots` (at most `concurrency` at a time), which needs the node's transaction index for mined ones: a node
 * without it fails with a non-retryable `TX_INDEX_REQUIRED`. Answers must hash to the txid asked
 * (`BAD_TX_DATA`, retryable).
 *
 * @example
 * const senders = await resolveSenders(new Map([[txid, slots]]), network, rpc, { concurrency: 4 })
 * senders.get(txid) // ['bcrt1q…', 'mxVF…']
 */
export async function resolveSenders(
  slots: ReadonlyMap<string, readonly SenderSlot[]>,
  network: BitcoinNetwork,
  rpc: BitcoinRpc,
  options: { concurrency: number; signal?: AbortSignal },
): Promise<Map<string, string[]>> {
  const missing = new Map<string, string>()
  for (const [payer, list] of slots)
    for (const slot of list)
      if (slot !== null && typeof slot === 'object' && !missing.has(slot.txid)) missing.set(slot.txid, payer)
  const fetched = new Map(
    await mapLimit([...missing], options.concurrency, async ([txid, spentBy]) => {
      return [txid, await fetchTransaction(rpc, txid, network, spentBy, options.signal)] as const
    }),
  )
  const senders = new Map<string, string[]>()
  for (const [payer, list] of slots) {
    const addresses = new Set<string>()
    for (const slot of list) {
      const address =
        slot === null || typeof slot === 'string'
          ? slot
          : outputAddress(fetched.get(slot.txid) as ParsedTransaction, slot.vout, network, payer)
      if (address !== null) addresses.add(address)
    }
    senders.set(payer, [...addresses])
  }
  return senders
}
