// Session rows and the tokens bound to them. A session starts at the OpenID
// callback with no usable token; the token is made when the single-use code
// is exchanged, and again at each renewal. The row keeps only the current
// token's hash, so renewing retires the previous token at once.
import { randomBytes, randomUUID } from 'node:crypto'
import { type DatabaseHandle, HttpProblem, sha256Hex } from '@docs-mesh/platform'
import { SignJWT } from 'jose'
import type { SessionKeys } from './session-keys.ts'

export interface SessionsOptions {
  keys: SessionKeys
  issuer: string
  audience: string
  ttlMs: number
  maxAgeMs: number
  now?: () => Date
}

export interface IssuedToken {
  token: string
  expiresAt: Date
}

export function createSessions(handle: DatabaseHandle, options: SessionsOptions) {
  const now = options.now ?? (() => new Date())

  return {
    /** A session for a user who just signed in; its token comes later, from issueToken. */
    async start(userId: string, clientIp: string): Promise<string> {
      const id = randomUUID()
      const at = now()
      await handle.db
        .insertInto('sessions')
        .values({
          id,
          user_id: userId,
          // Matches no token: nothing can use the session before the code is exchanged.
          token_hash: sha256Hex(randomBytes(32).toString('hex')),
          client_ip: clientIp,
          created_at: at.toISOString(),
          expires_at: new Date(at.getTime() + options.maxAgeMs).toISOString(),
          mfa_verified_at: null,
          revoked_at: null,
        })
        .execute()
      return id
    },

    /** Signs a fresh token for a live session and binds the row to it. */
    async issueToken(sessionId: string): Promise<IssuedToken> {
      const row = await handle.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select([
          'sessions.user_id',
          'sessions.expires_at',
          'sessions.revoked_at',
          'users.role',
          'users.disabled_at',
        ])
        .where('sessions.id', '=', sessionId)
        .executeTakeFirst()
      const at = now()
      if (
        !row ||
        row.revoked_at !== null ||
        row.disabled_at !== null ||
        Date.parse(row.expires_at) <= at.getTime()
      )
        throw new HttpProblem(401, 'ERR_SESSION_REVOKED', 'the session has ended; sign in again')
      const expiresAt = new Date(Math.min(at.getTime() + options.ttlMs, Date.parse(row.expires_at)))
      const { kid, privateKey } = await options.keys.active()
      const token = await new SignJWT({ sid: sessionId, role: row.role })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setSubject(row.user_id)
        // Unique per token, so a renewal within the same second is still a new token.
        .setJti(randomUUID())
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setIssuedAt(Math.floor(at.getTime() / 1000))
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(privateKey)
      const updated = await handle.db
        .updateTable('sessions')
        .set({ token_hash: sha256Hex(token) })
        .where('id', '=', sessionId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (updated.numUpdatedRows !== 1n)
        throw new HttpProblem(401, 'ERR_SESSION_REVOKED', 'the session has ended; sign in again')
      return { token, expiresAt }
    },

    async revoke(sessionId: string): Promise<boolean> {
      const result = await handle.db
        .updateTable('sessions')
        .set({ revoked_at: now().toISOString() })
        .where('id', '=', sessionId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows === 1n
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>
