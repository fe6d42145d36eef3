import { h } from 'preact'
import { useState } from 'preact/hooks'
import {
  type ActionOutcome,
  ConfirmAction,
  Facts,
  mutationOutcome,
  type PageProps,
  Show,
  Time,
  useLoaded,
} from './ui.ts'
import { CheckboxGroup } from './webhook-checkboxes.ts'
import { SecretOnce } from './webhook-secret.ts'

type ApiKey = {
  id: string
  name: string
  prefix: string
  scopes: string[]
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
}

const keyFields = 'id name prefix scopes createdAt expiresAt revokedAt'
const keysQuery = `{ me { apiKeys { ${keyFields} } } }`
const createMutation = `mutation ($name: String!, $scopes: [ApiKeyScope!]!, $expiresAt: DateTime) {
  createApiKey(name: $name, scopes: $scopes, expiresAt: $expiresAt) {
    ... on ApiKeyCreated { key apiKey { id name } } ... on UserError { code message field }
  }
}`
const revokeMutation = `mutation ($id: ID!) {
  revokeApiKey(id: $id) { ... on RevokeApiKeyPayload { id } ... on UserError { code message field } }
}`

/**
 * A scope as the API's enum names it, from its name in a session's scopes.
 *
 * @example
 * scopeEnum('payments:read') // 'PAYMENTS_READ'
 */
export function scopeEnum(scope: string): string {
  return scope.replace(':', '_').toUpperCase()
}

/**
 * A scope's name as people read it, from the API's enum value.
 *
 * @example
 * scopeName('WITHDRAWALS_APPROVE') // 'withdrawals:approve'
 */
export function scopeName(enumValue: string): string {
  return enumValue.toLowerCase().replace('_', ':')
}

function KeyCard(props: { apiKey: ApiKey; revoke: (k: ApiKey) => Promise<ActionOutcome> }) {
  const k = props.apiKey
  const expired = k.expiresAt !== null && new Date(k.expiresAt).getTime() <= Date.now()
  const state = k.revokedAt ? 'Revoked' : expired ? 'Expired' : 'Active'
  return h(
    'li',
    { class: 'api-key' },
    h(Facts, {
      facts: [
        ['Name', h('span', { class: 'key-name' }, k.name)],
        ['Prefix', h('code', { class: 'key-prefix' }, k.prefix)],
        ['Scopes', h('span', { class: 'key-scopes' }, k.scopes.map(scopeName).join(', '))],
        ['State', h('span', { class: 'key-state' }, state)],
        ['Created', h(Time, { iso: k.createdAt })],
        ['Expires', k.expiresAt ? h(Time, { iso: k.expiresAt }) : 'Never (until revoked)'],
        ['Revoked', k.revokedAt ? h(Time, { iso: k.revokedAt }) : null],
      ],
    }),
    k.revokedAt
      ? null
      : h(ConfirmAction, {
          label: 'Revoke key',
          confirmText: `Revoke the key “${k.name}” (${k.prefix})? It stops working at once everywhere and its open subscriptions end. This cannot be undone.`,
          danger: true,
          run: () => props.revoke(k),
        }),
  )
}

function CreateKey(props: {
  scopes: ReadonlySet<string>
  onCreated: (name: string, key: string) => void
  query: PageProps['query']
}) {
  const [name, setName] = useState('')
  const [chosen, setChosen] = useState<Set<string>>(new Set())
  const [expires, setExpires] = useState('')
  const [busy, setBusy] = useState(false)
  const [refusal, setRefusal] = useState<string | null>(null)
  // an admin holds every scope, so the session's scopes are the ones a key can be given
  const options = [...props.scopes].map((s) => ({ value: scopeEnum(s), label: s }))

  async function submit(event: Event) {
    event.preventDefault()
    if (chosen.size === 0) return setRefusal('Choose at least one scope.')
    let expiresAt: string | null = null
    if (expires !== '') {
      const at = new Date(expires)
      if (Number.isNaN(at.getTime())) return setRefusal('The expiry is not a date and time.')
      expiresAt = at.toISOString()
    }
    setBusy(true)
    const scopes = options.map((o) => o.value).filter((v) => chosen.has(v))
    const result = await props.query<Record<string, { key?: string }>>(createMutation, {
      name: name.trim(),
      scopes,
      expiresAt,
    })
    setBusy(false)
    const outcome = mutationOutcome(result, 'createApiKey', 'Created.')
    if (!outcome.ok) return setRefusal(`The key was not created: ${outcome.message}`)
    setRefusal(null)
    const key = result.kind === 'data' ? result.data.createApiKey?.key : undefined
    if (key) props.onCreated(name.trim(), key)
    setName('')
    setChosen(new Set())
    setExpires('')
  }

  return h(
    'form',
    { class: 'api-key-form', onSubmit: submit, 'aria-labelledby': 'create-key-title' },
    h('h2', { id: 'create-key-title' }, 'Create a key'),
    h('label', { for: 'api-key-name' }, 'Name'),
    h('input', {
      id: 'api-key-name',
      type: 'text',
      required: true,
      maxLength: 100,
      autocomplete: 'off',
      value: name,
      onInput: (e: Event) => setName((e.currentTarget as HTMLInputElement).value),
    }),
    h(CheckboxGroup, { legend: 'Scopes', name: 'api-key-scope', options, chosen, onChange: setChosen }),
    h('label', { for: 'api-key-expires' }, 'Expires (optional: without it the key works until revoked)'),
    h('input', {
      id: 'api-key-expires',
      type: 'datetime-local',
      value: expires,
      onInput: (e: Event) => setExpires((e.currentTarget as HTMLInputElement).value),
    }),
    refusal ? h('p', { class: 'error', role: 'alert' }, refusal) : null,
    h(
      'div',
      { class: 'confirm-buttons' },
      h('button', { type: 'submit', disabled: busy }, busy ? 'Working…' : 'Create key'),
    ),
  )
}

/**
 * The API keys page (admin): the merchant's keys (name, prefix, scopes, created, expires, revoked), a form that
 * creates one with chosen scopes and an optional expiry and shows the key once, and "Revoke key" after a
 * confirmation.
 *
 * @example
 * h(ApiKeysPage, { query, scopes, merchantName: 'Shop', id: null })
 */
export function ApiKeysPage(props: PageProps) {
  const { query } = props
  const [keys, reload] = useLoaded<{ me: { apiKeys: ApiKey[] } }, ApiKey[]>(query, keysQuery, {}, (d) =>
    [...d.me.apiKeys].sort((a, b) => b.createdAt.localeCompare(a.createdAt)),
  )
  const [shown, setShown] = useState<{ title: string; secret: string } | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const isAdmin = props.scopes.has('admin')

  async function revoke(k: ApiKey): Promise<ActionOutcome> {
    const result = await query<Record<string, unknown>>(revokeMutation, { id: k.id })
    const outcome = mutationOutcome(result, 'revokeApiKey', `The key “${k.name}” is revoked.`)
    if (outcome.ok) {
      // the card loses its button once revoked: the outcome is said at the page's level
      setNotice(outcome.message)
      reload()
    }
    return outcome
  }

  return h(
    'main',
    { class: 'api-keys' },
    h('h1', null, 'API keys'),
    shown ? h(SecretOnce, { ...shown, onDone: () => setShown(null) }) : null,
    notice ? h('p', { class: 'done', role: 'status' }, notice) : null,
    isAdmin
      ? h(CreateKey, {
          scopes: props.scopes,
          query,
          onCreated: (name, key) => {
            setShown({ title: `The new key “${name}”`, secret: key })
            reload()
          },
        })
      : null,
    h(
      'section',
      { 'aria-labelledby': 'keys-title' },
      h('h2', { id: 'keys-title' }, 'Keys'),
      h(Show<ApiKey[]>, {
        loaded: keys,
        what: 'API keys',
        render: (list: ApiKey[]) =>
          list.length === 0
            ? h('p', { class: 'muted' }, 'No keys.')
            : h(
                'ul',
                { class: 'cards api-key-list' },
                list.map((k) => h(KeyCard, { key: k.id, apiKey: k, revoke })),
              ),
      }),
    ),
  )
}
