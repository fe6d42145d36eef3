import { h } from 'preact'
import { useState } from 'preact/hooks'
import { DecidedChecks } from './compliance-decided.ts'
import { ReviewQueue } from './compliance-queue.ts'
import { ReportExport } from './compliance-report.ts'
import type { PageProps } from './ui.ts'

/**
 * The Compliance page (compliance:review or admin): what KYT screening holds, each with every provider's answer,
 * to release or reject with a note; the screenings decided so far; and the report of a period as CSV. A decision
 * is announced in a live region and both lists load afresh.
 *
 * @example
 * h(CompliancePage, pageProps)
 */
export function CompliancePage(props: PageProps) {
  const [round, setRound] = useState(0)
  const [notice, setNotice] = useState<string | null>(null)
  const decided = (message: string) => {
    setNotice(message)
    setRound((r) => r + 1)
  }
  return h(
    'main',
    { class: 'compliance' },
    h('h1', null, 'Compliance'),
    h('p', { class: notice ? 'notice' : 'muted', role: 'status' }, notice ?? ''),
    h(
      'section',
      { 'aria-labelledby': 'kyt-held-title' },
      h('h2', { id: 'kyt-held-title' }, 'Held for review'),
      h(ReviewQueue, { query: props.query, scopes: props.scopes, reloadKey: round, onDecided: decided }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'kyt-decided-title' },
      h('h2', { id: 'kyt-decided-title' }, 'Decided'),
      h(DecidedChecks, { query: props.query, reloadKey: round }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'kyt-report-title' },
      h('h2', { id: 'kyt-report-title' }, 'Report'),
      h(ReportExport, { merchantId: props.merchantId }),
    ),
  )
}
