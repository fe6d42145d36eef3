import {
  checkKytAnswer,
  isDriverError,
  type KytDirection,
  type KytVerdict,
  mapLimit,
  worstVerdict,
} from '@tollgate/sdk'
import type { StoredKytAnswer } from '../../db/schema/index.ts'
import type { LoadedChain, LoadedKytProvider } from '../../plugins/registry.ts'

/** What is screened: addresses seen on a chain, and the value they move. */
export type ScreeningSubject = {
  addresses: readonly string[]
  direction: KytDirection
  /** CAIP-19 id. */
  asset: string
  amount: bigint
  txHash?: string | null
}

/**
 * Every provider's answers about every address, and the verdict when all of them answered (the worst one).
 * `failed` lists the `provider:code` of each question that got no answer: then there is no verdict.
 */
export type Screening = { answers: StoredKytAnswer[]; verdict: KytVerdict | null; failed: string[] }

const codeOf = (err: unknown) =>
  isDriverError(err)
    ? err.code
    : err instanceof Error && err.name === 'AbortError'
      ? 'KYT_TIMEOUT'
      : 'KYT_ERROR'

/**
 * Asks every provider about every address, at most `timeoutMs` in all (a provider still thinking then counts
 * as failed). An answer that breaks the contract (`checkKytAnswer`) is a failure too, never a verdict. No
 * address to screen (a coinbase, a chain that cannot tell the sender) is `allow` with no answers.
 *
 * @example
 * const s = await screenSubject(providers, chain, { addresses: ['0x…'], direction: 'inbound', asset, amount }, 5000)
 * if (s.verdict === null) // retry later; s.failed says who did not answer
 */
export async function screenSubject(
  providers: readonly LoadedKytProvider[],
  chain: LoadedChain,
  subject: ScreeningSubject,
  timeoutMs: number,
): Promise<Screening> {
  const signal = AbortSignal.timeout(timeoutMs)
  const questions = providers.flatMap((p) => subject.addresses.map((address) => ({ p, address })))
  const answers = await mapLimit(questions, 8, async ({ p, address }): Promise<StoredKytAnswer> => {
    try {
      const addressKey = chain.driver.addressKey(address)
      const asked = p.provider.screen(
        {
          chain: chain.driver.chainId,
          address,
          addressKey,
          direction: subject.direction,
          asset: subject.asset,
          amount: subject.amount,
          ...(subject.txHash ? { txHash: subject.txHash } : {}),
        },
        signal,
      )
      // a provider that ignores the signal still loses the race
      const answer = checkKytAnswer(
        await Promise.race([
          asked,
          new Promise<never>((_, reject) => {
            if (signal.aborted) reject(signal.reason)
            signal.addEventListener('abort', () => reject(signal.reason), { once: true })
          }),
        ]),
      )
      return {
        provider: p.name,
        address,
        verdict: answer.verdict,
        ...(answer.risk ? { risk: answer.risk } : {}),
        categories: answer.categories,
        reasons: answer.reasons,
        ...(answer.source.version ? { version: answer.source.version } : {}),
      }
    } catch (err) {
      return { provider: p.name, address, error: signal.aborted ? 'KYT_TIMEOUT' : codeOf(err) }
    }
  })
  const failed = answers.flatMap((a) => (a.error ? [`${a.provider}:${a.error}`] : []))
  if (failed.length > 0) return { answers, verdict: null, failed }
  return {
    answers,
    verdict: answers.length === 0 ? 'allow' : worstVerdict(answers as { verdict: KytVerdict }[]),
    failed,
  }
}

/**
 * The data versions a screening rests on, `provider=version` per provider (a list's date and hash), joined —
 * what the issue of a verdict is traced back to.
 *
 * @example
 * versionsOf(answers) // 'sanctions=2026-11-30+sha256:ab12…'
 */
export function versionsOf(answers: readonly StoredKytAnswer[]): string | null {
  const seen = new Map<string, string>()
  for (const a of answers) if (a.version && !seen.has(a.provider)) seen.set(a.provider, a.version)
  return seen.size === 0 ? null : [...seen].map(([p, v]) => `${p}=${v}`).join(' ')
}
