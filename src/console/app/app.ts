import { type FunctionComponent, h } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { Account } from './account.ts'
import { fetchSession, openLive, postLogout, runQuery, type SessionView } from './api.ts'
import { ApiKeysPage } from './api-keys.ts'
import { AuditPage } from './audit.ts'
import { CompliancePage } from './compliance.ts'
import { Header } from './header.ts'
import { MerchantPicker, merchantChoices } from './merchant-picker.ts'
import { MultisigPage } from './multisig.ts'
import { Nav, pageVisible } from './nav.ts'
import { Overview } from './overview.ts'
import { PaymentsPage } from './payments.ts'
import { PeoplePage } from './people.ts'
import { type PageName, useRoute } from './route.ts'
import { SignIn } from './sign-in.ts'
import { type Live, type PageProps, type Query, SignedInActor } from './ui.ts'
import { WebhooksPage } from './webhooks.ts'
import { WithdrawalsPage } from './withdrawals.ts'

const pages: Record<Exclude<PageName, 'account'>, FunctionComponent<PageProps>> = {
  overview: Overview,
  payments: PaymentsPage,
  withdrawals: WithdrawalsPage,
  compliance: CompliancePage,
  multisig: MultisigPage,
  webhooks: WebhooksPage,
  'api-keys': ApiKeysPage,
  audit: AuditPage,
  people: PeoplePage,
}

// The merchant a user last acted for, per user, so a reload returns to it. Only an id is kept (never the session
// or its token), and only a merchant the session still holds a role at is taken from it.
const merchantKey = (userId: string) => `tollgate.console.merchant.${userId}`

function rememberedMerchant(userId: string): string | null {
  try {
    return localStorage.getItem(merchantKey(userId))
  } catch {
    return null
  }
}

function rememberMerchant(userId: string, merchantId: string | null) {
  try {
    if (merchantId === null) localStorage.removeItem(merchantKey(userId))
    else localStorage.setItem(merchantKey(userId), merchantId)
  } catch {
    // storage refused (private mode): the picker asks again after a reload
  }
}

/**
 * The console: the sign-in form until there is a session, then the merchant picker (when the user holds roles at
 * several merchants) and the page the location hash names, with a menu of the pages the user's roles open. The
 * session's CSRF token lives in memory only: a reloaded page asks GET /console/api/session again, which issues a
 * new one.
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
  const route = useRoute()

  function signedIn(next: SessionView | null) {
    csrf.current = next?.csrfToken ?? ''
    setSession(next)
    const choices = next ? merchantChoices(next.memberships) : []
    const remembered = next ? rememberedMerchant(next.user.id) : null
    setMerchantId(
      choices.length === 1
        ? (choices[0]?.merchantId ?? null)
        : (choices.find((c) => c.merchantId === remembered)?.merchantId ?? null),
    )
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

  const userId = session.user.id
  const choices = merchantChoices(session.memberships)
  const chosen = choices.find((c) => c.merchantId === merchantId)

  function pick(id: string | null) {
    rememberMerchant(userId, id)
    setMerchantId(id)
  }

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

  const live: Live = (subscription, variables, onData) => {
    if (!chosen) return () => {}
    const merchantId = chosen.merchantId
    return openLive(
      () => ({ csrfToken: csrf.current, merchantId }),
      subscription,
      variables,
      onData,
      (end) => {
        if (end.kind === 'signed-out') signedOut('Your session ended: sign in again.')
      },
      refreshCsrf,
    )
  }

  const header = h(Header, {
    name: session.user.name,
    roles: chosen?.roles ?? [],
    merchantName: chosen ? (chosen.merchantName ?? chosen.merchantId) : null,
    onSwitch: chosen && choices.length > 1 ? () => pick(null) : undefined,
    onSignOut: signOut,
  })
  if (!chosen) return h('div', { class: 'shell' }, header, h(MerchantPicker, { choices, onPick: pick }))

  const scopes = new Set(chosen.scopes)
  const page = pageVisible(route.page, scopes) ? route.page : 'overview'
  const nudge = session.user.totpEnabled
    ? null
    : h(
        'p',
        { class: 'nudge', role: 'note' },
        'Two-factor authentication is off. ',
        h('a', { href: '#/account' }, 'Turn it on'),
        '.',
      )
  if (page === 'account')
    return h(
      'div',
      { class: 'shell' },
      header,
      h(Nav, { current: page, scopes }),
      h(Account, {
        email: session.user.email,
        totpEnabled: session.user.totpEnabled,
        csrfToken: () => csrf.current,
        onChanged: () => {
          fetchSession().then((fresh) => {
            if (!fresh) return signedOut('Your session ended: sign in again.')
            csrf.current = fresh.csrfToken
            setSession(fresh)
          })
        },
      }),
    )
  return h(
    'div',
    { class: 'shell' },
    header,
    h(Nav, { current: page, scopes }),
    nudge,
    h(
      SignedInActor.Provider,
      { value: `user:${userId}` },
      h(pages[page], {
        // a page starts afresh for another merchant or another detail id
        key: `${chosen.merchantId} ${page} ${route.id ?? ''}`,
        query,
        live,
        scopes,
        merchantId: chosen.merchantId,
        merchantName: chosen.merchantName,
        id: route.id,
      }),
    ),
  )
}
