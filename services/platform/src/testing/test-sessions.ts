// Mints real sessions in a test database the way identity-api does: an
// Ed25519 key in session_keys, a user, a session row bound to the token.
import { randomUUID } from 'node:crypto'
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { DatabaseHandle } from '../db/connect.ts'
import { sha256Hex } from '../session/verify-session.ts'

export interface TestSessionKey {
  kid: string
  privateKey: CryptoKey
}

export async function createTestSessionKey(handle: DatabaseHandle): Promise<TestSessionKey> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
  const kid = randomUUID()
  await handle.db
    .insertInto('session_keys')
    .values({
      kid,
      public_jwk: JSON.stringify(await exportJWK(publicKey)),
      private_jwk_encrypted: 'not-used-in-tests',
      created_at: new Date().toISOString(),
      retired_at: null,
    })
    .execute()
  return { kid, privateKey }
}

export interface TestSessionOptions {
  issuer: string
  audience: string
  role?: 'user' | 'admin'
  mfaVerified?: boolean
  email?: string
  ttlSeconds?: number
}

export async function createTestSession(
  handle: DatabaseHandle,
  key: TestSessionKey,
  options: TestSessionOptions,
) {
  const userId = randomUUID()
  const sessionId = randomUUID()
  const now = new Date()
  const ttl = options.ttlSeconds ?? 900
  await handle.db
    .insertInto('users')
    .values({
      id: userId,
      email: options.email ?? `${userId}@example.test`,
      display_name: 'Test User',
      role: options.role ?? 'user',
      created_at: now.toISOString(),
      disabled_at: null,
    })
    .execute()
  const token = await new SignJWT({ sid: sessionId, role: options.role ?? 'user' })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(now.getTime() / 1000) + ttl)
    .sign(key.privateKey)
  await handle.db
    .insertInto('sessions')
    .values({
      id: sessionId,
      user_id: userId,
      token_hash: sha256Hex(token),
      client_ip: '127.0.0.1',
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttl * 1000).toISOString(),
      mfa_verified_at: options.mfaVerified ? now.toISOString() : null,
      revoked_at: null,
    })
    .execute()
  return { token, userId, sessionId }
}
