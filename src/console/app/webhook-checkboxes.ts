import { h } from 'preact'

/**
 * A labelled group of checkboxes (a fieldset with a legend), each option's label shown as text; `chosen` holds
 * the values ticked. Used for a webhook endpoint's event types and an API key's scopes.
 *
 * @example
 * h(CheckboxGroup, { legend: 'Scopes', name: 'scope', options: [{ value: 'ADMIN', label: 'admin' }], chosen, onChange })
 */
export function CheckboxGroup(props: {
  legend: string
  name: string
  options: ReadonlyArray<{ value: string; label: string }>
  chosen: ReadonlySet<string>
  onChange: (next: Set<string>) => void
}) {
  function toggle(value: string, on: boolean) {
    const next = new Set(props.chosen)
    if (on) next.add(value)
    else next.delete(value)
    props.onChange(next)
  }
  return h(
    'fieldset',
    { class: 'checks' },
    h('legend', null, props.legend),
    props.options.map((option) => {
      const id = `${props.name}-${option.value}`
      return h(
        'div',
        { key: option.value, class: 'check' },
        h('input', {
          type: 'checkbox',
          id,
          name: props.name,
          value: option.value,
          checked: props.chosen.has(option.value),
          onChange: (e: Event) => toggle(option.value, (e.currentTarget as HTMLInputElement).checked),
        }),
        h('label', { for: id }, option.label),
      )
    }),
  )
}
