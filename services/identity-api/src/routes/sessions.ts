// The session's own routes. A session token lives SESSION_TTL_SECONDS; the app
// renews it with POST /auth/session/renew before then, which retires the old
// token at once and never extends the session past its maximum age.
import {
  appendAuditEntry,
  clearSessionCookies,
  type ServiceApp,
  setSessionCookies,
} from '@docs-mesh/platform'
import Type from 'typebox'
import type { Mfa } from '../mfa/mfa.ts'
import type { SessionKeys } from '../sessions/session-keys.ts'
import type { Sessions } from '../sessions/sessions.ts'
import type { Users } from '../users/users.ts'
import { UserView } from './schemas.ts'
import { userView } from './views.ts'

export const TokenResponse = Type.Object({
  token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_at: Type.String({ format: 'date-time' }),
})

/** The renewed token is in the body for bearer clients only; a cookie client gets it in its cookie. */
const RenewResponse = Type.Object({
  token: Type.Optional(Type.String({ description: 'absent when the session came by cookie' })),
  token_type: Type.Literal('Bearer'),
  expires_at: Type.String({ format: 'date-time' }),
})

export function sessionRoutes(
  app: ServiceApp,
  options: { keys: SessionKeys; sessions: Sessions; users: Users; mfa: Mfa; sessionMaxAgeSeconds: number },
): void {
  app.get(
    '/auth/.well-known/jwks.json',
    {
      schema: {
        tags: ['sessions'],
        response: {
          200: Type.Object({
            keys: Type.Array(Type.Object({ kid: Type.String() }, { additionalProperties: true })),
          }),
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return { keys: (await options.keys.published()) as Array<{ kid: string }> }
    },
  )

  app.get(
    '/auth/me',
    {
      config: { session: 'user' },
      schema: {
        tags: ['sessions'],
        security: [{ session: [] }],
        response: {
          200: Type.Object({
            user: UserView,
            session: Type.Object({
              id: Type.String(),
              expires_at: Type.String({ format: 'date-time' }),
              mfa_verified: Type.Boolean(),
            }),
            mfa: Type.Object({ enrolled: Type.Boolean(), pending: Type.Boolean() }),
          }),
        },
      },
    },
    async (request) => {
      const session = request.session!
      const user = await options.users.byId(session.userId)
      return {
        user: userView(user!),
        session: {
          id: session.sessionId,
          expires_at: session.expiresAt.toISOString(),
          mfa_verified: session.mfaVerified,
        },
        mfa: await options.mfa.status(session.userId),
      }
    },
  )

  app.post(
    '/auth/session/renew',
    {
      config: { session: 'user' },
      schema: { tags: ['sessions'], security: [{ session: [] }], response: { 200: RenewResponse } },
    },
    async (request, reply) => {
      const issued = await options.sessions.issueToken(request.session!.sessionId)
      reply.header('cache-control', 'no-store')
      // The browser's token lives in its HttpOnly cookie and never in a body a page script could read;
      // an API client (bearer) takes it from the body.
      if (request.sessionSource === 'cookie') {
        setSessionCookies(reply, issued.token, { maxAgeSeconds: options.sessionMaxAgeSeconds })
        return { token_type: 'Bearer' as const, expires_at: issued.expiresAt.toISOString() }
      }
      return {
        token: issued.token,
        token_type: 'Bearer' as const,
        expires_at: issued.expiresAt.toISOString(),
      }
    },
  )

  app.post(
    '/auth/logout',
    {
      config: { session: 'user' },
      schema: { tags: ['sessions'], security: [{ session: [] }], response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const { sessionId, userId } = request.session!
      if (await options.sessions.revoke(sessionId))
        await appendAuditEntry(app.database, {
          type: 'auth.sign_out',
          data: { user_id: userId, session_id: sessionId },
        })
      clearSessionCookies(reply)
      return reply.code(204).send(null)
    },
  )
}
