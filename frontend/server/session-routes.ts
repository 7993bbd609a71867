// POST /session: the app posts the single-use code from its /app?code=...
// URL here; the frontend exchanges it with identity-api over the mesh (only
// frontend-sa may), with the sign-in cookie identity-api's callback set in
// this browser, and keeps the session token in an HttpOnly cookie, with a
// CSRF token beside it. The token never reaches the page's scripts.
import { randomBytes } from 'node:crypto'
import {
  HttpProblem,
  type ServiceApp,
  SIGN_IN_COOKIE,
  SIGN_IN_COOKIE_PATH,
  setSessionCookies,
} from '@docs-mesh/platform'
import Type from 'typebox'

interface Exchanged {
  token: string
  expires_at: string
  session_expires_at: string
  user: { id: string; email: string; display_name: string; role: 'user' | 'admin' }
  mfa: { enrolled: boolean; pending: boolean; verified: boolean }
}

export function sessionRoutes(app: ServiceApp, options: { identityApiUrl: string }): void {
  app.post(
    '/session',
    {
      schema: {
        hide: true,
        body: Type.Object(
          { code: Type.String({ minLength: 1, maxLength: 128 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            user: Type.Object({
              id: Type.String(),
              email: Type.String(),
              display_name: Type.String(),
              role: Type.Enum(['user', 'admin']),
            }),
            mfa: Type.Object({ enrolled: Type.Boolean(), pending: Type.Boolean(), verified: Type.Boolean() }),
            expires_at: Type.String({ format: 'date-time' }),
          }),
        },
      },
    },
    async (request, reply) => {
      // The code only works in the browser that signed in, which holds this cookie from the callback.
      const binding = request.cookies[SIGN_IN_COOKIE]
      reply.clearCookie(SIGN_IN_COOKIE, {
        path: SIGN_IN_COOKIE_PATH,
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
      })
      if (!binding)
        throw new HttpProblem(
          400,
          'ERR_CODE_INVALID',
          'this browser did not start the sign-in; sign in again',
        )
      const res = await app.upstream.call<Exchanged | { code?: string; detail?: string }>({
        method: 'POST',
        url: `${options.identityApiUrl}/internal/session/exchange`,
        body: { code: request.body.code, binding },
        context: { requestId: request.id, trace: request.trace },
      })
      if (res.status === 400)
        throw new HttpProblem(
          400,
          'ERR_CODE_INVALID',
          'the sign-in code is unknown, expired or already used; sign in again',
        )
      if (res.status !== 200)
        throw new HttpProblem(
          503,
          'ERR_UPSTREAM_UNAVAILABLE',
          `identity-api answered ${res.status} to the exchange`,
        )
      const exchanged = res.body as Exchanged
      const maxAgeSeconds = Math.max(
        1,
        Math.floor((Date.parse(exchanged.session_expires_at) - Date.now()) / 1000),
      )
      setSessionCookies(reply, exchanged.token, {
        maxAgeSeconds,
        csrf: randomBytes(32).toString('base64url'),
      })
      reply.header('cache-control', 'no-store')
      return { user: exchanged.user, mfa: exchanged.mfa, expires_at: exchanged.expires_at }
    },
  )
}
