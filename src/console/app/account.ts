import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

type Enrollment = { secret: string; uri: string; qrCode: string }

/** POSTs JSON to a console route with the session's CSRF token; answers the status and body. */
async function postJson(path: string, csrfToken: string, body: unknown) {
  try {
    const response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
      body: JSON.stringify(body),
    })
    const parsed = (await response.json().catch(() => ({}))) as Record<string, unknown>
    return { status: response.status, body: parsed }
  } catch {
    return { status: 0, body: { error: 'the gateway could not be reached' } as Record<string, unknown> }
  }
}

/**
 * The form that changes the signed-in user's password: the current one, the new one twice. The server ends the
 * user's other sessions.
 */
function ChangePassword(props: { csrfToken: () => string }) {
  const [fields, setFields] = useState({ current: '', next: '', again: '' })
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)
  const field = (name: keyof typeof fields, label: string, autocomplete: string) => [
    h('label', { for: `password-${name}`, key: `${name}-label` }, label),
    h('input', {
      key: name,
      id: `password-${name}`,
      type: 'password',
      autocomplete,
      maxLength: 200,
      value: fields[name],
      onInput: (e: Event) => setFields({ ...fields, [name]: (e.currentTarget as HTMLInputElement).value }),
    }),
  ]

  async function submit(event: Event) {
    event.preventDefault()
    if (fields.next !== fields.again) {
      setMessage({ ok: false, text: 'The two new passwords differ.' })
      return
    }
    setBusy(true)
    const answer = await postJson('/console/api/password', props.csrfToken(), {
      currentPassword: fields.current,
      newPassword: fields.next,
    })
    setBusy(false)
    if (answer.status !== 204) {
      setMessage({ ok: false, text: String(answer.body.error ?? `the gateway answered ${answer.status}`) })
      return
    }
    setFields({ current: '', next: '', again: '' })
    setMessage({ ok: true, text: 'Your password is changed; your other sessions are signed out.' })
  }

  return h(
    'form',
    { class: 'change-password', onSubmit: submit },
    h(
      'p',
      { class: 'hint' },
      'At least 12 characters; a passphrase of several words is easiest to remember.',
    ),
    field('current', 'Current password', 'current-password'),
    field('next', 'New password', 'new-password'),
    field('again', 'New password again', 'new-password'),
    h('button', { type: 'submit', disabled: busy }, busy ? 'Changing…' : 'Change password'),
    message
      ? h('p', { class: message.ok ? 'done' : 'error', role: message.ok ? 'status' : 'alert' }, message.text)
      : null,
  )
}

/**
 * The signed-in user's own account: two-factor authentication, turned on by scanning a QR code (or typing the
 * secret) into an authenticator app and entering the code it shows (the secret is shown only during
 * enrollment), and the password, changed with the current one.
 *
 * @example
 * h(Account, { email, totpEnabled: false, csrfToken: () => csrf.current, onChanged: reloadSession })
 */
export function Account(props: {
  email: string
  totpEnabled: boolean
  csrfToken: () => string
  onChanged: () => void
}) {
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null)
  const [code, setCode] = useState('')
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null)
  const [busy, setBusy] = useState(false)
  const codeField = useRef<HTMLInputElement>(null)

  useEffect(() => {
    if (enrollment) codeField.current?.focus()
  }, [enrollment])

  async function start() {
    setBusy(true)
    setMessage(null)
    const answer = await postJson('/console/api/totp/start', props.csrfToken(), {})
    setBusy(false)
    if (answer.status !== 200) {
      setMessage({ ok: false, text: String(answer.body.error ?? `the gateway answered ${answer.status}`) })
      return
    }
    setEnrollment(answer.body as unknown as Enrollment)
  }

  async function confirm(event: Event) {
    event.preventDefault()
    setBusy(true)
    const answer = await postJson('/console/api/totp/confirm', props.csrfToken(), { code: code.trim() })
    setBusy(false)
    if (answer.status !== 200) {
      setMessage({ ok: false, text: String(answer.body.error ?? `the gateway answered ${answer.status}`) })
      return
    }
    setEnrollment(null)
    setCode('')
    setMessage({ ok: true, text: 'Two-factor authentication is on: sign-ins now ask for a code.' })
    props.onChanged()
  }

  const status = message
    ? h('p', { class: message.ok ? 'done' : 'error', role: message.ok ? 'status' : 'alert' }, message.text)
    : null

  return h(
    'main',
    { class: 'account' },
    h('h1', null, 'Your account'),
    h('p', null, 'Signed in as ', h('span', { class: 'account-email' }, props.email), '.'),
    h('h2', null, 'Two-factor authentication'),
    props.totpEnabled
      ? h('p', { class: 'done totp-state' }, 'On: every sign-in asks for a code from your authenticator app.')
      : enrollment
        ? h(
            'form',
            { class: 'enroll', onSubmit: confirm },
            h('p', null, 'Scan this code with your authenticator app, or type the secret into it.'),
            h('img', {
              class: 'qr',
              src: enrollment.qrCode,
              alt: 'QR code of your two-factor secret',
              width: 200,
              height: 200,
            }),
            h('p', null, 'Secret: ', h('code', { class: 'totp-secret' }, enrollment.secret)),
            h('label', { for: 'enroll-code' }, 'Code from the app'),
            h('input', {
              id: 'enroll-code',
              ref: codeField,
              inputMode: 'numeric',
              autocomplete: 'one-time-code',
              maxLength: 6,
              pattern: '[0-9]{6}',
              value: code,
              onInput: (e: Event) => setCode((e.currentTarget as HTMLInputElement).value),
            }),
            h('button', { type: 'submit', disabled: busy }, busy ? 'Checking…' : 'Turn on two-factor'),
          )
        : [
            h('p', { class: 'totp-state', key: 'off' }, 'Off: anyone with your password can sign in as you.'),
            h(
              'button',
              { type: 'button', key: 'start', disabled: busy, onClick: start },
              'Set up two-factor authentication',
            ),
          ],
    status,
    h('h2', null, 'Password'),
    h(ChangePassword, { csrfToken: props.csrfToken }),
  )
}
