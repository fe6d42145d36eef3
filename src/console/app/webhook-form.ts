import { h } from 'preact'
import { useState } from 'preact/hooks'
import { CheckboxGroup } from './webhook-checkboxes.ts'

/**
 * An event type as the gateway names it in payloads, from its GraphQL enum value.
 *
 * @example
 * eventName('PAYMENT_PARTIALLY_PAID') // 'payment.partially_paid'
 */
export function eventName(enumValue: string): string {
  return enumValue.toLowerCase().replace('_', '.')
}

/** What the endpoint form submits: the GraphQL input's fields (events as enum values). */
export type EndpointValues = { url: string; description: string; events: string[]; enabled: boolean }

/**
 * The form that adds or edits a webhook endpoint: its URL, an optional description, the event types it wants
 * (grouped by what they are about) and, when editing, whether it is enabled. `onSubmit` answers null when the
 * API took it, or the refusal in words, shown in an alert; the URL is judged by the API (http or https, no
 * credentials, a public host), never by the page alone.
 *
 * @example
 * h(EndpointForm, { idPrefix: 'new', eventTypes, submitLabel: 'Add endpoint', onSubmit: add })
 */
export function EndpointForm(props: {
  idPrefix: string
  eventTypes: readonly string[]
  initial?: EndpointValues
  editing?: boolean
  submitLabel: string
  onSubmit: (values: EndpointValues) => Promise<string | null>
  onCancel?: () => void
}) {
  const start = props.initial ?? { url: '', description: '', events: [], enabled: true }
  const [url, setUrl] = useState(start.url)
  const [description, setDescription] = useState(start.description)
  const [events, setEvents] = useState<Set<string>>(new Set(start.events))
  const [enabled, setEnabled] = useState(start.enabled)
  const [busy, setBusy] = useState(false)
  const [refusal, setRefusal] = useState<string | null>(null)
  const id = (name: string) => `${props.idPrefix}-${name}`

  const groups = new Map<string, string[]>()
  for (const value of props.eventTypes) {
    const group = eventName(value).split('.')[0] ?? value
    groups.set(group, [...(groups.get(group) ?? []), value])
  }

  async function submit(event: Event) {
    event.preventDefault()
    if (events.size === 0) return setRefusal('Choose at least one event to send.')
    setBusy(true)
    setRefusal(null)
    const ordered = props.eventTypes.filter((t) => events.has(t))
    const answer = await props.onSubmit({
      url: url.trim(),
      description: description.trim(),
      events: ordered,
      enabled,
    })
    setBusy(false)
    setRefusal(answer)
    if (answer === null && !props.editing) {
      setUrl('')
      setDescription('')
      setEvents(new Set())
    }
  }

  return h(
    'form',
    { class: 'endpoint-form', onSubmit: submit, 'aria-label': props.submitLabel },
    h('label', { for: id('url') }, 'Endpoint URL'),
    h('p', { class: 'hint', id: id('url-hint') }, 'An http or https address the gateway posts events to.'),
    h('input', {
      id: id('url'),
      type: 'text',
      inputMode: 'url',
      autocomplete: 'off',
      spellcheck: false,
      required: true,
      maxLength: 2048,
      'aria-describedby': id('url-hint'),
      value: url,
      onInput: (e: Event) => setUrl((e.currentTarget as HTMLInputElement).value),
    }),
    h('label', { for: id('description') }, 'Description (optional)'),
    h('input', {
      id: id('description'),
      type: 'text',
      maxLength: 500,
      value: description,
      onInput: (e: Event) => setDescription((e.currentTarget as HTMLInputElement).value),
    }),
    h(
      'div',
      { class: 'event-groups', role: 'group', 'aria-label': 'Events to send' },
      h('p', { class: 'group-title' }, 'Events to send'),
      [...groups].map(([group, values]) =>
        h(CheckboxGroup, {
          key: group,
          legend: `${group[0]?.toUpperCase() ?? ''}${group.slice(1)} events`,
          name: id(`event-${group}`),
          options: values.map((value) => ({ value, label: eventName(value) })),
          chosen: events,
          onChange: setEvents,
        }),
      ),
    ),
    props.editing
      ? h(
          'div',
          { class: 'check' },
          h('input', {
            id: id('enabled'),
            type: 'checkbox',
            checked: enabled,
            onChange: (e: Event) => setEnabled((e.currentTarget as HTMLInputElement).checked),
          }),
          h('label', { for: id('enabled') }, 'Enabled (deliveries are sent)'),
        )
      : null,
    refusal ? h('p', { class: 'error', role: 'alert' }, refusal) : null,
    h(
      'div',
      { class: 'confirm-buttons' },
      h('button', { type: 'submit', disabled: busy }, busy ? 'Working…' : props.submitLabel),
      props.onCancel ? h('button', { type: 'button', onClick: props.onCancel }, 'Cancel') : null,
    ),
  )
}
