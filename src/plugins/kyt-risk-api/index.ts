import {
  checkKytAnswer,
  checkKytRequest,
  DriverError,
  defineKytProvider,
  type KytAnswer,
  type KytContext,
  type KytProvider,
  type KytRequest,
  SDK_API_VERSION,
} from '@tollgate/sdk'
import { withoutSecrets } from '@tollgate/sdk/http'
import { readEntity, toKytAnswer } from './answer.ts'
import { fetchEntity, type RiskApiEndpoint, registerAddress } from './client.ts'
import { type RiskApiOptions, riskApiOptionsSchema } from './options.ts'

/** Waits `ms`, or rejects with `KYT_ABORTED` when the screening is aborted first. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  const aborted = () =>
    new DriverError('KYT_ABORTED', 'the screening was aborted', { retryable: true, cause: signal?.reason })
  if (signal?.aborted) return Promise.reject(aborted())
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(aborted())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The provider for a commercial address-screening risk API (the Chainalysis Address Screening API,
 * `/api/risk/v2/entities`): each screening registers the address, reads its assessment (again, after a pause,
 * while the API says IN_PROGRESS, at most `inProgressRetries` times) and maps the API's risk grade to a verdict
 * through `verdicts`. A hostile request is refused with `KYT_BAD_REQUEST` before anything is sent; an answer
 * that is not a complete assessment of the very address asked about is `KYT_BAD_ANSWER`: never a verdict made
 * up from it. Network trouble, 5xx, 429 and a still-pending assessment are retryable errors; a refused key is not.
 *
 * @example
 * const kyt = createRiskApiProvider(riskApiOptionsSchema.parse({ baseUrl: 'https://api.chainalysis.com', apiKey }), ctx)
 * await kyt.screen({ chain: 'eip155:1', address, addressKey: address.toLowerCase(), direction: 'inbound' })
 * // { verdict: 'block', risk: 'severe', categories: ['sanctions'], … }
 */
export function createRiskApiProvider(options: RiskApiOptions, ctx: KytContext): KytProvider {
  const endpoint: RiskApiEndpoint = {
    // the paths start with a slash; a base URL given with a trailing one would double it
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs,
    maxResponseBytes: options.maxResponseBytes,
  }
  async function screen(untrusted: KytRequest, signal?: AbortSignal): Promise<KytAnswer> {
    const request = checkKytRequest(untrusted)
    const { address } = request
    await registerAddress(endpoint, address, signal)
    for (let read = 0; ; read++) {
      const result = readEntity(await fetchEntity(endpoint, address, signal), address)
      if (result.status === 'COMPLETE') {
        const answer = checkKytAnswer(toKytAnswer(result.entity, options.verdicts, ctx.name))
        ctx.log.debug(
          { chain: request.chain, address, risk: answer.risk, verdict: answer.verdict },
          'address screened by the risk API',
        )
        return answer
      }
      if (read >= options.inProgressRetries)
        throw new DriverError(
          'KYT_PENDING',
          `the risk API still computes the assessment of ${address} after ${read + 1} reads`,
          { retryable: true },
        )
      ctx.log.debug({ address, read: read + 1 }, 'risk assessment in progress, reading again')
      await pause(options.inProgressPauseMs, signal)
    }
  }
  return {
    screen: (request, signal) =>
      // every message passes here: the key is blanked out of whatever the API put into one
      screen(request, signal).catch((err: unknown) => {
        throw withoutSecrets(err, [options.apiKey])
      }),
  }
}

export default defineKytProvider({
  apiVersion: SDK_API_VERSION,
  name: 'kyt-risk-api',
  options: riskApiOptionsSchema,
  create: (options, ctx) => createRiskApiProvider(options, ctx),
})
