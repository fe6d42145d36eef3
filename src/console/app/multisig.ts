import { h } from 'preact'
import { useState } from 'preact/hooks'
import { ProposalCard, type ProposalView, proposalFields } from './multisig-card.ts'
import type { PageProps } from './ui.ts'
import { PagedList } from './withdrawal-paging.ts'
import { statusText } from './withdrawal-text.ts'

const statuses = ['SIGNING', 'READY', 'EXECUTING', 'CONFIRMED', 'FAILED', 'CANCELED'] as const

const listQuery = `query ($first: Int!, $after: String, $status: MultisigStatus) {
  multisigProposals(first: $first, after: $after, status: $status) {
    edges { node { ${proposalFields} } } pageInfo { hasNextPage endCursor }
  }
}`

/**
 * The Multisig proposals page (admin): transfers out of a chain's multisig cold wallet, newest first, filtered by
 * status, each with the signatures collected, the payload owners sign, adding a signature and canceling. There is
 * no Execute button: the payout pass executes a proposal once it has enough signatures (READY), and the page
 * shows its transaction then.
 *
 * @example
 * h(MultisigPage, pageProps)
 */
export function MultisigPage(props: PageProps) {
  const [status, setStatus] = useState('')
  const [round, setRound] = useState(0)
  return h(
    'main',
    { class: 'multisig' },
    h('h1', null, 'Multisig proposals'),
    h(
      'p',
      { class: 'muted' },
      'Each owner signs the payload shown with their own wallet (or tollgate multisig sign, tollgate psbt sign) and pastes the signature here. Once enough owners signed, a proposal is ready and the gateway’s next payout pass executes it: there is nothing more to press.',
    ),
    h('label', { for: 'proposal-status' }, 'Status'),
    h(
      'select',
      {
        id: 'proposal-status',
        value: status,
        onChange: (e: Event) => setStatus((e.currentTarget as HTMLSelectElement).value),
      },
      h('option', { value: '' }, 'all'),
      statuses.map((s) => h('option', { key: s, value: s }, statusText(s))),
    ),
    h(PagedList<ProposalView>, {
      query: props.query,
      text: listQuery,
      field: 'multisigProposals',
      variables: { status: status === '' ? null : status },
      reloadKey: round,
      label: 'Proposals',
      empty: status === '' ? 'No proposals yet.' : `No proposal is ${statusText(status)}.`,
      render: (p) => h(ProposalCard, { p, query: props.query, onChanged: () => setRound((r) => r + 1) }),
    }),
  )
}
