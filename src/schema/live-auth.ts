import { GraphQLError } from 'graphql'
import { type ApiKeyScope, type AuthInfo, authenticate, isExpired } from '../core/access/api-keys.ts'
import { actingFor, sessionFor, sessionTokenOf } from '../core/access/console-sessions.ts'
import { errorKind, TollgateError } from '../core/errors.ts'
import { liveLimits } from '../live-limits.ts'
import { type GraphQLContext, hasScope } from './context.ts'

// setTimeout takes at most a signed 32-bit number of milliseconds; a longer delay would fire at once
const maxTimerMs = 2 ** 31 - 1

/**
 * The credential a subscription was opened with, looked up again: the API key of its Authorization header, or
 * (without one) the console session of its cookie acting for its X-Tollgate-Merchant, looked at without
 * restarting the session's idle clock. A refused credential is thrown as a user error.
 */
async function credentialOf(ctx: GraphQLContext): Promise<AuthInfo> {
  const headers = ctx.request?.headers
  const authorization = headers?.get('authorization') ?? null
  const session = authorization === null ? sessionTokenOf(headers?.get('cookie')) : undefined
  if (session === undefined) return authenticate(ctx.app, authorization)
  const auth = actingFor(
    await sessionFor(ctx.app, session, { touch: false }),
    headers?.get('x-tollgate-merchant'),
  )
  if (!auth) throw new TollgateError('FORBIDDEN', 'you no longer hold a role at this merchant')
  return auth
}

/**
 * Keeps a subscription's credential honest while it runs: `recheck` looks the API key (or console session) up
 * again (keys through the auth cache, which revocations evict in every process, and which never serves a key
 * past its expiry) and answers the error that must end the stream, or null; `watch` wakes a recheck when the key
 * or the session's user is evicted here (a revocation, a logout), when the auth cache is emptied (revocations may
 * have been missed), and at the key's or session's expiry.
 *
 * @example
 * const guard = keyGuard(ctx, auth, 'payments:read')
 * return liveStream({ signals, read, recheck: guard.recheck, watch: guard.watch })
 */
export function keyGuard(ctx: GraphQLContext, auth: AuthInfo, scope: ApiKeyScope) {
  const ended = auth.keyId.startsWith('user:')
    ? 'the console session ended'
    : 'the API key was revoked or has expired'
  const refuse = (code: 'UNAUTHENTICATED' | 'FORBIDDEN', message: string) => {
    ctx.app.log.info(
      { requestId: ctx.requestId, keyId: auth.keyId, code },
      'subscription ended: the key may no longer watch',
    )
    return new TollgateError(code, message)
  }
  return {
    async recheck(): Promise<unknown | null> {
      let current: AuthInfo
      try {
        current = await credentialOf(ctx)
      } catch (err) {
        // a database that cannot answer ends the stream too (masked); it never keeps a stream open unchecked
        if (errorKind(err) !== 'user') return err
        if (err instanceof TollgateError && err.code === 'FORBIDDEN') return refuse('FORBIDDEN', err.message)
        return refuse('UNAUTHENTICATED', ended)
      }
      if (current.keyId !== auth.keyId) return refuse('UNAUTHENTICATED', ended)
      if (!hasScope(current, scope))
        return refuse('FORBIDDEN', `this API key lacks the scope for this field (${scope})`)
      return null
    },
    watch(wake: () => void): () => void {
      const unwatch = ctx.app.authCache.watch(auth.keyId, wake)
      let timer: ReturnType<typeof setTimeout> | undefined
      const arm = () => {
        if (auth.expiresAt === null) return
        const left = auth.expiresAt.getTime() - Date.now()
        timer = setTimeout(
          () => {
            // a timer may fire a little early, or be capped: wake only once the key has expired
            if (isExpired(auth.expiresAt)) wake()
            else arm()
          },
          Math.min(Math.max(left, 0), maxTimerMs),
        )
      }
      arm()
      return () => {
        unwatch()
        clearTimeout(timer)
      }
    },
  }
}

/**
 * Takes one of the client address's subscription slots (SUBSCRIPTIONS_MAX_PER_IP, graphql-ws and SSE together)
 * and answers the function that gives it back. Over the cap, TOO_MANY_SUBSCRIPTIONS. Without a known address
 * (a transport that gave none) nothing is counted.
 *
 * @example
 * const release = takeSubscriptionSlot(ctx)
 */
export function takeSubscriptionSlot(ctx: GraphQLContext): () => void {
  if (ctx.clientIp === undefined) return () => {}
  const counter = liveLimits(ctx.app).subscriptionsPerAddress
  const release = counter.take(ctx.clientIp)
  if (release) return release
  ctx.app.log.info(
    { requestId: ctx.requestId, limit: counter.max },
    'subscription refused: address at its cap',
  )
  throw tooManySubscriptions(
    `too many subscriptions from this address (at most ${counter.max} at once); close one first`,
    counter.max,
  )
}

/**
 * The refusal of a subscription over a cap (per address, or per graphql-ws socket).
 *
 * @example
 * return [tooManySubscriptions('too many subscriptions on this connection', 20)]
 */
export function tooManySubscriptions(message: string, limit: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit } })
}
