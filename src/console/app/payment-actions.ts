import { h } from 'preact'
import { useRef, useState } from 'preact/hooks'
import type { QueryResult } from './api.ts'
import { randomKey } from './payment-text.ts'
import { type ActionOutcome, ConfirmAction, mutationOutcome, type Query } from './ui.ts'

// What can be done to one payment from its page, each through a confirmation step and only shown to roles whose
// scopes allow it (the API refuses the rest anyway): cancel a pending payment, refund its buyer, resolve an
// exception by accepting it or refunding it.

/** What the actions need to know of the payment. */
export type ActionablePayment = {
  id: string
  status: string
  exception: string | null
  asset: { symbol: string }
  refundable: { credited: string; overpaid: string; uncredited: string }
}

const cancelMutation = `mutation ($id: ID!) {
  cancelPayment(id: $id) { ... on Payment { id status } ... on UserError { code message } }
}`
const refundMutation = `mutation ($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    ... on RefundPaymentPayload { refund { id status to refundUrl amount } }
    ... on UserError { code message }
  }
}`
const resolveMutation = `mutation ($input: ResolvePaymentInput!) {
  resolvePayment(input: $input) {
    ... on ResolvePaymentPayload { payment { id status resolution } refund { id status to refundUrl amount } }
    ... on UserError { code message }
  }
}`

type RefundAnswer = {
  id: string
  status: string
  to: string | null
  refundUrl: string | null
  amount: string
}

/** A created refund in words: where the money goes, or the link to send the buyer. */
function refundText(refund: RefundAnswer | null | undefined, symbol: string): string {
  if (!refund) return 'Resolved.'
  const what = `Refund of ${refund.amount} ${symbol} created (${refund.status.toLowerCase().replaceAll('_', ' ')})`
  if (refund.to) return `${what}, to ${refund.to}.`
  return refund.refundUrl
    ? `${what}. Send the buyer this link to enter their address: ${refund.refundUrl}`
    : `${what}.`
}

/** The outcome of a mutation answering a refund somewhere in its payload. */
function refundOutcome(
  result: QueryResult<Record<string, unknown>>,
  field: string,
  refundOf: (payload: Record<string, unknown>) => RefundAnswer | null | undefined,
  symbol: string,
): ActionOutcome {
  const outcome = mutationOutcome(result, field, '')
  if (!outcome.ok || result.kind !== 'data') return outcome
  return { ok: true, message: refundText(refundOf(result.data[field] as Record<string, unknown>), symbol) }
}

/**
 * Hands a finished action's words to the page (which shows them in its one live region and reads the payment
 * again: the button may be gone by then); the confirmation step itself then shows only refusals.
 */
function handOver(outcome: ActionOutcome, onDone: (message: string) => void): ActionOutcome {
  if (!outcome.ok) return outcome
  onDone(outcome.message)
  return { ok: true, message: '' }
}

const nonZero = (amount: string) => /[1-9]/.test(amount)

/** A labelled text field of an action's form. */
function Field(props: {
  id: string
  label: string
  hint: string
  value: string
  onInput: (v: string) => void
}) {
  return [
    h('label', { key: 'l', for: props.id }, props.label),
    h('p', { key: 'h', class: 'hint', id: `${props.id}-hint` }, props.hint),
    h('input', {
      key: 'i',
      id: props.id,
      type: 'text',
      autocomplete: 'off',
      spellcheck: false,
      maxLength: 200,
      'aria-describedby': `${props.id}-hint`,
      value: props.value,
      onInput: (e: Event) => props.onInput((e.currentTarget as HTMLInputElement).value),
    }),
  ]
}

function RefundAction(props: {
  payment: ActionablePayment
  query: Query
  onDone: (message: string) => void
}) {
  const [amount, setAmount] = useState('')
  const [to, setTo] = useState('')
  // one key per refund meant: a retry after a lost answer cannot refund twice; a refused one changed nothing
  const key = useRef(randomKey())
  const { payment } = props
  const symbol = payment.asset.symbol
  const amountText = amount.trim() === '' ? 'all that is refundable' : `${amount.trim()} ${symbol}`
  const toText = to.trim() === '' ? 'through a refund link for the buyer' : `to ${to.trim()}`

  async function run(reason: string): Promise<ActionOutcome> {
    const input: Record<string, unknown> = { paymentId: payment.id, idempotencyKey: key.current }
    if (amount.trim() !== '') input.amount = amount.trim()
    if (to.trim() !== '') input.to = to.trim()
    if (reason !== '') input.reason = reason
    const result = await props.query<Record<string, unknown>>(refundMutation, { input })
    const outcome = refundOutcome(
      result,
      'refundPayment',
      (p) => p.refund as RefundAnswer | undefined,
      symbol,
    )
    if (outcome.ok) {
      key.current = randomKey()
      setAmount('')
      setTo('')
    }
    return handOver(outcome, props.onDone)
  }

  return h(
    'section',
    { class: 'refund', 'aria-labelledby': 'refund-title' },
    h('h3', { id: 'refund-title' }, 'Refund the buyer'),
    h(
      'p',
      { class: 'muted' },
      `Refundable: ${payment.refundable.credited} ${symbol} credited (of it ${payment.refundable.overpaid} overpaid), ${payment.refundable.uncredited} ${symbol} never credited.`,
    ),
    Field({
      id: 'refund-amount',
      label: `Amount in ${symbol} (optional)`,
      hint: 'Leave empty to refund all that is refundable.',
      value: amount,
      onInput: setAmount,
    }),
    Field({
      id: 'refund-to',
      label: "Buyer's address (optional)",
      hint: 'Leave empty to get a refund link the buyer enters their address on.',
      value: to,
      onInput: setTo,
    }),
    h(ConfirmAction, {
      label: 'Refund',
      confirmText: `Refund ${amountText} ${toText}? The money leaves your funds.`,
      note: 'optional',
      noteLabel: 'Reason (optional, kept in the audit log)',
      danger: true,
      run,
    }),
  )
}

function ResolveActions(props: {
  payment: ActionablePayment
  query: Query
  scopes: ReadonlySet<string>
  onDone: (message: string) => void
}) {
  const [to, setTo] = useState('')
  const key = useRef(randomKey())
  const { payment } = props
  const symbol = payment.asset.symbol

  async function resolve(input: Record<string, unknown>): Promise<ActionOutcome> {
    const result = await props.query<Record<string, unknown>>(resolveMutation, {
      input: { paymentId: payment.id, ...input },
    })
    const outcome = refundOutcome(
      result,
      'resolvePayment',
      (p) => p.refund as RefundAnswer | null | undefined,
      symbol,
    )
    if (outcome.ok) key.current = randomKey()
    return handOver(outcome, props.onDone)
  }

  const canAccept = props.scopes.has('payments:write')
  const canRefund = props.scopes.has('withdrawals:write')
  return h(
    'section',
    { class: 'resolve', 'aria-labelledby': 'resolve-title' },
    h('h3', { id: 'resolve-title' }, 'Resolve the exception'),
    h(
      'p',
      { class: 'muted' },
      'Accept what arrived as paid (it is credited), or refund what was never credited to the buyer.',
    ),
    canAccept
      ? h(ConfirmAction, {
          label: 'Resolve: accept as paid',
          confirmText: 'Accept this payment as paid? What arrived is credited to your balance.',
          run: () => resolve({ action: 'ACCEPT' }),
        })
      : null,
    canRefund
      ? [
          Field({
            id: 'resolve-to',
            label: "Buyer's address for the refund (optional)",
            hint: 'Leave empty to get a refund link the buyer enters their address on.',
            value: to,
            onInput: setTo,
          }),
          h(ConfirmAction, {
            key: 'refund',
            label: 'Resolve: refund',
            confirmText: `Refund what was never credited ${to.trim() === '' ? 'through a refund link for the buyer' : `to ${to.trim()}`}?`,
            note: 'optional',
            noteLabel: 'Reason (optional, kept in the audit log)',
            danger: true,
            run: (reason) =>
              resolve({
                action: 'REFUND',
                idempotencyKey: key.current,
                ...(to.trim() === '' ? {} : { to: to.trim() }),
                ...(reason === '' ? {} : { reason }),
              }),
          }),
        ]
      : null,
  )
}

/**
 * The actions the user's scopes allow on `payment`: "Cancel payment" while PENDING (payments:write), "Refund"
 * while something is refundable (withdrawals:write), and for an exception "Resolve: accept as paid"
 * (payments:write) and "Resolve: refund" (withdrawals:write). Each asks for confirmation; `onDone` gets what a
 * finished action did (the page then reads the payment again). Nothing when none is allowed.
 *
 * @example
 * h(PaymentActions, { payment, query, scopes, onDone: (message) => { setNotice(message); reload() } })
 */
export function PaymentActions(props: {
  payment: ActionablePayment
  query: Query
  scopes: ReadonlySet<string>
  onDone: (message: string) => void
}) {
  const { payment, scopes } = props
  const cancel =
    payment.status === 'PENDING' && scopes.has('payments:write')
      ? h(ConfirmAction, {
          label: 'Cancel payment',
          confirmText:
            'Cancel this payment? The buyer can no longer pay it; funds sent anyway become an exception to refund or accept.',
          danger: true,
          run: async () => {
            const outcome = mutationOutcome(
              await props.query<Record<string, unknown>>(cancelMutation, { id: payment.id }),
              'cancelPayment',
              'Payment canceled.',
            )
            return handOver(outcome, props.onDone)
          },
        })
      : null
  const r = payment.refundable
  const refund =
    scopes.has('withdrawals:write') && (nonZero(r.credited) || nonZero(r.uncredited))
      ? h(RefundAction, { payment, query: props.query, onDone: props.onDone })
      : null
  const resolve =
    payment.exception && (scopes.has('payments:write') || scopes.has('withdrawals:write'))
      ? h(ResolveActions, props)
      : null
  if (!cancel && !refund && !resolve) return null
  return h(
    'section',
    { class: 'payment-actions', 'aria-labelledby': 'actions-title' },
    h('h2', { id: 'actions-title' }, 'Actions'),
    cancel,
    resolve,
    refund,
  )
}
