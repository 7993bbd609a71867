// Checks a session JWT the way every service must: EdDSA signature against
// identity-api's public session keys, expiry, issuer and audience, then the
// session row (not revoked, not expired, bound to this very token) and the
// user (not disabled). Read from the shared database, so services that may
// not call identity-api still check sessions themselves.
import { createHash } from 'node:crypto'
import { type CryptoKey, importJWK, type JWTHeaderParameters, errors as joseErrors, jwtVerify } from 'jose'
import type { DatabaseHandle } from '../db/connect.ts'
import { HttpProblem } from '../errors/problem.ts'

export interface VerifiedSession {
  sessionId: string
  userId: string
  role: 'user' | 'admin'
  mfaVerified: boolean
  expiresAt: Date
}

export interface SessionVerifierOptions {
  issuer: string
  audience: string
  /** How long a looked-up public key is trusted before it is read again. */
  keyCacheMs?: number
  now?: () => Date
}

export const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex')

const unauthorized = (code: string, detail: string) =>
  new HttpProblem(401, code, detail, { headers: { 'www-authenticate': 'Bearer realm="docs-mesh"' } })

export function createSessionVerifier(handle: DatabaseHandle, options: SessionVerifierOptions) {
  const cache = new Map<string, { key: CryptoKey; until: number }>()
  const keyCacheMs = options.keyCacheMs ?? 60_000
  const now = options.now ?? (() => new Date())

  async function keyFor(header: JWTHeaderParameters): Promise<CryptoKey> {
    if (header.alg !== 'EdDSA' || typeof header.kid !== 'string')
      throw unauthorized('ERR_SESSION_INVALID', 'unsupported token header')
    const cached = cache.get(header.kid)
    if (cached && cached.until > Date.now()) return cached.key
    const row = await handle.db
      .selectFrom('session_keys')
      .select(['public_jwk'])
      .where('kid', '=', header.kid)
      .executeTakeFirst()
    if (!row) throw unauthorized('ERR_SESSION_INVALID', 'unknown session key')
    const jwk = JSON.parse(row.public_jwk) as Record<string, unknown>
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || 'd' in jwk)
      throw unauthorized('ERR_SESSION_INVALID', 'unusable session key')
    const key = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x as string }, 'EdDSA')) as CryptoKey
    cache.set(header.kid, { key, until: Date.now() + keyCacheMs })
    return key
  }

  return async function verifySession(token: string): Promise<VerifiedSession> {
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, keyFor, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ['EdDSA'],
        requiredClaims: ['sid', 'sub', 'exp', 'iat'],
        currentDate: now(),
      }))
    } catch (error) {
      if (error instanceof HttpProblem) throw error
      if (error instanceof joseErrors.JWTExpired)
        throw unauthorized('ERR_SESSION_EXPIRED', 'the session has expired')
      throw unauthorized('ERR_SESSION_INVALID', 'the session token is not valid')
    }
    const { sid, sub } = payload
    if (typeof sid !== 'string' || typeof sub !== 'string')
      throw unauthorized('ERR_SESSION_INVALID', 'the session token is not valid')
    const row = await handle.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id',
        'sessions.user_id',
        'sessions.token_hash',
        'sessions.expires_at',
        'sessions.revoked_at',
        'sessions.mfa_verified_at',
        'users.role',
        'users.disabled_at',
      ])
      .where('sessions.id', '=', sid)
      .executeTakeFirst()
    if (!row || row.user_id !== sub || row.token_hash !== sha256Hex(token)) {
      throw unauthorized('ERR_SESSION_INVALID', 'the session token is not valid')
    }
    if (row.revoked_at !== null) throw unauthorized('ERR_SESSION_REVOKED', 'the session has been revoked')
    if (row.disabled_at !== null) throw unauthorized('ERR_SESSION_REVOKED', 'the account is disabled')
    const expiresAt = new Date(row.expires_at)
    if (expiresAt <= now()) throw unauthorized('ERR_SESSION_EXPIRED', 'the session has expired')
    return {
      sessionId: row.id,
      userId: row.user_id,
      role: row.role,
      mfaVerified: row.mfa_verified_at !== null,
      expiresAt,
    }
  }
}

export type SessionVerifier = ReturnType<typeof createSessionVerifier>
