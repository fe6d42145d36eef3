import { h } from 'preact'
import { useState } from 'preact/hooks'
import { routeHref } from './route.ts'
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
import {
  createEndpointMutation,
  deleteEndpointMutation,
  type Endpoint,
  endpointsQuery,
  overlapChoices,
  rotateSecretMutation,
  updateEndpointMutation,
} from './webhook-api.ts'
import { WebhookDeliveries } from './webhook-deliveries.ts'
import { EndpointForm, type EndpointValues, eventName } from './webhook-form.ts'
import { SecretOnce } from './webhook-secret.ts'

type Listing = { endpoints: Endpoint[]; eventTypes: string[] }
type Shown = { title: string; secret: string }
type WithSecret = { secret?: string; endpoint?: { url: string } }

function RotateSecret(props: {
  endpoint: Endpoint
  rotate: (overlapSeconds: number) => Promise<ActionOutcome>
}) {
  const [overlap, setOverlap] = useState(overlapChoices[0]?.seconds ?? 86_400)
  const selectId = `overlap-${props.endpoint.id}`
  const chosen = overlapChoices.find((c) => c.seconds === overlap)
  return h(
    'div',
    { class: 'rotate' },
    h('label', { for: selectId }, 'After rotating, the old secret keeps signing for'),
    h(
      'select',
      {
        id: selectId,
        value: String(overlap),
        onChange: (e: Event) => setOverlap(Number((e.currentTarget as HTMLSelectElement).value)),
      },
      overlapChoices.map((c) => h('option', { key: c.seconds, value: String(c.seconds) }, c.label)),
    ),
    h(ConfirmAction, {
      label: 'Rotate secret',
      confirmText:
        overlap === 0
          ? 'Make a new signing secret? The old one stops signing at once: the receiver must switch now.'
          : `Make a new signing secret? The old one keeps signing too for ${chosen?.label.replace(' (default)', '') ?? `${overlap} seconds`}.`,
      run: () => props.rotate(overlap),
    }),
  )
}

function EndpointCard(props: {
  endpoint: Endpoint
  eventTypes: string[]
  canWrite: boolean
  onChanged: () => void
  onSecret: (shown: Shown) => void
  onDeleted: (message: string) => void
  query: PageProps['query']
}) {
  const { endpoint: e, query } = props
  const [editing, setEditing] = useState(false)

  async function save(values: EndpointValues): Promise<string | null> {
    const result = await query<Record<string, unknown>>(updateEndpointMutation, {
      id: e.id,
      input: {
        url: values.url,
        description: values.description,
        events: values.events,
        enabled: values.enabled,
      },
    })
    const outcome = mutationOutcome(result, 'updateWebhookEndpoint', 'Saved.')
    if (!outcome.ok) return `The endpoint was not changed: ${outcome.message}`
    setEditing(false)
    props.onChanged()
    return null
  }

  async function rotate(overlapSeconds: number): Promise<ActionOutcome> {
    const result = await query<Record<string, WithSecret>>(rotateSecretMutation, { id: e.id, overlapSeconds })
    const outcome = mutationOutcome(result, 'rotateWebhookSecret', 'The secret was rotated.')
    const secret = result.kind === 'data' ? result.data.rotateWebhookSecret?.secret : undefined
    if (outcome.ok && secret) props.onSecret({ title: `New signing secret of ${e.url}`, secret })
    return outcome
  }

  async function remove(): Promise<ActionOutcome> {
    const result = await query<Record<string, unknown>>(deleteEndpointMutation, { id: e.id })
    const outcome = mutationOutcome(result, 'deleteWebhookEndpoint', `The endpoint ${e.url} is deleted.`)
    if (outcome.ok) props.onDeleted(outcome.message)
    return outcome
  }

  return h(
    'li',
    { class: 'endpoint' },
    h(Facts, {
      facts: [
        ['URL', h('span', { class: 'endpoint-url' }, e.url)],
        ['Description', e.description],
        ['Events', h('span', { class: 'endpoint-events' }, e.events.map(eventName).join(', '))],
        ['Enabled', h('span', { class: 'endpoint-enabled' }, e.enabled ? 'Yes' : 'No')],
        ['Failing since', e.failingSince ? h(Time, { iso: e.failingSince }) : null],
        ['Created', h(Time, { iso: e.createdAt })],
      ],
    }),
    h('p', null, h('a', { href: routeHref('webhooks', e.id) }, 'Deliveries and attempts')),
    props.canWrite
      ? editing
        ? h(EndpointForm, {
            idPrefix: `edit-${e.id}`,
            eventTypes: props.eventTypes,
            initial: { url: e.url, description: e.description ?? '', events: e.events, enabled: e.enabled },
            editing: true,
            submitLabel: 'Save endpoint',
            onSubmit: save,
            onCancel: () => setEditing(false),
          })
        : [
            h(
              'div',
              { key: 'edit', class: 'action' },
              h('button', { type: 'button', onClick: () => setEditing(true) }, 'Edit'),
            ),
            h(RotateSecret, { key: 'rotate', endpoint: e, rotate }),
            h(ConfirmAction, {
              key: 'delete',
              label: 'Delete endpoint',
              confirmText: `Delete the endpoint ${e.url}? Its pending deliveries are given up and nothing more is sent to it.`,
              danger: true,
              run: remove,
            }),
          ]
      : null,
  )
}

/**
 * The Webhooks page: the merchant's endpoints (URL, events, enabled, created) to add, edit, rotate the signing
 * secret of and delete (rotation and deletion after a confirmation), and at `#/webhooks/<endpointId>` one
 * endpoint's deliveries. A signing secret shows once, right after the endpoint is added or its secret rotated.
 *
 * @example
 * h(WebhooksPage, { query, scopes, merchantName: 'Shop', id: null })
 */
export function WebhooksPage(props: PageProps) {
  if (props.id !== null) return h(WebhookDeliveries, { ...props, endpointId: props.id })
  return h(EndpointsList, props)
}

function EndpointsList(props: PageProps) {
  const { query } = props
  const canWrite = props.scopes.has('webhooks:write') || props.scopes.has('admin')
  const [listing, reload] = useLoaded<{ webhookEndpoints: Endpoint[]; webhookEventTypes: string[] }, Listing>(
    query,
    endpointsQuery,
    {},
    (d) => ({ endpoints: d.webhookEndpoints, eventTypes: d.webhookEventTypes }),
  )
  const [shown, setShown] = useState<Shown | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  async function add(values: EndpointValues): Promise<string | null> {
    const input = { url: values.url, events: values.events, description: values.description || null }
    const result = await query<Record<string, WithSecret>>(createEndpointMutation, { input })
    const outcome = mutationOutcome(result, 'createWebhookEndpoint', 'Added.')
    if (!outcome.ok) return `The endpoint was not added: ${outcome.message}`
    const created = result.kind === 'data' ? result.data.createWebhookEndpoint : undefined
    if (created?.secret)
      setShown({ title: `Signing secret of ${created.endpoint?.url ?? values.url}`, secret: created.secret })
    reload()
    return null
  }

  return h(
    'main',
    { class: 'webhooks' },
    h('h1', null, 'Webhooks'),
    shown ? h(SecretOnce, { ...shown, onDone: () => setShown(null) }) : null,
    notice ? h('p', { class: 'done', role: 'status' }, notice) : null,
    h(Show<Listing>, {
      loaded: listing,
      what: 'Webhook endpoints',
      render: (l: Listing) => [
        h(
          'section',
          { key: 'list', 'aria-labelledby': 'endpoints-title' },
          h('h2', { id: 'endpoints-title' }, 'Endpoints'),
          l.endpoints.length === 0
            ? h('p', { class: 'muted' }, 'No endpoints yet.')
            : h(
                'ul',
                { class: 'cards endpoints' },
                l.endpoints.map((e) =>
                  h(EndpointCard, {
                    key: e.id,
                    endpoint: e,
                    eventTypes: l.eventTypes,
                    canWrite,
                    onChanged: reload,
                    onSecret: setShown,
                    onDeleted: (message: string) => {
                      // the card goes with the endpoint: the outcome is said at the page's level
                      setNotice(message)
                      reload()
                    },
                    query,
                  }),
                ),
              ),
        ),
        canWrite
          ? h(
              'section',
              { key: 'add', 'aria-labelledby': 'add-endpoint-title' },
              h('h2', { id: 'add-endpoint-title' }, 'Add an endpoint'),
              h(EndpointForm, {
                idPrefix: 'new-endpoint',
                eventTypes: l.eventTypes,
                submitLabel: 'Add endpoint',
                onSubmit: add,
              }),
            )
          : null,
      ],
    }),
  )
}
