// GET /auth/oidc/:provider/login and /callback: the browser's round trip to
// the OpenID provider. The login binds the attempt to the browser with a
// cookie holding the state; the callback checks it, redeems the code with the
// PKCE verifier and nonce, signs the user in and sends the browser to the
// frontend with a single-use code that lives 60 s. No token is ever in a URL.
import { randomBytes } from 'node:crypto'
import {
  appendAuditEntry,
  HttpProblem,
  type ServiceApp,
  SIGN_IN_COOKIE,
  SIGN_IN_COOKIE_PATH,
  sha256Hex,
} from '@docs-mesh/platform'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { RelyingParty } from '../oidc/relying-party.ts'
import type { Sessions } from '../sessions/sessions.ts'
import type { Users } from '../users/users.ts'

export const LOGIN_ATTEMPT_MS = 10 * 60_000
export const SESSION_CODE_MS = 60_000
// __Host-: Secure, Path=/, no Domain (so the path is the whole origin, not the callback's).
const STATE_COOKIE = '__Host-docs_mesh_oidc_state'

export interface OidcRoutesOptions {
  provider: string
  publicUrl: string
  relyingParty: RelyingParty
  users: Users
  sessions: Sessions
  /** The sign-in limits (limits/auth-limits.ts), per client address: no account is known yet. */
  limits: { start: SignInLimit; callback: SignInLimit }
}

type SignInLimit = (request: FastifyRequest) => Promise<void>

const ProviderParams = Type.Object({ provider: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }) })

export function oidcRoutes(app: ServiceApp, options: OidcRoutesOptions): void {
  const { provider, relyingParty } = options
  const cookiePath = '/'
  const known = (name: string) => {
    if (name !== provider)
      throw new HttpProblem(404, 'ERR_OIDC_UNKNOWN_PROVIDER', `no provider named ${name}`)
  }

  app.get(
    '/auth/providers',
    {
      schema: {
        tags: ['sign-in'],
        response: {
          200: Type.Object({
            providers: Type.Array(Type.Object({ name: Type.String(), login: Type.String() })),
          }),
        },
      },
    },
    async () => ({ providers: [{ name: provider, login: `/auth/oidc/${provider}/login` }] }),
  )

  app.get(
    '/auth/oidc/:provider/login',
    {
      onRequest: options.limits.start,
      schema: { tags: ['sign-in'], params: ProviderParams },
    },
    async (request, reply) => {
      known(request.params.provider)
      const start = await relyingParty.start()
      const now = new Date()
      await app.database.db
        .insertInto('login_attempts')
        .values({
          state: start.state,
          provider,
          code_verifier: start.codeVerifier,
          nonce: start.nonce,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + LOGIN_ATTEMPT_MS).toISOString(),
        })
        .execute()
      // Attempts nobody finished are of no use to anyone; codes are kept a day past
      // their expiry, so a late replay is still recognised (and its session ended).
      await app.database.db.deleteFrom('login_attempts').where('expires_at', '<', now.toISOString()).execute()
      await app.database.db
        .deleteFrom('session_codes')
        .where('expires_at', '<', new Date(now.getTime() - 86_400_000).toISOString())
        .execute()
      reply.setCookie(STATE_COOKIE, start.state, {
        path: cookiePath,
        httpOnly: true,
        secure: true,
        sameSite: 'lax',
        maxAge: LOGIN_ATTEMPT_MS / 1000,
      })
      return reply.header('cache-control', 'no-store').redirect(start.url.toString(), 302)
    },
  )

  app.get(
    '/auth/oidc/:provider/callback',
    {
      onRequest: options.limits.callback,
      schema: {
        tags: ['sign-in'],
        params: ProviderParams,
        querystring: Type.Object(
          {
            state: Type.String({ minLength: 1, maxLength: 128 }),
            code: Type.Optional(Type.String({ maxLength: 2048 })),
            error: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: true },
        ),
      },
    },
    async (request, reply) => {
      known(request.params.provider)
      const { state } = request.query
      const bound = request.cookies[STATE_COOKIE]
      reply.clearCookie(STATE_COOKIE, { path: cookiePath, httpOnly: true, secure: true, sameSite: 'lax' })
      if (!bound || bound !== state)
        throw new HttpProblem(
          400,
          'ERR_OIDC_STATE',
          'this sign-in was not started in this browser; start again',
        )
      // Single use: whoever deletes the row owns the attempt.
      const attempt = await app.database.db
        .deleteFrom('login_attempts')
        .where('state', '=', state)
        .where('provider', '=', provider)
        .returningAll()
        .executeTakeFirst()
      if (!attempt || Date.parse(attempt.expires_at) <= Date.now())
        throw new HttpProblem(
          400,
          'ERR_OIDC_STATE',
          'this sign-in has expired or was already used; start again',
        )
      if (request.query.error)
        throw new HttpProblem(
          400,
          'ERR_OIDC_DENIED',
          `the provider ended the sign-in: ${request.query.error}`,
        )

      const identity = await relyingParty.finish(new URL(request.url, options.publicUrl), {
        state: attempt.state,
        nonce: attempt.nonce,
        codeVerifier: attempt.code_verifier,
      })
      const { user, created } = await options.users.signIn(provider, identity)
      const sessionId = await options.sessions.start(user.id, request.clientAddress)
      const code = randomBytes(32).toString('base64url')
      // Binds the code to this browser: the exchange needs the cookie too (no login CSRF with a planted code).
      const binding = randomBytes(32).toString('base64url')
      const now = new Date()
      await app.database.db
        .insertInto('session_codes')
        .values({
          code_hash: sha256Hex(code),
          session_id: sessionId,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + SESSION_CODE_MS).toISOString(),
          used_at: null,
          binding_hash: sha256Hex(binding),
        })
        .execute()
      await appendAuditEntry(app.database, {
        type: 'auth.sign_in',
        data: {
          user_id: user.id,
          session_id: sessionId,
          provider,
          new_user: created,
          client_ip: request.clientAddress,
        },
      })
      reply.setCookie(SIGN_IN_COOKIE, binding, {
        path: SIGN_IN_COOKIE_PATH,
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
        maxAge: SESSION_CODE_MS / 1000,
      })
      const target = new URL('/app', options.publicUrl)
      target.searchParams.set('code', code)
      return reply.header('cache-control', 'no-store').redirect(target.toString(), 302)
    },
  )
}
