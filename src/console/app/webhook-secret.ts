import { h } from 'preact'
import { useEffect, useRef } from 'preact/hooks'

/**
 * A secret the gateway shows only once (a webhook signing secret right after an endpoint is added or its secret
 * rotated; an API key right after it is made), with a note to copy it now. It lives in the page's memory only:
 * "Done" or leaving the page forgets it, and nothing can show it again. Also used by the API keys page.
 *
 * @example
 * h(SecretOnce, { title: 'Signing secret of https://shop.example/hook', secret, onDone: () => setShown(null) })
 */
export function SecretOnce(props: { title: string; secret: string; onDone: () => void }) {
  const box = useRef<HTMLDivElement>(null)
  // brought into view and focused, so a keyboard or screen reader user meets it at once
  useEffect(() => box.current?.focus(), [props.secret])
  return h(
    'div',
    { class: 'notice secret-once', role: 'status', tabIndex: -1, ref: box },
    h('p', { class: 'secret-title' }, props.title),
    h(
      'p',
      { class: 'secret-note' },
      'Copy it now: it is shown only this once and cannot be shown again. If it is lost, make a new one.',
    ),
    h('pre', { class: 'secret-value' }, props.secret),
    h('button', { type: 'button', onClick: props.onDone }, 'Done: I have copied it'),
  )
}
