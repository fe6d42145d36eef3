import { h } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { routeHref } from './route.ts'
import {
  type ActionOutcome,
  ConfirmAction,
  Facts,
  type Loaded,
  mutationOutcome,
  type PageProps,
  Time,
} from './ui.ts'
import {
  type Attempt,
  type Delivery,
  deliveriesQuery,
  type Endpoint,
  redeliverMutation,
} from './webhook-api.ts'
import { eventName } from './webhook-form.ts'

type Page = { edges: Array<{ node: Delivery }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }
type Answer = { webhookEndpoints: Endpoint[]; webhookDeliveries: Page }
type Listing = { endpoint: Endpoint | null; deliveries: Delivery[]; next: string | null }

/**
 * A JSON value as indented text, for a `<pre>` (rendered as text, never as markup).
 *
 * @example
 * prettyJson({ type: 'payment.created' }) // '{\n  "type": "payment.created"\n}'
 */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}

function AttemptItem(props: { attempt: Attempt }) {
  const a = props.attempt
  return h(
    'li',
    { class: 'attempt' },
    h(Facts, {
      facts: [
        ['Attempt', String(a.attempt)],
        [
          'Status code',
          a.statusCode === null ? null : h('span', { class: 'attempt-status' }, String(a.statusCode)),
        ],
        ['Latency', `${a.latencyMs} ms`],
        ['Error', a.error === null ? null : h('span', { class: 'attempt-error' }, a.error)],
        ['At', h(Time, { iso: a.createdAt })],
      ],
    }),
    h('p', { class: 'muted' }, 'Response body (first KiB)'),
    a.responseBody === null || a.responseBody === ''
      ? h('p', { class: 'muted' }, 'No body.')
      : h('pre', { class: 'response-body' }, a.responseBody),
  )
}

function DeliveryItem(props: {
  delivery: Delivery
  canWrite: boolean
  redeliver: (id: string) => Promise<ActionOutcome>
}) {
  const d = props.delivery
  return h(
    'li',
    { class: 'delivery' },
    h(Facts, {
      facts: [
        ['Event', h('span', { class: 'delivery-type' }, d.eventType)],
        ['Event id', d.eventId],
        ['Status', h('span', { class: 'delivery-status' }, d.status)],
        ['Attempts', h('span', { class: 'delivery-attempts' }, String(d.attempts))],
        ['Next attempt', d.nextAttemptAt ? h(Time, { iso: d.nextAttemptAt }) : null],
        ['Delivered', d.deliveredAt ? h(Time, { iso: d.deliveredAt }) : null],
      ],
    }),
    h('h3', null, 'Request payload'),
    h('pre', { class: 'payload' }, prettyJson(d.payload)),
    h('h3', null, 'Responses'),
    d.attemptLog.length === 0
      ? h('p', { class: 'muted' }, 'Not attempted yet.')
      : h(
          'ol',
          { class: 'attempts' },
          d.attemptLog.map((a) => h(AttemptItem, { key: a.attempt, attempt: a })),
        ),
    props.canWrite
      ? h(ConfirmAction, {
          label: 'Redeliver',
          confirmText: `Send this ${d.eventType} event again (same event id), with a fresh retry schedule?`,
          run: () => props.redeliver(d.id),
        })
      : null,
  )
}

/**
 * One webhook endpoint's deliveries (`#/webhooks/<endpointId>`), newest first: event type, status, attempts and
 * the next one, the request payload as indented JSON, every attempt's answer (status code, latency, error, the
 * response body as text) and, after a confirmation, "Redeliver".
 *
 * @example
 * h(WebhookDeliveries, { ...pageProps, endpointId: 'whe_…' })
 */
export function WebhookDeliveries(props: PageProps & { endpointId: string }) {
  const { query, endpointId } = props
  const canWrite = props.scopes.has('webhooks:write') || props.scopes.has('admin')
  const [listing, setListing] = useState<Loaded<Listing>>({ state: 'loading' })
  const [more, setMore] = useState<string | null>(null)

  async function load(after: string | null) {
    const result = await query<Answer>(deliveriesQuery, { endpointId, after })
    if (result.kind !== 'data') {
      if (after === null)
        setListing({ state: 'error', message: result.kind === 'error' ? result.message : 'signed out' })
      else setMore(result.kind === 'error' ? result.message : 'signed out')
      return
    }
    const page = result.data.webhookDeliveries
    const fresh = page.edges.map((e) => e.node)
    setMore(null)
    setListing((prev) => ({
      state: 'done',
      value: {
        endpoint: result.data.webhookEndpoints.find((e) => e.id === endpointId) ?? null,
        deliveries: after !== null && prev.state === 'done' ? [...prev.value.deliveries, ...fresh] : fresh,
        next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null,
      },
    }))
  }

  useEffect(() => {
    load(null)
  }, [])

  async function redeliver(id: string): Promise<ActionOutcome> {
    const result = await query<Record<string, unknown>>(redeliverMutation, { id })
    const outcome = mutationOutcome(result, 'redeliverWebhook', 'Queued for delivery again.')
    if (outcome.ok) await load(null)
    return outcome
  }

  const l = listing
  return h(
    'main',
    { class: 'webhook-deliveries' },
    h('p', null, h('a', { href: routeHref('webhooks') }, '← All endpoints')),
    h('h1', null, 'Webhook deliveries'),
    l.state === 'loading'
      ? h('p', { class: 'muted' }, 'Loading deliveries…')
      : l.state === 'error'
        ? h('p', { class: 'error', role: 'alert' }, `Deliveries could not be loaded: ${l.message}`)
        : [
            l.value.endpoint
              ? h(Facts, {
                  key: 'endpoint',
                  facts: [
                    ['Endpoint', h('span', { class: 'endpoint-url' }, l.value.endpoint.url)],
                    ['Events', l.value.endpoint.events.map(eventName).join(', ')],
                    ['Enabled', l.value.endpoint.enabled ? 'Yes' : 'No'],
                  ],
                })
              : null,
            l.value.deliveries.length === 0
              ? h('p', { key: 'none', class: 'muted' }, 'No deliveries yet.')
              : h(
                  'ul',
                  { key: 'list', class: 'cards deliveries' },
                  l.value.deliveries.map((d) =>
                    h(DeliveryItem, { key: d.id, delivery: d, canWrite, redeliver }),
                  ),
                ),
            more
              ? h(
                  'p',
                  { key: 'more-error', class: 'error', role: 'alert' },
                  `More could not be loaded: ${more}`,
                )
              : null,
            l.value.next
              ? h('button', { key: 'more', type: 'button', onClick: () => load(l.value.next) }, 'Load more')
              : null,
          ],
  )
}
