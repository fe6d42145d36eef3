import { type ComponentChildren, createContext, h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { QueryResult } from './api.ts'

// Pieces every page uses: the query function and scopes a page receives, loading states, and confirmed actions.

/** Runs a GraphQL operation as the signed-in user at the chosen merchant (see runQuery in api.ts). */
export type Query = <T>(query: string, variables?: Record<string, unknown>) => Promise<QueryResult<T>>

/**
 * What every page is given: how to query the API, the scopes the user holds at the chosen merchant (to leave out
 * what the role may not do; the API refuses it anyway), the merchant's name and the id of a detail route.
 */
export type PageProps = {
  query: Query
  live: Live
  scopes: ReadonlySet<string>
  /** The merchant the user acts for (sent as X-Tollgate-Merchant by every call). */
  merchantId: string
  merchantName: string | null
  id: string | null
}

/**
 * Opens a subscription as the signed-in user at the chosen merchant, calling `onData` with each value; answers
 * the function that closes it (see openLive in api.ts).
 */
export type Live = (
  subscription: string,
  variables: Record<string, unknown>,
  onData: (data: Record<string, unknown>) => void,
) => () => void

/**
 * Follows a subscription while the component is shown; `onData` runs for each value (typically a reload of what
 * the page shows).
 *
 * @example
 * useLive(props.live, 'subscription { paymentsUpdated { id } }', {}, reload)
 */
export function useLive(
  live: Live,
  subscription: string,
  variables: Record<string, unknown>,
  onData: (data: Record<string, unknown>) => void,
) {
  const handler = useRef(onData)
  handler.current = onData
  useEffect(() => live(subscription, variables, (data) => handler.current(data)), [subscription])
}

/**
 * Who the signed-in user is on the API (`user:<id>`, as approvals, audit entries and `requestedBy` name them), for
 * pieces deep in a page to leave out what the API would refuse them (approving one's own request twice).
 *
 * @example
 * const me = useContext(SignedInActor) // 'user:usr_…'
 */
export const SignedInActor = createContext('')

/** Data being loaded, loaded, or refused with a message. */
export type Loaded<T> =
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'done'; value: T }

/** A Relay connection's nodes as the API answers them. */
export type Edges<T> = {
  edges: Array<{ node: T }>
  pageInfo?: { hasNextPage: boolean; endCursor: string | null }
}

/**
 * Loads `text` with `variables` when the component mounts and whenever `reloadKey` changes; `pick` turns the data
 * into what the page shows. Answers the state and a `reload` function.
 *
 * @example
 * const [balances, reload] = useLoaded(query, '{ balances { chain } }', {}, (d) => d.balances)
 */
export function useLoaded<D, T>(
  query: Query,
  text: string,
  variables: Record<string, unknown>,
  pick: (data: D) => T,
  reloadKey: unknown = null,
): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' })
  const [round, setRound] = useState(0)
  const latest = useRef(0)
  useEffect(() => {
    const mine = ++latest.current
    setLoaded((prev) => (prev.state === 'done' ? prev : { state: 'loading' }))
    query<D>(text, variables).then((result) => {
      if (mine !== latest.current) return
      setLoaded(
        result.kind === 'data'
          ? { state: 'done', value: pick(result.data) }
          : { state: 'error', message: result.kind === 'error' ? result.message : 'signed out' },
      )
    })
  }, [round, reloadKey])
  return [loaded, () => setRound((r) => r + 1)]
}

/**
 * Renders a loaded value with `render`, or a line saying it is loading or why it failed (`what` names it).
 *
 * @example
 * h(Show, { loaded: balances, what: 'Balances', render: (list) => h(BalanceList, { list }) })
 */
export function Show<T>(props: { loaded: Loaded<T>; what: string; render: (value: T) => ComponentChildren }) {
  const l = props.loaded
  if (l.state === 'loading') return h('p', { class: 'muted' }, `Loading ${props.what.toLowerCase()}…`)
  if (l.state === 'error')
    return h('p', { class: 'error', role: 'alert' }, `${props.what} could not be loaded: ${l.message}`)
  return h('div', { class: 'loaded' }, props.render(l.value))
}

/**
 * A definition list of label/value pairs; values are text (never markup), empty ones show a dash.
 *
 * @example
 * h(Facts, { facts: [['Status', payment.status], ['Order', payment.orderId]] })
 */
export function Facts(props: { facts: Array<[string, ComponentChildren]>; class?: string }) {
  return h(
    'dl',
    { class: props.class ?? 'facts' },
    props.facts.flatMap(([label, value]) => [
      h('dt', { key: `${label}-t` }, label),
      h('dd', { key: `${label}-d` }, value === null || value === undefined || value === '' ? '—' : value),
    ]),
  )
}

/**
 * A date and time in the reader's locale, with the exact instant in `datetime` (and as a tooltip).
 *
 * @example
 * h(Time, { iso: payment.createdAt })
 */
export function Time(props: { iso: string | null | undefined }) {
  if (!props.iso) return h('span', { class: 'muted' }, '—')
  const date = new Date(props.iso)
  return h('time', { dateTime: props.iso, title: props.iso }, date.toLocaleString())
}

/** What a confirmed action came to: done (with a message to show) or refused with the API's words. */
export type ActionOutcome = { ok: true; message: string } | { ok: false; message: string }

/**
 * A button for an action that changes money or access: pressing it opens a confirmation step that says what will
 * happen (and, with `note`, asks why: required when `note` is 'required'); only "Confirm" runs `run`. The outcome
 * shows beside the button, in a live region.
 *
 * @example
 * h(ConfirmAction, {
 *   label: 'Release', confirmText: 'Release this payment? It will complete.', note: 'required',
 *   run: (note) => releasePayment(id, note),
 * })
 */
export function ConfirmAction(props: {
  label: string
  confirmText: string
  run: (note: string) => Promise<ActionOutcome>
  note?: 'required' | 'optional'
  noteLabel?: string
  danger?: boolean
}) {
  const [open, setOpen] = useState(false)
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<ActionOutcome | null>(null)
  const noteId = useRef(`note-${Math.random().toString(36).slice(2)}`)
  const noteField = useRef<HTMLTextAreaElement>(null)
  const confirmButton = useRef<HTMLButtonElement>(null)

  useEffect(() => {
    if (!open) return
    ;(noteField.current ?? confirmButton.current)?.focus()
  }, [open])

  async function confirm(event: Event) {
    event.preventDefault()
    if (props.note === 'required' && note.trim() === '') {
      setOutcome({ ok: false, message: 'A note is required.' })
      return
    }
    setBusy(true)
    const result = await props.run(note.trim())
    setBusy(false)
    setOutcome(result)
    if (result.ok) {
      setOpen(false)
      setNote('')
    }
  }

  const status = outcome
    ? h('p', { class: outcome.ok ? 'done' : 'error', role: outcome.ok ? 'status' : 'alert' }, outcome.message)
    : null
  if (!open)
    return h(
      'div',
      { class: 'action' },
      h(
        'button',
        {
          type: 'button',
          class: props.danger ? 'danger' : undefined,
          onClick: () => {
            setOutcome(null)
            setOpen(true)
          },
        },
        props.label,
      ),
      status,
    )
  return h(
    'form',
    { class: 'confirm', role: 'group', 'aria-label': props.label, onSubmit: confirm },
    h('p', { class: 'confirm-text' }, props.confirmText),
    props.note
      ? [
          h(
            'label',
            { for: noteId.current },
            props.noteLabel ?? (props.note === 'required' ? 'Note (required)' : 'Note (optional)'),
          ),
          h('textarea', {
            id: noteId.current,
            ref: noteField,
            rows: 2,
            maxLength: 1000,
            value: note,
            onInput: (e: Event) => setNote((e.currentTarget as HTMLTextAreaElement).value),
          }),
        ]
      : null,
    h(
      'div',
      { class: 'confirm-buttons' },
      h(
        'button',
        { type: 'submit', ref: confirmButton, disabled: busy, class: props.danger ? 'danger' : undefined },
        busy ? 'Working…' : `Confirm: ${props.label}`,
      ),
      h('button', { type: 'button', disabled: busy, onClick: () => setOpen(false) }, 'Cancel'),
    ),
    status,
  )
}

/**
 * The outcome of a mutation whose result is a union of a payload and `UserError { code message }`: ok with
 * `doneText`, or refused with the code and message.
 *
 * @example
 * const result = await query(releaseMutation, { id, note })
 * return mutationOutcome(result, 'releasePayment', 'Released.')
 */
export function mutationOutcome(
  result: QueryResult<Record<string, unknown>>,
  field: string,
  doneText: string,
): ActionOutcome {
  if (result.kind === 'signed-out') return { ok: false, message: 'Your session ended.' }
  if (result.kind === 'error') return { ok: false, message: result.message }
  const answer = result.data[field] as { code?: string; message?: string } | null | undefined
  if (answer && typeof answer.code === 'string')
    return { ok: false, message: `${answer.code}: ${answer.message ?? 'refused'}` }
  return { ok: true, message: doneText }
}
