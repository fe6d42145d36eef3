import { h } from 'preact'
import { useContext, useState } from 'preact/hooks'
import {
  type ActionOutcome,
  ConfirmAction,
  Facts,
  mutationOutcome,
  type PageProps,
  type Query,
  Show,
  SignedInActor,
  useLoaded,
} from './ui.ts'

type Member = {
  id: string
  email: string
  name: string
  roles: string[]
  totpEnabled: boolean
  disabled: boolean
}

/** The console's roles, as the API names them, with what each lets a person do at the merchant. */
const roles: ReadonlyArray<{ role: string; does: string }> = [
  { role: 'viewer', does: 'reads payments and withdrawals' },
  { role: 'operator', does: 'also takes payments, refunds, requests withdrawals, manages webhooks' },
  { role: 'approver', does: 'reads, and approves or rejects withdrawals' },
  { role: 'compliance', does: 'reads, and reviews held payments and deposits' },
  { role: 'admin', does: 'everything, including API keys, people and the audit log' },
]

const memberFields = 'id email name roles totpEnabled disabled'
const membersQuery = `{ consoleMembers { ${memberFields} } }`
const addMutation = `mutation ($input: AddConsoleMemberInput!) {
  addConsoleMember(input: $input) {
    ... on AddConsoleMemberPayload { member { ${memberFields} } } ... on UserError { code message field }
  }
}`
const removeMutation = `mutation ($input: RemoveConsoleRoleInput!) {
  removeConsoleRole(input: $input) {
    ... on RemoveConsoleRolePayload { userId role } ... on UserError { code message field }
  }
}`

/**
 * A random password for a new person (20 characters from 62, about 119 bits), made in the browser: the admin may
 * use it rather than think one up.
 *
 * @example
 * randomPassword() // 'q3ZtR8xw0LbNv2Kc7YpA'
 */
export function randomPassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const out: string[] = []
  // rejection sampling: bytes past the last whole multiple of 62 would favour the first letters
  while (out.length < 20)
    for (const byte of crypto.getRandomValues(new Uint8Array(32)))
      if (byte < 248 && out.length < 20) out.push(alphabet[byte % 62] as string)
  return out.join('')
}

function MemberCard(props: {
  member: Member
  isAdmin: boolean
  merchantName: string | null
  remove: (m: Member, role: string) => Promise<ActionOutcome>
}) {
  const m = props.member
  const me = useContext(SignedInActor)
  const here = props.merchantName ? `at ${props.merchantName}` : 'here'
  const yourself = me === `user:${m.id}` ? ' This is you: you lose what it lets you do here.' : ''
  return h(
    'li',
    { class: 'member' },
    h(Facts, {
      facts: [
        ['Name', h('span', { class: 'member-name' }, m.name)],
        ['Email', h('span', { class: 'member-email' }, m.email)],
        [
          'Roles',
          h(
            'ul',
            { class: 'actions member-roles', 'aria-label': `Roles of ${m.name}` },
            m.roles.map((role) => h('li', { key: role, class: 'chip role-chip' }, role)),
          ),
        ],
        ['Two-factor', h('span', { class: 'member-totp' }, m.totpEnabled ? 'On' : 'Off')],
        ['Sign-in', h('span', { class: 'member-state' }, m.disabled ? 'Disabled' : 'Allowed')],
      ],
    }),
    props.isAdmin
      ? m.roles.map((role) =>
          h(ConfirmAction, {
            key: role,
            label: `Remove role ${role}`,
            confirmText: `Take the ${role} role ${here} back from “${m.name}” (${m.email})? What it lets them do here stops at their next request; their other roles stay.${yourself}`,
            danger: true,
            run: () => props.remove(m, role),
          }),
        )
      : null,
  )
}

function AddPerson(props: { query: Query; onAdded: (m: Member, role: string) => void }) {
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [role, setRole] = useState('viewer')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const [refusal, setRefusal] = useState<string | null>(null)
  const field = (id: string, label: string, value: string, set: (v: string) => void, extra = {}) => [
    h('label', { for: id, key: `${id}-label` }, label),
    h('input', {
      id,
      key: id,
      type: 'text',
      required: true,
      autocomplete: 'off',
      value,
      onInput: (e: Event) => set((e.currentTarget as HTMLInputElement).value),
      ...extra,
    }),
  ]

  async function submit(event: Event) {
    event.preventDefault()
    setBusy(true)
    const result = await props.query<Record<string, { member?: Member }>>(addMutation, {
      input: { email: email.trim(), name: name.trim(), role, password },
    })
    setBusy(false)
    const outcome = mutationOutcome(result, 'addConsoleMember', 'Added.')
    if (!outcome.ok) return setRefusal(`The person was not added: ${outcome.message}`)
    setRefusal(null)
    const member = result.kind === 'data' ? result.data.addConsoleMember?.member : undefined
    if (member) props.onAdded(member, role)
    // the password leaves the page with the form: nothing shows it again
    setEmail('')
    setName('')
    setPassword('')
  }

  return h(
    'form',
    { class: 'person-form', onSubmit: submit, 'aria-labelledby': 'add-person-title' },
    h('h2', { id: 'add-person-title' }, 'Add a person'),
    field('person-email', 'Email', email, setEmail, { type: 'email', maxLength: 254, spellcheck: false }),
    field('person-name', 'Name', name, setName, { maxLength: 100 }),
    h('label', { for: 'person-role' }, 'Role'),
    h(
      'select',
      {
        id: 'person-role',
        value: role,
        onChange: (e: Event) => setRole((e.currentTarget as HTMLSelectElement).value),
      },
      roles.map((r) => h('option', { key: r.role, value: r.role }, `${r.role}: ${r.does}`)),
    ),
    field('person-password', 'Initial password', password, setPassword, {
      minLength: 12,
      maxLength: 200,
      spellcheck: false,
      'aria-describedby': 'person-password-note',
    }),
    h(
      'p',
      { class: 'hint', id: 'person-password-note' },
      'At least 12 characters. Pass it on to them yourself: it is not shown again after adding. They should ' +
        'change it on “Your account” after their first sign-in. If the email has a console account already, ' +
        'they keep their own name and password and only gain the role here.',
    ),
    h(
      'div',
      { class: 'confirm-buttons' },
      h('button', { type: 'button', onClick: () => setPassword(randomPassword()) }, 'Suggest a password'),
      h('button', { type: 'submit', disabled: busy }, busy ? 'Working…' : 'Add person'),
    ),
    refusal ? h('p', { class: 'error', role: 'alert' }, refusal) : null,
  )
}

/**
 * The People page (admin): who uses the console for the merchant (name, email, roles here, two-factor, whether
 * they may sign in), a form that adds a person with a role and an initial password (a new user, or the role for
 * someone with a console account already), and "Remove role" for each role after a confirmation. The API refuses
 * taking the last admin's role, in words shown beside the button.
 *
 * @example
 * h(PeoplePage, { query, live, scopes, merchantId, merchantName: 'Shop', id: null })
 */
export function PeoplePage(props: PageProps) {
  const { query } = props
  const [members, reload] = useLoaded<{ consoleMembers: Member[] }, Member[]>(
    query,
    membersQuery,
    {},
    (d) => d.consoleMembers,
  )
  const [notice, setNotice] = useState<string | null>(null)
  const isAdmin = props.scopes.has('admin')

  async function remove(m: Member, role: string): Promise<ActionOutcome> {
    const result = await query<Record<string, unknown>>(removeMutation, { input: { userId: m.id, role } })
    const outcome = mutationOutcome(
      result,
      'removeConsoleRole',
      `“${m.name}” no longer holds the ${role} role here.`,
    )
    if (outcome.ok) {
      // the button goes with the role (the card too, with the last role): the outcome is said at the page's level
      setNotice(outcome.message)
      reload()
    }
    return outcome
  }

  return h(
    'main',
    { class: 'people' },
    h('h1', null, 'People'),
    notice ? h('p', { class: 'done', role: 'status' }, notice) : null,
    isAdmin
      ? h(AddPerson, {
          query,
          onAdded: (m, role) => {
            setNotice(`“${m.name}” (${m.email}) holds the ${role} role here now.`)
            reload()
          },
        })
      : null,
    h(
      'section',
      { 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title' }, 'Members'),
      h(Show<Member[]>, {
        loaded: members,
        what: 'People',
        render: (list: Member[]) =>
          list.length === 0
            ? h('p', { class: 'muted' }, 'Nobody holds a role here.')
            : h(
                'ul',
                { class: 'cards one-column member-list' },
                list.map((m) =>
                  h(MemberCard, { key: m.id, member: m, isAdmin, merchantName: props.merchantName, remove }),
                ),
              ),
      }),
    ),
  )
}
