import { h } from 'preact'
import { useState } from 'preact/hooks'

// The compliance report for a period, saved as a CSV file: GET /exports/kyt.csv with the session cookie. That
// route, like the ledger CSV, takes no CSRF token but needs X-Tollgate-Merchant, which a plain link cannot send:
// the file is fetched with the header and saved through a blob: link (a download is a navigation, which the
// console's CSP does not restrict; connect-src 'self' allows the fetch).

/** A UTC calendar day as YYYY-MM-DD, `days` from today. */
function utcDay(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)
}

type Outcome = { ok: boolean; message: string }

/**
 * The file name a report of `from` to `to` is saved under.
 *
 * @example
 * reportFileName('2026-01-01', '2026-02-01') // 'kyt-report-2026-01-01-to-2026-02-01.csv'
 */
export function reportFileName(from: string, to: string): string {
  return `kyt-report-${from}-to-${to}.csv`.replace(/[^A-Za-z0-9._-]/g, '_')
}

/** Saves `blob` as a file named `name` through a temporary blob: link. */
function save(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  // revoked later: the browser reads the blob after the click returns
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

async function refusal(response: Response): Promise<string> {
  if (response.status === 401) return 'Your session ended: sign in again.'
  try {
    const body = (await response.json()) as { error?: string; code?: string }
    return `${body.code ?? `HTTP ${response.status}`}: ${body.error ?? 'refused'}`
  } catch {
    return `The gateway answered ${response.status}.`
  }
}

/**
 * A form for the KYT report's period (UTC days; `to` not included) and a button that downloads it as CSV: every
 * screening opened in the period with its verdict, providers, decision and note.
 *
 * @example
 * h(ReportExport, { merchantId })
 */
export function ReportExport(props: { merchantId: string }) {
  const [from, setFrom] = useState(() => utcDay(-30))
  const [to, setTo] = useState(() => utcDay(1))
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<Outcome | null>(null)

  async function download(event: Event) {
    event.preventDefault()
    if (!from || !to) return setOutcome({ ok: false, message: 'Give both days.' })
    if (from >= to) return setOutcome({ ok: false, message: 'The first day must come before the last.' })
    setBusy(true)
    setOutcome(null)
    try {
      const params = new URLSearchParams({ from, to })
      const response = await fetch(`/exports/kyt.csv?${params}`, {
        credentials: 'same-origin',
        headers: { 'x-tollgate-merchant': props.merchantId },
      })
      if (!response.ok) return setOutcome({ ok: false, message: await refusal(response) })
      const text = await response.text()
      const rows = text.split(/\r?\n/).filter((line) => line !== '').length - 1
      const name = reportFileName(from, to)
      save(new Blob([text], { type: 'text/csv' }), name)
      setOutcome({ ok: true, message: `Saved ${name}: ${rows} screening${rows === 1 ? '' : 's'}.` })
    } catch {
      setOutcome({ ok: false, message: 'The gateway could not be reached.' })
    } finally {
      setBusy(false)
    }
  }

  return h(
    'form',
    { class: 'kyt-report', onSubmit: download },
    h('p', { class: 'hint' }, 'Screenings opened from the first day up to, not including, the last (UTC).'),
    h('label', { for: 'kyt-report-from' }, 'From'),
    h('input', {
      id: 'kyt-report-from',
      type: 'date',
      required: true,
      value: from,
      onInput: (e: Event) => setFrom((e.currentTarget as HTMLInputElement).value),
    }),
    h('label', { for: 'kyt-report-to' }, 'To'),
    h('input', {
      id: 'kyt-report-to',
      type: 'date',
      required: true,
      value: to,
      onInput: (e: Event) => setTo((e.currentTarget as HTMLInputElement).value),
    }),
    h(
      'div',
      { class: 'action' },
      h('button', { type: 'submit', disabled: busy }, busy ? 'Preparing…' : 'Download CSV'),
    ),
    outcome
      ? h(
          'p',
          { class: outcome.ok ? 'done' : 'error', role: outcome.ok ? 'status' : 'alert' },
          outcome.message,
        )
      : null,
  )
}
