// Routes for other workloads, never for browsers: no gateway route leads to
// /internal, the mesh policy admits only the named callers, and each route
// checks the caller's SPIFFE identity from x-forwarded-client-cert again.
//   POST /internal/session/exchange   frontend-sa: a single-use code (and its browser's binding) for a session token
//   GET  /internal/users?email=       bucket-sa: a recipient and their current keys
//   GET  /internal/users/:id          bucket-sa
import {
  appendAuditEntry,
  HttpProblem,
  type ServiceApp,
  sha256Hex,
  type UserTable,
} from '@docs-mesh/platform'
import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { Mfa } from '../mfa/mfa.ts'
import type { Sessions } from '../sessions/sessions.ts'
import type { Users } from '../users/users.ts'
import { UserKeyView, UserView } from './schemas.ts'
import { TokenResponse } from './sessions.ts'
import { userKeyView, userView } from './views.ts'

export interface InternalRoutesOptions {
  sessions: Sessions
  users: Users
  mfa: Mfa
  frontend: string
  bucket: string
  /** Per browser binding (limits/auth-limits.ts). */
  exchangeLimit: (request: FastifyRequest) => Promise<void>
}

const InternalUser = Type.Object({
  id: Type.String(),
  email: Type.String(),
  display_name: Type.String(),
  keys: Type.Object({
    signing: Type.Union([UserKeyView, Type.Null()]),
    encryption: Type.Union([UserKeyView, Type.Null()]),
  }),
})

export function internalRoutes(app: ServiceApp, options: InternalRoutesOptions): void {
  app.post(
    '/internal/session/exchange',
    {
      config: { callers: [options.frontend] },
      // The body is parsed by then: the limit keys on the browser's binding.
      preHandler: options.exchangeLimit,
      schema: {
        tags: ['internal'],
        body: Type.Object(
          {
            code: Type.String({ minLength: 1, maxLength: 128 }),
            binding: Type.String({
              minLength: 1,
              maxLength: 128,
              description:
                'the __Host-docs_mesh_signin cookie the callback set in the browser that signed in',
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ...TokenResponse.properties,
            session_id: Type.String(),
            session_expires_at: Type.String({
              format: 'date-time',
              description: 'when the session ends, however often renewed',
            }),
            user: UserView,
            mfa: Type.Object({ enrolled: Type.Boolean(), pending: Type.Boolean(), verified: Type.Boolean() }),
          }),
        },
      },
    },
    async (request) => {
      const codeHash = sha256Hex(request.body.code)
      const now = new Date().toISOString()
      const taken = await app.database.db
        .updateTable('session_codes')
        .set({ used_at: now })
        .where('code_hash', '=', codeHash)
        .where('binding_hash', '=', sha256Hex(request.body.binding))
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      if (taken.numUpdatedRows !== 1n) {
        const known = await app.database.db
          .selectFrom('session_codes')
          .selectAll()
          .where('code_hash', '=', codeHash)
          .executeTakeFirst()
        // A code seen twice from the browser it was bound to may have leaked from there: the session
        // it opened is ended too. From any other browser it proves nothing (the code alone, say from
        // a log, is useless there), and ending the session would let anyone who saw it sign the user out.
        const sameBrowser = known?.binding_hash === sha256Hex(request.body.binding)
        if (known?.used_at && sameBrowser && (await options.sessions.revoke(known.session_id))) {
          await appendAuditEntry(app.database, {
            type: 'auth.code_replayed',
            data: { session_id: known.session_id },
          })
        }
        throw new HttpProblem(
          400,
          'ERR_CODE_INVALID',
          'the sign-in code is unknown, expired, already used, or from another browser',
        )
      }
      const { session_id } = await app.database.db
        .selectFrom('session_codes')
        .select('session_id')
        .where('code_hash', '=', codeHash)
        .executeTakeFirstOrThrow()
      const issued = await options.sessions.issueToken(session_id)
      const row = await app.database.db
        .selectFrom('sessions')
        .select(['user_id', 'mfa_verified_at', 'expires_at'])
        .where('id', '=', session_id)
        .executeTakeFirstOrThrow()
      const user = (await options.users.byId(row.user_id)) as UserTable
      const mfa = await options.mfa.status(user.id)
      return {
        token: issued.token,
        token_type: 'Bearer' as const,
        expires_at: issued.expiresAt.toISOString(),
        session_id,
        session_expires_at: row.expires_at,
        user: userView(user),
        mfa: { ...mfa, verified: row.mfa_verified_at !== null },
      }
    },
  )

  const internalUser = async (user: UserTable | undefined) => {
    if (!user || user.disabled_at !== null) throw new HttpProblem(404, 'ERR_USER_NOT_FOUND', 'no such user')
    const keys = await options.users.currentKeys(user.id)
    const of = (kind: 'signing' | 'encryption') => {
      const key = keys.find((k) => k.kind === kind)
      return key ? userKeyView(key) : null
    }
    return {
      id: user.id,
      email: user.email,
      display_name: user.display_name,
      keys: { signing: of('signing'), encryption: of('encryption') },
    }
  }

  app.get(
    '/internal/users',
    {
      config: { callers: [options.bucket] },
      schema: {
        tags: ['internal'],
        querystring: Type.Object(
          { email: Type.String({ minLength: 3, maxLength: 320 }) },
          { additionalProperties: false },
        ),
        response: { 200: InternalUser },
      },
    },
    async (request) => internalUser(await options.users.byEmail(request.query.email)),
  )

  app.get(
    '/internal/users/:id',
    {
      config: { callers: [options.bucket] },
      schema: {
        tags: ['internal'],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 36 }) }),
        response: { 200: InternalUser },
      },
    },
    async (request) => internalUser(await options.users.byId(request.params.id)),
  )
}
