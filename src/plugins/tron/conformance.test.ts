/** The SDK's conformance suite against the Tron driver on the stand-in java-tron HTTP node. */
import { startTronNode, type TronNode, USDT_MAINNET } from '../../../test/tron-node/server.ts'
import { createSigner } from '../../core/signer.ts'
import { runDriverConformance } from '../sdk/conformance.ts'
import definition from './index.ts'

// loaded after the static imports: tronweb's generated protobuf code races when loaded alongside other modules
const { TronWeb } = await import('tronweb')

const mnemonic =
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
/** Pays deposits: an account of another BIP44 account than the gateway's. */
const payer = TronWeb.fromMnemonic(mnemonic, "m/44'/195'/1'/0/0")
const payerKey = payer.privateKey.slice(2)
const usdtHex = '41a614f803b6fd780986a42c78ec9c7f77e6ded13c'
const usdtToken = { symbol: 'USDT', address: USDT_MAINNET, decimals: 6 }

let node: TronNode
let tw: InstanceType<typeof TronWeb>
let deadPort = 0

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = server.port as number
  await server.stop(true)
  return port
}

runDriverConformance(definition, {
  async setup() {
    node = await startTronNode()
    tw = new TronWeb({ fullHost: node.url })
    node.fund(payer.address, 1_000_000_000_000n)
    node.mint(USDT_MAINNET, payer.address, 1_000_000_000_000n)
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
  signer: createSigner(mnemonic),
  validAddresses: [USDT_MAINNET, usdtHex, `0x${usdtHex}`, payer.address],
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
    let signed: { txID: string }
    if (asset.native) {
      signed = await tw.trx.sign(
        await tw.transactionBuilder.sendTrx(address, Number(amount), payer.address),
        payerKey,
      )
    } else {
      const { transaction } = await tw.transactionBuilder.triggerSmartContract(
        asset.contract as string,
        'transfer(address,uint256)',
        { feeLimit: 100_000_000 },
        [
          { type: 'address', value: address },
          { type: 'uint256', value: amount.toString() },
        ],
        payer.address,
      )
      signed = await tw.trx.sign(transaction, payerKey)
    }
    const sent = await tw.trx.sendRawTransaction(signed as never)
    if (!sent.result) throw new Error(`the stand-in node refused the funding: ${JSON.stringify(sent)}`)
    node.mine(1)
    return signed.txID
  },
  async mine(blocks) {
    node.mine(blocks)
  },
  token: `tron:0x2b6653dc/trc20:${USDT_MAINNET}`,
  payouts: {},
  timeoutMs: 15_000,
})
