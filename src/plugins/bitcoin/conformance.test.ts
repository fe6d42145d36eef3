/** The SDK's conformance suite against the Bitcoin driver on a real bcoin regtest node (segwit active). */

import { runDriverConformance } from '@tollgate/sdk/conformance'
import { type Bcoin, regtestKey, startBcoin } from '../../../test/helpers/bcoin.ts'
import { createSigner } from '../../core/payouts/signer.ts'
import { scriptToAddress } from './address.ts'
import definition from './index.ts'
import { bitcoinNetworks } from './networks.ts'

const regtest = bitcoinNetworks.regtest
const script = (h: string) => Buffer.from(h, 'hex')
/** One regtest address of each standard type. */
const p2wpkh = regtestKey('conformance').address
const p2pkh = scriptToAddress(script(`76a914${'22'.repeat(20)}88ac`), regtest) as string
const p2sh = scriptToAddress(script(`a914${'33'.repeat(20)}87`), regtest) as string
const p2wsh = scriptToAddress(script(`0020${'44'.repeat(32)}`), regtest) as string
const p2tr = scriptToAddress(script(`5120${'55'.repeat(32)}`), regtest) as string
/** The mainnet and testnet spellings of the same P2WPKH program. */
const mainnet = scriptToAddress(script(`0014${'66'.repeat(20)}`), bitcoinNetworks.mainnet) as string
const testnet = scriptToAddress(script(`0014${'66'.repeat(20)}`), bitcoinNetworks.testnet) as string
/** A bech32 address with its last character changed (checksum broken). */
const badChecksum = `${p2wpkh.slice(0, -1)}${p2wpkh.endsWith('q') ? 'p' : 'q'}`

let node: Bcoin
let deadPort = 0

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

runDriverConformance(definition, {
  async setup() {
    node = await startBcoin()
    deadPort = await freePort()
  },
  teardown: () => node?.stop(),
  get options() {
    return { network: 'regtest', rpcUrls: [node.url], timeoutMs: 5000, broadcastWaitMs: 1500 }
  },
  invalidOptions: [
    {},
    { network: 'litecoin', rpcUrls: ['http://127.0.0.1:18443'] },
    { network: 'regtest', rpcUrls: [] },
    { network: 'regtest', rpcUrls: ['ftp://127.0.0.1:18443'] },
    { network: 'regtest', rpcUrls: ['http://127.0.0.1:18443'], maxOutputs: 0 },
    { network: 'regtest', rpcUrls: ['http://127.0.0.1:18443'], confirmations: 0 },
  ],
  get unreachableOptions() {
    return { network: 'regtest', rpcUrls: [`http://127.0.0.1:${deadPort}/`], timeoutMs: 500 }
  },
  // configured for testnet, pointed at the regtest node: its genesis block differs
  get wrongNetworkOptions() {
    return { network: 'testnet', rpcUrls: [node.url], timeoutMs: 5000 }
  },
  signer: createSigner('test test test test test test test test test test test junk'),
  validAddresses: [p2wpkh, p2wpkh.toUpperCase(), p2pkh, p2sh, p2wsh, p2tr],
  invalidAddresses: [
    mainnet,
    testnet,
    badChecksum,
    `${p2wpkh.slice(0, 6).toUpperCase()}${p2wpkh.slice(6)}`,
    '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
    'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t',
    '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2',
  ],
  sameAddress: [[p2wpkh, p2wpkh.toUpperCase()]],
  async fund(address, _asset, amount) {
    const { txid } = await node.send(address, amount)
    await node.mine(1)
    return txid
  },
  // node.send spends the faucet's matured coinbases
  get payer() {
    return node.faucet.address
  },
  async mine(blocks) {
    await node.mine(blocks)
  },
  payouts: {
    // the Bitcoin driver's addressKey is the output's scriptPubKey hex: a reported transfer is a coin
    coins: (owner, received) =>
      received.map((t) => ({
        txid: t.txHash,
        vout: t.index,
        amount: t.amount,
        script: t.to,
        path: owner.path,
      })),
  },
  timeoutMs: 15_000,
})
