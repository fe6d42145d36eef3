import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { postLogin, type SessionView } from './api.ts'
import { loginRefusalText } from './messages.ts'

const inputValue = (event: Event) => (event.currentTarget as HTMLInputElement).value

/**
 * The sign-in form: email and password, then the authenticator code once the server answers TOTP_REQUIRED.
 * Refusals are shown in words in an alert region; every field has its label.
 *
 * @example
 * h(SignIn, { notice: null, onSignedIn: (session) => setSession(session) })
 */
export function SignIn(props: { notice: string | null; onSignedIn: (session: SessionView) => void }) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [totp, setTotp] = useState('')
  const [needsTotp, setNeedsTotp] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const emailField = useRef<HTMLInputElement>(null)
  const totpField = useRef<HTMLInputElement>(null)

  useEffect(() => emailField.current?.focus(), [])
  useEffect(() => {
    if (needsTotp) totpField.current?.focus()
  }, [needsTotp])

  async function submit(event: Event) {
    event.preventDefault()
    if (busy) return
    setBusy(true)
    setError(null)
    const outcome = await postLogin({ email, password, ...(needsTotp ? { totp } : {}) })
    setBusy(false)
    if ('session' in outcome) return props.onSignedIn(outcome.session)
    if (outcome.refusal.code === 'TOTP_REQUIRED') {
      setNeedsTotp(true)
      setTotp('')
      totpField.current?.focus()
      return
    }
    setTotp('')
    setError(loginRefusalText(outcome.refusal, new Date()))
  }

  return h(
    'main',
    { class: 'sign-in' },
    h('h1', null, 'Sign in to the Tollgate console'),
    props.notice ? h('p', { class: 'notice', role: 'status' }, props.notice) : null,
    h(
      'form',
      { onSubmit: submit, 'aria-describedby': error ? 'sign-in-error' : undefined },
      h('label', { for: 'email' }, 'Email'),
      h('input', {
        id: 'email',
        ref: emailField,
        type: 'email',
        name: 'email',
        autocomplete: 'username',
        required: true,
        value: email,
        onInput: (e: Event) => setEmail(inputValue(e)),
      }),
      h('label', { for: 'password' }, 'Password'),
      h('input', {
        id: 'password',
        type: 'password',
        name: 'password',
        autocomplete: 'current-password',
        required: true,
        value: password,
        onInput: (e: Event) => setPassword(inputValue(e)),
      }),
      needsTotp
        ? [
            h('label', { for: 'totp', key: 'totp-label' }, 'Authenticator code'),
            h(
              'p',
              { id: 'totp-hint', class: 'hint', key: 'totp-hint' },
              'Enter the 6-digit code from your authenticator app.',
            ),
            h('input', {
              id: 'totp',
              key: 'totp',
              ref: totpField,
              type: 'text',
              name: 'totp',
              inputmode: 'numeric',
              autocomplete: 'one-time-code',
              pattern: '[0-9]{6}',
              maxlength: 6,
              required: true,
              'aria-describedby': 'totp-hint',
              value: totp,
              onInput: (e: Event) => setTotp(inputValue(e)),
            }),
          ]
        : null,
      error ? h('p', { id: 'sign-in-error', class: 'error', role: 'alert' }, error) : null,
      h('button', { type: 'submit', disabled: busy }, busy ? 'Signing in…' : 'Sign in'),
    ),
  )
}
