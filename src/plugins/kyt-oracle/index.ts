import {
  checkKytRequest,
  DriverError,
  defineKytProvider,
  type KytAnswer,
  type KytChain,
  type KytContext,
  type KytProvider,
  type KytRequest,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import type { Hex } from 'viem'
import { type OracleOptions, oracleOptionsSchema } from './options.ts'
import { askOracle, type OracleTarget } from './oracle.ts'

const configError = (message: string) => new DriverError('KYT_CONFIG', message, { retryable: false })
const badRequest = (message: string) => new DriverError('KYT_BAD_REQUEST', message, { retryable: false })
const evmAddress = /^0x[0-9a-fA-F]{40}$/

/** A configured oracle and how its chain keys addresses. */
type Covered = OracleTarget & { addressKey: KytChain['addressKey'] }

/** Each configured chain found among the gateway's chains, by CAIP-2 id; what cannot be asked is refused. */
function resolveTargets(options: OracleOptions, ctx: KytContext): Map<string, Covered> {
  const targets = new Map<string, Covered>()
  for (const [name, { address }] of Object.entries(options.chains)) {
    const chain = ctx.chains.find((c) => c.name === name)
    if (!chain)
      throw configError(
        `chains.${name}: no chain named ${name} is loaded (the gateway runs: ${ctx.chains.map((c) => c.name).join(', ') || 'none'})`,
      )
    if (!chain.chainId.startsWith('eip155:'))
      throw configError(`chains.${name}: ${chain.chainId} is not an EVM chain; the oracle is an EVM contract`)
    if (!chain.callContract)
      throw configError(
        `chains.${name}: the driver of ${chain.chainId} cannot call contracts (no callContract)`,
      )
    const other = targets.get(chain.chainId)
    if (other)
      throw configError(`chains.${name}: ${chain.chainId} already has an oracle, under chains.${other.name}`)
    targets.set(chain.chainId, {
      name,
      chainId: chain.chainId,
      address: address as Hex,
      callContract: chain.callContract.bind(chain),
      addressKey: chain.addressKey.bind(chain),
    })
  }
  return targets
}

/**
 * The address as the oracle is asked about it: the request's `address`, which must be an EVM address whose
 * chain key is the request's `addressKey` (the provider never screens one address and reports another).
 */
function addressOf(request: KytRequest, addressKey: (address: string) => string): Hex {
  if (!evmAddress.test(request.address))
    throw badRequest(`address must be a 0x-prefixed 20-byte EVM address on ${request.chain}`)
  let key: string
  try {
    key = addressKey(request.address)
  } catch {
    throw badRequest(`address is not an address of ${request.chain}`)
  }
  if (key !== request.addressKey) throw badRequest(`addressKey is not ${request.chain}'s key of address`)
  return request.address.toLowerCase() as Hex
}

/**
 * The on-chain sanctions oracle provider: for a request on a configured EVM chain it asks that chain's oracle
 * contract (`isSanctioned(address)`, the ABI of the public oracle) through the chain driver's `callContract`, at
 * the latest block, on every screening — a listing or delisting counts from the next screening on. A listed
 * address answers `options.verdict` (`block` by default), `severe`, `sanctions`; any other `allow`. A request on
 * a chain without an oracle answers `allow`, saying the oracle does not cover it, so that other providers'
 * verdicts decide. It answers nothing it could not ask: a node failure, a timeout, a revert or an answer that is
 * not a bool reject with a `DriverError` (see `askOracle`), and the gateway's `failMode` decides.
 *
 * @example
 * const kyt = createOracleProvider(oracleOptionsSchema.parse({ chains: { ethereum: { address: '0x40C57923924B5c5c5455c48D93317139ADDaC8fb' } } }), ctx)
 * await kyt.screen({ chain: 'eip155:1', address, addressKey: address.toLowerCase(), direction: 'inbound' })
 */
export function createOracleProvider(options: OracleOptions, ctx: KytContext): KytProvider {
  const targets = resolveTargets(options, ctx)
  for (const t of targets.values())
    ctx.log.info({ chain: t.name, chainId: t.chainId, oracle: t.address }, 'sanctions oracle configured')
  return {
    async screen(untrusted: KytRequest, signal?: AbortSignal): Promise<KytAnswer> {
      const request = checkKytRequest(untrusted)
      const target = targets.get(request.chain)
      if (!target)
        return {
          verdict: 'allow',
          categories: [],
          reasons: [`the oracle does not cover ${request.chain}`],
          source: { provider: ctx.name },
        }
      const address = addressOf(request, target.addressKey)
      const listed = await askOracle(target, address, options.timeoutMs, signal)
      const source = { provider: ctx.name, version: `${target.chainId}:${target.address}@latest` }
      if (!listed) return { verdict: 'allow', categories: [], reasons: [], source }
      return {
        verdict: options.verdict,
        risk: 'severe',
        categories: ['sanctions'],
        reasons: [
          `${request.address} is listed by the on-chain sanctions oracle at ${target.address} on ${target.name}`,
        ],
        source,
      }
    },
  }
}

export default defineKytProvider({
  apiVersion: SDK_API_VERSION,
  name: 'kyt-oracle',
  options: oracleOptionsSchema,
  create: createOracleProvider,
})
