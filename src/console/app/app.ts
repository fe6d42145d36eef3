import { h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { fetchSession, postLogout, runQuery, type SessionView } from './api.ts'
import { Header } from './header.ts'
import { MerchantPicker, merchantChoices } from './merchant-picker.ts'
import { Overview, type Query } from './overview.ts'
import { SignIn } from './sign-in.ts'

/**
 * The console: the sign-in form until there is a session, then the merchant picker (when the user holds roles at
 * several merchants) and the overview. The session's CSRF token and the chosen merchant live in memory only: a
 * reloaded page asks GET /console/api/session again, which issues a new token.
 *
 * @example
 * render(h(App, null), document.getElementById('app'))
 */
export function App() {
  // undefined: still asking the server whether the cookie holds a session
  const [session, setSession] = useState<SessionView | null | undefined>(undefined)
  const [merchantId, setMerchantId] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const csrf = useRef('')

  function signedIn(next: SessionView | null) {
    csrf.current = next?.csrfToken ?? ''
    setSession(next)
    const choices = next ? merchantChoices(next.memberships) : []
    setMerchantId(choices.length === 1 ? (choices[0]?.merchantId ?? null) : null)
    if (next) setNotice(null)
  }

  function signedOut(message: string | null) {
    csrf.current = ''
    setSession(null)
    setMerchantId(null)
    setNotice(message)
  }

  useEffect(() => {
    fetchSession().then(signedIn)
  }, [])

  if (session === undefined) return h('main', { class: 'loading' }, h('p', null, 'Loading…'))
  if (session === null) return h(SignIn, { notice, onSignedIn: signedIn })

  const choices = merchantChoices(session.memberships)
  const chosen = choices.find((c) => c.merchantId === merchantId)

  async function signOut() {
    await postLogout(csrf.current)
    signedOut('You are signed out.')
  }

  async function refreshCsrf(): Promise<string | null> {
    const fresh = await fetchSession()
    if (fresh === null) return null
    csrf.current = fresh.csrfToken
    return fresh.csrfToken
  }

  const query: Query = async (text, variables = {}) => {
    if (!chosen) return { kind: 'error', message: 'no merchant chosen' }
    const result = await runQuery<never>(
      { csrfToken: csrf.current, merchantId: chosen.merchantId },
      text,
      variables,
      refreshCsrf,
    )
    if (result.kind === 'signed-out') signedOut('Your session ended: sign in again.')
    return result
  }

  const header = h(Header, {
    name: session.user.name,
    roles: chosen?.roles ?? [],
    merchantName: chosen ? (chosen.merchantName ?? chosen.merchantId) : null,
    onSwitch: chosen && choices.length > 1 ? () => setMerchantId(null) : undefined,
    onSignOut: signOut,
  })
  return h(
    'div',
    { class: 'shell' },
    header,
    chosen
      ? h(Overview, { key: chosen.merchantId, query, merchantName: chosen.merchantName })
      : h(MerchantPicker, { choices, onPick: setMerchantId }),
  )
}
