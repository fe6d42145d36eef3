import { inArray } from 'drizzle-orm'
import QRCode from 'qrcode'
import {
  type RateLimiterAbstract,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible'
import { rateLimitSubject } from './client-ip.ts'
import type { AppContext } from './context.ts'
import type { AuthInfo } from './core/access/api-keys.ts'
import { roleScopes } from './core/access/console-roles.ts'
import {
  actingFor,
  type LoginFailed,
  login,
  logout,
  rotateCsrf,
  type SignedIn,
  sessionCookieName,
  sessionFor,
  sessionLifetimeMs,
  sessionTokenOf,
  sha256,
  verifyCsrf,
} from './core/access/console-sessions.ts'
import { changePassword, checkEmail, confirmTotp, startTotp } from './core/access/console-users.ts'
import { TollgateError } from './core/errors.ts'
import { merchants } from './db/schema/index.ts'

/**
 * The refusal of a request that carries the session cookie without the session's CSRF token in `X-CSRF-Token`.
 * An HTTP-level answer made before any GraphQL runs, so it is not one of the schema's ErrorCode values.
 */
export const csrfRejectedCode = 'CSRF_REJECTED'

/** A request with a valid session refused before anything runs: no CSRF token, or a merchant not the user's. */
export type SessionRejection = { status: 403; code: typeof csrfRejectedCode | 'FORBIDDEN'; message: string }

/** Login attempts an address may make per window, and attempts on one email (whoever makes them). */
export type LoginLimits = { perIp: number; perEmail: number; windowSeconds: number }

/**
 * Per address: enough for an office behind one NAT; per email: below what a slow guesser needs, and twice the five
 * failures that lock the account, so the lock (with its Retry-After) is what a person mistyping meets first.
 */
export const defaultLoginLimits: LoginLimits = { perIp: 30, perEmail: 10, windowSeconds: 15 * 60 }

const maxLoginBodyBytes = 8192
// a Redis that stalls must not stall logins: past this the limit gives way (the account lockout still holds)
const storeTimeoutMs = 250

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  })
}

const errorBody = (err: TollgateError) => ({
  error: err.message,
  code: err.code,
  ...(err.field ? { field: err.field } : {}),
})

/**
 * The session token a request carries in its `tollgate_session` cookie, if any.
 *
 * @example
 * const token = sessionCookieOf(request) // 'tgs_…' or undefined
 */
export function sessionCookieOf(request: Request): string | undefined {
  return sessionTokenOf(request.headers.get('cookie'))
}

/**
 * Who a request signed in to the console is, for the API: the session of its cookie (UNAUTHENTICATED, thrown,
 * when there is none any more), checked for the CSRF token when `csrf` is asked (every request but a CSV
 * download) and for `X-Tollgate-Merchant` naming a merchant the user holds a role at. The answer stands in for an
 * API key: `keyId` is `user:<id>`, so the audit log, self-approval and approval quorums count people, and the
 * scopes are the union of the user's roles there.
 *
 * @example
 * const outcome = await authenticateSession(app, request, token, { csrf: true })
 * if ('rejected' in outcome) return forbidden(outcome.rejected)
 */
export async function authenticateSession(
  app: Pick<AppContext, 'db'>,
  request: Request,
  token: string,
  options: { csrf: boolean },
): Promise<{ auth: AuthInfo } | { rejected: SessionRejection }> {
  const signedIn = await sessionFor(app, token)
  if (options.csrf && !verifyCsrf(signedIn.session, request.headers.get('x-csrf-token')))
    return {
      rejected: {
        status: 403,
        code: csrfRejectedCode,
        message: 'a request with the console session needs its CSRF token in X-CSRF-Token',
      },
    }
  const auth = actingFor(signedIn, request.headers.get('x-tollgate-merchant'))
  if (!auth)
    return {
      rejected: {
        status: 403,
        code: 'FORBIDDEN',
        message: 'X-Tollgate-Merchant must name a merchant you hold a role at',
      },
    }
  return { auth }
}

/** The browser's view of a signed-in user: who, their roles per merchant (with its name), the CSRF token. */
async function sessionView(app: Pick<AppContext, 'db'>, signedIn: SignedIn, csrfToken: string) {
  const ids = [...new Set(signedIn.memberships.map((m) => m.merchantId))]
  const names = new Map(
    ids.length === 0
      ? []
      : (
          await app.db
            .select({ id: merchants.id, name: merchants.name })
            .from(merchants)
            .where(inArray(merchants.id, ids))
        ).map((m) => [m.id, m.name]),
  )
  return {
    user: {
      id: signedIn.user.id,
      email: signedIn.user.email,
      name: signedIn.user.displayName,
      totpEnabled: signedIn.user.totpEnabled,
    },
    memberships: signedIn.memberships.map((m) => ({
      merchantId: m.merchantId,
      merchantName: names.get(m.merchantId) ?? null,
      role: m.role,
      scopes: [...roleScopes[m.role]],
    })),
    csrfToken,
    expiresAt: signedIn.session.expiresAt.toISOString(),
  }
}

/**
 * The HTTP side of console sessions, under `/console/api/`:
 * - `POST login` with JSON `{ email, password, totp? }`: sets the `tollgate_session` cookie (HttpOnly,
 *   SameSite=Strict, Path=/, Secure over https or when PUBLIC_URL is https, Max-Age the session's 12-hour
 *   lifetime) and answers `{ user, memberships, csrfToken, expiresAt }`. Refusals are `{ error, code }`: 401
 *   LOGIN_FAILED (with Retry-After while the account is locked) or TOTP_REQUIRED, 400 INVALID_INPUT, 429
 *   RATE_LIMITED past the per-address or per-email attempt limit (Redis, shared by every API process).
 * - `GET session`: the same answer for the cookie's session, with a new CSRF token: the server keeps only the
 *   token's hash, so the browser holds it in memory and a reloaded page asks again; the previous token stops
 *   working. 401 UNAUTHENTICATED without a live session.
 * - `POST logout` with `X-CSRF-Token`: ends the session and clears the cookie (204).
 *
 * Every answer is `no-store`; `/console/api/` sends no CORS headers, so only the gateway's own pages read them.
 *
 * @example
 * const consoleAuth = createConsoleAuth(app)
 * if (path.startsWith('/console/api/')) return consoleAuth.handle(request, path, clientAddress)
 */
export function createConsoleAuth(app: AppContext, options: { loginLimits?: LoginLimits } = {}) {
  const limits = options.loginLimits ?? defaultLoginLimits
  const limiter = (name: string, points: number): RateLimiterAbstract | undefined =>
    points === 0
      ? undefined
      : new RLWrapperTimeouts({
          limiter: new RateLimiterRedis({
            storeClient: app.redis,
            keyPrefix: `${app.env.REDIS_PREFIX}:ratelimit:${name}`,
            points,
            duration: limits.windowSeconds,
            rejectIfRedisNotReady: true,
          }),
          timeoutMs: storeTimeoutMs,
        })
  const perIp = limiter('console-login-ip', limits.perIp)
  const perEmail = limiter('console-login-email', limits.perEmail)

  /** Seconds until `subject` may try again, or undefined; a limiter that cannot answer lets the attempt through. */
  async function overLimit(store: RateLimiterAbstract | undefined, subject: string) {
    if (!store) return undefined
    try {
      await store.consume(subject)
      return undefined
    } catch (err) {
      if (err instanceof RateLimiterRes) return Math.max(1, Math.ceil(err.msBeforeNext / 1000))
      app.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'console login limiter cannot reach Redis: attempts go through (account lockout still applies)',
      )
      return undefined
    }
  }

  const tooMany = (seconds: number) =>
    json({ error: `too many login attempts; retry after ${seconds} s`, code: 'RATE_LIMITED' }, 429, {
      'retry-after': String(seconds),
    })

  function cookie(request: Request, value: string, maxAgeSeconds: number): string {
    const https =
      new URL(request.url).protocol === 'https:' || (app.env.PUBLIC_URL?.startsWith('https:') ?? false)
    return [
      `${sessionCookieName}=${value}`,
      'HttpOnly',
      'SameSite=Strict',
      'Path=/',
      `Max-Age=${maxAgeSeconds}`,
      ...(https ? ['Secure'] : []),
    ].join('; ')
  }
  const clearCookie = (request: Request) => cookie(request, '', 0)

  /** A small JSON object body; anything else (a form, too large, not an object) is INVALID_INPUT. */
  async function readJsonBody(request: Request, shape: string): Promise<Record<string, unknown>> {
    const type = request.headers.get('content-type') ?? ''
    // JSON only: a page of another site can post a form here without asking, never JSON
    if (!/^application\/json\s*(;|$)/i.test(type))
      throw new TollgateError('INVALID_INPUT', 'send the body as application/json')
    if (Number(request.headers.get('content-length') ?? 0) > maxLoginBodyBytes)
      throw new TollgateError('INVALID_INPUT', 'the body is too large')
    const text = await request.text()
    if (text.length > maxLoginBodyBytes) throw new TollgateError('INVALID_INPUT', 'the body is too large')
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new TollgateError('INVALID_INPUT', 'the body is not JSON')
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new TollgateError('INVALID_INPUT', shape)
    return body as Record<string, unknown>
  }

  async function loginRoute(request: Request, client: string | undefined): Promise<Response> {
    const ipWait = client === undefined ? undefined : await overLimit(perIp, rateLimitSubject(client))
    if (ipWait) return tooMany(ipWait)
    let signedIn: Awaited<ReturnType<typeof login>>
    try {
      const body = await readJsonBody(request, 'the login body is an object { email, password, totp? }')
      const emailKey = sha256(checkEmail(body.email).toLowerCase())
      const emailWait = await overLimit(perEmail, emailKey)
      if (emailWait) return tooMany(emailWait)
      signedIn = await login(app, { email: body.email, password: body.password, totp: body.totp, ip: client })
      await perEmail?.delete(emailKey).catch(() => undefined)
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      if (err.code === 'INVALID_INPUT') return json(errorBody(err), 400)
      const retry = (err as LoginFailed).retryAfterSeconds
      return json(errorBody(err), 401, retry === undefined ? {} : { 'retry-after': String(retry) })
    }
    return json(await sessionView(app, signedIn, signedIn.csrfToken), 200, {
      'set-cookie': cookie(request, signedIn.token, sessionLifetimeMs / 1000),
    })
  }

  async function sessionRoute(request: Request): Promise<Response> {
    let signedIn: SignedIn
    try {
      signedIn = await sessionFor(app, sessionCookieOf(request))
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      return json(errorBody(err), 401, { 'set-cookie': clearCookie(request) })
    }
    const csrfToken = await rotateCsrf(app, signedIn.session.id)
    if (csrfToken === undefined)
      return json({ error: 'sign in to the console', code: 'UNAUTHENTICATED' }, 401, {
        'set-cookie': clearCookie(request),
      })
    return json(await sessionView(app, signedIn, csrfToken))
  }

  async function logoutRoute(request: Request): Promise<Response> {
    const token = sessionCookieOf(request)
    let signedIn: SignedIn
    try {
      signedIn = await sessionFor(app, token)
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      // no live session: nothing to protect, only a stale cookie to drop
      return new Response(null, {
        status: 204,
        headers: { 'set-cookie': clearCookie(request), 'cache-control': 'no-store' },
      })
    }
    if (!verifyCsrf(signedIn.session, request.headers.get('x-csrf-token')))
      return json({ error: 'logging out needs the CSRF token in X-CSRF-Token', code: csrfRejectedCode }, 403)
    await logout(app, token)
    return new Response(null, {
      status: 204,
      headers: { 'set-cookie': clearCookie(request), 'cache-control': 'no-store' },
    })
  }

  /**
   * Runs `act` for the cookie's session when the request carries its CSRF token: 401 without a live session,
   * 403 CSRF_REJECTED without the token; a refusal of `act` is 400 (bad input) or 409 (wrong state).
   */
  async function asSignedIn(request: Request, act: (signedIn: SignedIn) => Promise<Response>) {
    let signedIn: SignedIn
    try {
      signedIn = await sessionFor(app, sessionCookieOf(request))
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      return json(errorBody(err), 401)
    }
    if (!verifyCsrf(signedIn.session, request.headers.get('x-csrf-token')))
      return json({ error: 'this needs the CSRF token in X-CSRF-Token', code: csrfRejectedCode }, 403)
    try {
      return await act(signedIn)
    } catch (err) {
      if (!(err instanceof TollgateError)) throw err
      return json(errorBody(err), err.code === 'INVALID_STATE' ? 409 : 400)
    }
  }

  /** Starts two-factor enrollment: a new secret, its otpauth URI and that URI as a QR code (an SVG data URL). */
  const totpStartRoute = (request: Request) =>
    asSignedIn(request, async (signedIn) => {
      const { secret, uri } = await startTotp(app, { userId: signedIn.user.id })
      const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
      return json({ secret, uri, qrCode: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` })
    })

  /** Turns two-factor on with a code from the enrolled app (JSON `{ code }`). */
  const totpConfirmRoute = (request: Request) =>
    asSignedIn(request, async (signedIn) => {
      const body = await readJsonBody(request, 'the body is an object { code }')
      await confirmTotp(app, { userId: signedIn.user.id, code: body.code })
      return json({ totpEnabled: true })
    })

  /**
   * Changes the signed-in user's password (JSON `{ currentPassword, newPassword }`); the user's other sessions end.
   * Counted against the per-address login limit: a stolen session cannot guess the current password at will.
   */
  const passwordRoute = (request: Request, client: string | undefined) =>
    asSignedIn(request, async (signedIn) => {
      const wait = client === undefined ? undefined : await overLimit(perIp, rateLimitSubject(client))
      if (wait) return tooMany(wait)
      const body = await readJsonBody(request, 'the body is an object { currentPassword, newPassword }')
      await changePassword(app, {
        userId: signedIn.user.id,
        keepSessionId: signedIn.session.id,
        current: body.currentPassword,
        next: body.newPassword,
      })
      return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } })
    })

  /** Answers a request under `/console/api/`; `client` is the client's address (rate limits, the audit log). */
  async function handle(request: Request, path: string, client: string | undefined): Promise<Response> {
    const routes: Record<string, [method: string, (request: Request) => Promise<Response>]> = {
      '/console/api/login': ['POST', (r) => loginRoute(r, client)],
      '/console/api/logout': ['POST', logoutRoute],
      '/console/api/session': ['GET', sessionRoute],
      '/console/api/totp/start': ['POST', totpStartRoute],
      '/console/api/totp/confirm': ['POST', totpConfirmRoute],
      '/console/api/password': ['POST', (r) => passwordRoute(r, client)],
    }
    const route = routes[path]
    if (!route) return json({ error: 'not found', code: 'NOT_FOUND' }, 404)
    if (request.method !== route[0])
      return json({ error: 'method not allowed', code: 'INVALID_INPUT' }, 405, { allow: route[0] })
    return route[1](request)
  }

  return { handle }
}
