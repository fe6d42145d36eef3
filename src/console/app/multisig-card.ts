import { type ComponentChildren, h } from 'preact'
import { useRef, useState } from 'preact/hooks'
import { ConfirmAction, Facts, type Query, Time } from './ui.ts'
import { actionOutcome, statusText } from './withdrawal-text.ts'

/** The proposal fields the Multisig page reads. */
export type ProposalView = {
  id: string
  status: string
  chain: string
  asset: { symbol: string }
  amount: string
  wallet: string
  to: string
  destination: string
  threshold: number
  signers: string[]
  signaturesMissing: number
  toSign: string
  txHash: string | null
  failureReason: string | null
  createdAt: string
  updatedAt: string
}

/** The GraphQL selection of ProposalView. */
export const proposalFields = `id status chain asset { symbol } amount wallet to destination threshold signers
  signaturesMissing toSign txHash failureReason createdAt updatedAt`

const signMutation = `mutation ($id: ID!, $signature: String!) {
  addSignature(proposalId: $id, signature: $signature) {
    __typename ... on MultisigProposal { id status signers } ... on UserError { code message }
  }
}`
const cancelMutation = `mutation ($id: ID!) {
  cancelProposal(id: $id) { __typename ... on MultisigProposal { id status } ... on UserError { code message } }
}`

/** What a status means for the people signing, in a sentence. */
const statusNotes: Record<string, string> = {
  SIGNING: 'Waiting for owners’ signatures.',
  READY: 'Enough owners signed: the next payout pass executes it.',
  EXECUTING: 'Its transaction is on its way.',
  CONFIRMED: 'Executed and confirmed.',
  FAILED: 'It could not be executed.',
  CANCELED: 'Canceled before it was executed.',
}

/**
 * How many owners signed of those needed.
 *
 * @example
 * signaturesText({ threshold: 2, signers: ['0xA…'] }) // '1 of 2 signatures'
 */
export function signaturesText(p: Pick<ProposalView, 'threshold' | 'signers'>): string {
  return `${p.signers.length} of ${p.threshold} signature${p.threshold === 1 ? '' : 's'}`
}

/** The payload an owner signs, with a button that copies it where the browser allows. */
function ToSign(props: { id: string; text: string }) {
  const [copied, setCopied] = useState<string | null>(null)
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.text)
      setCopied('Copied.')
    } catch {
      setCopied('The browser did not allow copying: select the text instead.')
    }
  }
  const labelId = `to-sign-${props.id}`
  return h(
    'div',
    { class: 'to-sign' },
    h('p', { id: labelId, class: 'to-sign-label' }, 'What each owner signs'),
    h('pre', { 'aria-labelledby': labelId, class: 'to-sign-text' }, props.text),
    h(
      'div',
      { class: 'action' },
      h('button', { type: 'button', onClick: copy }, 'Copy'),
      copied ? h('span', { role: 'status' }, copied) : null,
    ),
  )
}

/**
 * Adding an owner's signature: the signature (or signed PSBT) goes in a field of its own (a PSBT is longer than a
 * confirmation note may be), then a confirmation step sends it.
 */
function AddSignature(props: { p: ProposalView; query: Query; onChanged: () => void }) {
  const { p } = props
  const [signature, setSignature] = useState('')
  const fieldId = useRef(`signature-${p.id}`)
  async function run() {
    const value = signature.trim()
    if (value === '') return { ok: false, message: 'Paste the owner’s signature first.' } as const
    const result = await props.query<Record<string, unknown>>(signMutation, { id: p.id, signature: value })
    const outcome = actionOutcome(result, 'addSignature', 'Signature added.')
    if (!outcome.ok || result.kind !== 'data') return outcome
    const answer = result.data.addSignature as { status: string; signers: string[] }
    setSignature('')
    props.onChanged()
    if (answer.signers.length === p.signers.length)
      return { ok: true, message: 'That owner had already signed: nothing changed.' } as const
    return {
      ok: true,
      message:
        answer.status === 'READY'
          ? `Signature added: ${signaturesText({ threshold: p.threshold, signers: answer.signers })}. The next payout pass executes it.`
          : `Signature added: ${signaturesText({ threshold: p.threshold, signers: answer.signers })}.`,
    } as const
  }
  return h(
    'div',
    { class: 'add-signature' },
    h('label', { for: fieldId.current }, 'Owner’s signature (hex) or signed PSBT (base64)'),
    h('textarea', {
      id: fieldId.current,
      rows: 3,
      spellcheck: false,
      autocomplete: 'off',
      value: signature,
      onInput: (e: Event) => setSignature((e.currentTarget as HTMLTextAreaElement).value),
    }),
    h(ConfirmAction, {
      label: 'Add signature',
      confirmText: `Add this signature to the transfer of ${p.amount} ${p.asset.symbol} to ${p.to}? The gateway checks it is an owner’s signature of this proposal.`,
      run,
    }),
  )
}

/**
 * One multisig proposal: wallet, destination, amount, signatures collected of the threshold, the payload to sign,
 * and (while it is not executed) adding a signature and canceling it, each through a confirmation step. Execution
 * is the payout pass's: a READY proposal shows that, then its transaction.
 *
 * @example
 * h(ProposalCard, { p, query, onChanged: reload })
 */
export function ProposalCard(props: { p: ProposalView; query: Query; onChanged: () => void }) {
  const { p } = props
  const facts: Array<[string, ComponentChildren]> = [
    [
      'Status',
      h(
        'span',
        null,
        h('span', { class: 'proposal-status' }, statusText(p.status)),
        statusNotes[p.status] ? ` — ${statusNotes[p.status]}` : '',
      ),
    ],
    ['Amount', `${p.amount} ${p.asset.symbol} on ${p.chain}`],
    ['Wallet', h('code', null, p.wallet)],
    ['To', h('span', null, h('code', { class: 'proposal-to' }, p.to), ` (${p.destination})`)],
    [
      'Signatures',
      h(
        'div',
        null,
        h(
          'p',
          { class: 'signatures' },
          `${signaturesText(p)}${p.status === 'SIGNING' && p.signaturesMissing > 0 ? `, ${p.signaturesMissing} missing` : ''}`,
        ),
        p.signers.length > 0
          ? h(
              'ul',
              { class: 'signers' },
              p.signers.map((s) => h('li', { key: s }, h('code', null, s))),
            )
          : null,
      ),
    ],
    ['Proposed', h(Time, { iso: p.createdAt })],
  ]
  if (p.txHash) facts.push(['Transaction', h('code', { class: 'proposal-tx' }, p.txHash)])
  if (p.failureReason) facts.push(['Failure', p.failureReason])
  const open = p.status === 'SIGNING' || p.status === 'READY'
  return h(
    'article',
    { class: 'proposal', 'aria-label': `Proposal ${p.id}` },
    h('p', { class: 'proposal-id' }, h('code', null, p.id)),
    h(Facts, { facts }),
    p.status === 'SIGNING' ? h(ToSign, { id: p.id, text: p.toSign }) : null,
    p.status === 'SIGNING' ? h(AddSignature, { p, query: props.query, onChanged: props.onChanged }) : null,
    open
      ? h(ConfirmAction, {
          label: 'Cancel proposal',
          danger: true,
          confirmText: `Cancel the transfer of ${p.amount} ${p.asset.symbol} to ${p.to}? Signatures collected are dropped; a new proposal starts again from none.`,
          run: async () => {
            const outcome = actionOutcome(
              await props.query<Record<string, unknown>>(cancelMutation, { id: p.id }),
              'cancelProposal',
              'Proposal canceled.',
            )
            if (outcome.ok) props.onChanged()
            return outcome
          },
        })
      : null,
  )
}
