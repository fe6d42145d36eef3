/**
 * The SDK's conformance suite against the Tron driver on the stand-in java-tron HTTP node. Deposits are made
 * through the node's own API (createtransaction / triggersmartcontract, then broadcasttransaction), signed here
 * with the payer's key; no tronweb, whose protobuf modules race when loaded next to other test files.
 */
import { expect } from 'bun:test'
import { runDriverConformance } from '@tollgate/sdk/conformance'
import { startTronNode, type TronNode, USDT_MAINNET } from '../../../test/tron-node/server.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import { publicKeyToTronAddress } from './derive.ts'
import definition, { tronAddressKey } from './index.ts'

const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const signer = createSigner(mnemonic)
/** Pays deposits: a key of another BIP44 account than the gateway's (m/44'/195'/0'). */
const payerPath = "m/44'/195'/1'/0/0"
const payer = publicKeyToTronAddress(signer.publicKey(payerPath))
const usdtHex = '41a614f803b6fd780986a42c78ec9c7f77e6ded13c'
const usdtToken = { symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }

let node: TronNode
let deadPort = 0

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

async function post(path: string, body: unknown): Promise<any> {
  const res = await fetch(`${node.url}${path}`, { method: 'POST', body: JSON.stringify(body) })
  return res.json()
}

/** Signs an unsigned transaction the node built (r‖s‖v over the txID) and broadcasts it as JSON. */
async function signAndBroadcast(tx: { txID: string; raw_data_hex: string }): Promise<string> {
  const { signature, recovery } = signer.signDigest(payerPath, Buffer.from(tx.txID, 'hex'))
  const sig = Buffer.concat([Buffer.from(signature), Buffer.from([recovery])]).toString('hex')
  const sent = await post('/wallet/broadcasttransaction', { ...tx, signature: [sig] })
  if (sent.result !== true)
    expect.unreachable(`the stand-in node refused the funding: ${JSON.stringify(sent)}`)
  return tx.txID
}

runDriverConformance(definition, {
  async setup() {
    node = await startTronNode()
    node.fund(payer, 1_000_000_000_000n)
    node.mint(USDT_MAINNET, payer, 1_000_000_000_000n)
    deadPort = await freePort()
  },
  teardown: () => node?.stop(),
  get options() {
    return { fullHosts: [node.url], tokens: [usdtToken], retryRounds: 1, backoffMs: 0, timeoutMs: 2000 }
  },
  invalidOptions: [
    {},
    { fullHosts: [] },
    { fullHosts: ['ftp://127.0.0.1:8090'] },
    { fullHosts: ['http://127.0.0.1:8090'], network: 'devnet' },
    {
      fullHosts: ['http://127.0.0.1:8090'],
      tokens: [{ ...usdtToken, address: 'TR7NHqjeKQxGTCi8q8ZY4pxL7dSU6Vqj6t' }],
    },
    { fullHosts: ['http://127.0.0.1:8090'], confirmations: 0 },
  ],
  get unreachableOptions() {
    return { fullHosts: [`http://127.0.0.1:${deadPort}`], retryRounds: 1, backoffMs: 0, timeoutMs: 500 }
  },
  // configured for Nile, pointed at the stand-in answering mainnet's genesis block
  get wrongNetworkOptions() {
    return { fullHosts: [node.url], network: 'nile', retryRounds: 1, backoffMs: 0, timeoutMs: 2000 }
  },
  signer,
  validAddresses: [USDT_MAINNET, usdtHex, `0x${usdtHex}`, payer],
  invalidAddresses: [
    // base58check with a broken checksum
    'TR7NHqjeKQxGTCi8q8ZY4pxL7dSU6Vqj6t',
    `42${usdtHex.slice(2)}`,
    '0xa614f803b6fd780986a42c78ec9c7f77e6ded13c',
    'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
    'T1',
  ],
  sameAddress: [[USDT_MAINNET, usdtHex, usdtHex.toUpperCase(), `0x${usdtHex}`]],
  async fund(address, asset, amount) {
    const owner = tronAddressKey(payer)
    const to = tronAddressKey(address)
    const unsigned = asset.native
      ? await post('/wallet/createtransaction', {
          owner_address: owner,
          to_address: to,
          amount: Number(amount),
        })
      : (
          await post('/wallet/triggersmartcontract', {
            owner_address: owner,
            contract_address: tronAddressKey(asset.contract as string),
            function_selector: 'transfer(address,uint256)',
            parameter: to.slice(2).padStart(64, '0') + amount.toString(16).padStart(64, '0'),
            fee_limit: 100_000_000,
          })
        ).transaction
    if (!unsigned?.txID)
      expect.unreachable(`the stand-in node built no transaction: ${JSON.stringify(unsigned)}`)
    const txID = await signAndBroadcast(unsigned)
    node.mine(1)
    return txID
  },
  payer,
  async mine(blocks) {
    node.mine(blocks)
  },
  token: `tron:0x2b6653dc/trc20:${USDT_MAINNET}`,
  payouts: {},
  timeoutMs: 15_000,
})
