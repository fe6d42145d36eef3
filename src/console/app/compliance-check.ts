import { h } from 'preact'
import { Facts, Time } from './ui.ts'

// A KYT screening as the Compliance page shows it: what was screened, the verdict and why, and every provider's
// answer. Everything is text from the API (never markup).

/** One provider's answer about one address, or the error it failed with. */
export type KytAnswer = {
  provider: string
  address: string
  verdict: string | null
  risk: string | null
  categories: string[]
  reasons: string[]
  version: string | null
  error: string | null
}

/** A screening as the page asks for it (see `kytCheckFields`). */
export type KytCheck = {
  id: string
  subjectType: string
  subjectId: string
  paymentId: string | null
  chain: string
  direction: string
  addresses: string[]
  asset: { symbol: string }
  amount: string
  txHash: string | null
  state: string
  verdict: string | null
  reason: string | null
  failMode: string | null
  versions: string | null
  decidedBy: string | null
  decidedAt: string | null
  note: string | null
  createdAt: string
  screenedAt: string | null
  answers: KytAnswer[]
}

/** The fields of `KytCheck` every query of the page selects (on one line: the bundle keeps a string's breaks). */
export const kytCheckFields = [
  'id subjectType subjectId paymentId chain direction addresses asset { symbol } amount',
  'txHash state verdict reason failMode versions decidedBy decidedAt note createdAt screenedAt',
  'answers { provider address verdict risk categories reasons version error }',
].join(' ')

const reasonWords: Record<string, string> = {
  KYT_REVIEW: 'a provider asks for a review',
  KYT_BLOCKED: 'a provider blocks an address',
  KYT_UNAVAILABLE: 'no provider answered in time',
}

/**
 * A hold's reason code with what it means, e.g. "KYT_BLOCKED: a provider blocks an address".
 *
 * @example
 * reasonText('KYT_UNAVAILABLE') // 'KYT_UNAVAILABLE: no provider answered in time'
 */
export function reasonText(reason: string | null): string | null {
  if (!reason) return null
  const words = reasonWords[reason]
  return words ? `${reason}: ${words}` : reason
}

/**
 * What a screening looked at, in words: a deposit's senders or a withdrawal's destination.
 *
 * @example
 * screenedWhat(check) // 'The senders of a deposit'
 */
export function screenedWhat(check: Pick<KytCheck, 'subjectType' | 'direction'>): string {
  if (check.subjectType === 'withdrawal') return 'The destination of a withdrawal'
  return check.direction === 'outbound' ? 'The destination of a transfer' : 'The senders of a deposit'
}

/**
 * The facts of a screening: what was screened (addresses, amount, transaction), the verdict, the reason and the
 * fail mode when no provider answered.
 *
 * @example
 * h(ScreeningFacts, { check })
 */
export function ScreeningFacts(props: { check: KytCheck }) {
  const c = props.check
  return h(Facts, {
    facts: [
      ['Screened', screenedWhat(c)],
      ['Addresses', h('span', { class: 'kyt-addresses' }, c.addresses.join(', '))],
      ['Amount', `${c.amount} ${c.asset.symbol} on ${c.chain}`],
      ['Transaction', c.txHash],
      ['Verdict', h('span', { class: 'kyt-verdict' }, c.verdict ? c.verdict.toUpperCase() : 'none')],
      ['Reason', h('span', { class: 'kyt-reason' }, reasonText(c.reason))],
      ['Fail mode', c.failMode ? `${c.failMode} (no provider answered in time)` : null],
      ['Screened at', h(Time, { iso: c.screenedAt ?? c.createdAt })],
      ['Check', c.id],
    ],
  })
}

/**
 * Every provider's answer to a screening: provider, verdict (or the error it failed with), risk, categories,
 * reasons and the data version.
 *
 * @example
 * h(AnswerList, { answers: check.answers })
 */
export function AnswerList(props: { answers: KytAnswer[] }) {
  if (props.answers.length === 0) return h('p', { class: 'muted' }, 'No provider answered.')
  return h(
    'ul',
    { class: 'cards one-column kyt-answers' },
    props.answers.map((a, i) =>
      h(
        'li',
        { key: `${a.provider} ${a.address} ${i}`, class: 'kyt-answer' },
        h(
          'p',
          null,
          h('strong', { class: 'kyt-provider' }, a.provider),
          ': ',
          h(
            'span',
            { class: 'kyt-answer-verdict' },
            a.verdict ? a.verdict.toUpperCase() : `no answer (${a.error ?? 'unknown error'})`,
          ),
        ),
        h(Facts, {
          facts: [
            ['Address', a.address],
            ['Risk', a.risk],
            ['Categories', h('span', { class: 'kyt-categories' }, a.categories.join(', '))],
            ['Reasons', a.reasons.join('; ')],
            ['Data version', a.version],
            ...(a.error ? ([['Error', a.error]] as Array<[string, string]>) : []),
          ],
        }),
      ),
    ),
  )
}
