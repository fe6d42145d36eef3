/**
 * The SDK's conformance suite against this plugin on the in-memory toy node. Run it with `bun test`.
 */
import { runDriverConformance } from '@tollgate/sdk/conformance'
import { createTestSigner } from '@tollgate/sdk/testing'
import definition from '../src/index.ts'
import { startToyNode, type ToyNode, toyFaucet } from '../src/stand-in.ts'

let node: ToyNode
const token = { symbol: 'TUSD', name: 'Toy dollar', contract: 'c0ffee', decimals: 6 }

runDriverConformance(definition, {
  setup: () => {
    node = startToyNode()
  },
  teardown: () => node?.stop(),
  get options() {
    return { rpcUrl: node.url, tokens: [token], timeoutMs: 2000 }
  },
  invalidOptions: [
    {},
    { rpcUrl: 'not a url' },
    { rpcUrl: 'ftp://127.0.0.1' },
    { rpcUrl: 'http://127.0.0.1:7545', confirmations: 0 },
    { rpcUrl: 'http://127.0.0.1:7545', confirmations: 20, finalityDepth: 5 },
    // a typo'd key is refused, not dropped
    { rpcUrl: 'http://127.0.0.1:7545', confirmation: 3 },
  ],
  unreachableOptions: { rpcUrl: 'http://127.0.0.1:9', timeoutMs: 500 },
  signer: createTestSigner(),
  validAddresses: [
    'toy1f39fd6e51aad88f6f4ce6ab8827279cfffb92266',
    'TOY1F39FD6E51AAD88F6F4CE6AB8827279CFFFB92266',
  ],
  invalidAddresses: [
    '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
    'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq',
    'toy1f39fd6e51aad88f6f4ce6ab8827279cfffb9226',
    'toy2f39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  ],
  sameAddress: [
    ['toy1f39fd6e51aad88f6f4ce6ab8827279cfffb92266', 'Toy1F39FD6E51AAD88F6F4CE6AB8827279CFFFB92266'],
  ],
  fund: async (address, asset, amount) => node.pay(address, amount, asset.contract ?? 'native'),
  payer: toyFaucet,
  mine: async (blocks) => node.mine(blocks),
  token: `toy:devnet/token:${token.contract}`,
  payouts: false,
})
