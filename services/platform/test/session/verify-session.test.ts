import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import { createSessionVerifier, sha256Hex } from '../../src/session/verify-session.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'
import {
  createTestSession,
  createTestSessionKey,
  type TestSessionKey,
} from '../../src/testing/test-sessions.ts'

const issuer = 'https://localhost:8443/auth'
const audience = 'docs-mesh'

/** A session token for `sessionId` and `userId`, signed however an attacker likes. */
const forge = (
  claims: { sid: string; sub: string },
  header: { alg: string; kid: string },
  key: Parameters<SignJWT['sign']>[0],
) =>
  new SignJWT({ sid: claims.sid })
    .setProtectedHeader(header)
    .setSubject(claims.sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key)

describe.each(testDatabaseKinds(process.env))('session check on %s', (kind) => {
  let database: TestDatabase
  let handle: DatabaseHandle
  let key: TestSessionKey
  let verify: ReturnType<typeof createSessionVerifier>

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    handle = connectDatabase(database.url)
    await migrateGroup(handle, 'identity')
    key = await createTestSessionKey(handle)
    verify = createSessionVerifier(handle, { issuer, audience })
  })
  afterEach(async () => {
    await handle.close()
    await database.drop()
  })

  const expectCode = (promise: Promise<unknown>, code: string) =>
    expect(promise).rejects.toMatchObject({ statusCode: 401, code })

  it('accepts a live session and says who it is', async () => {
    const { token, userId, sessionId } = await createTestSession(handle, key, {
      issuer,
      audience,
      role: 'admin',
      mfaVerified: true,
    })
    await expect(verify(token)).resolves.toMatchObject({
      sessionId,
      userId,
      role: 'admin',
      mfaVerified: true,
    })
  })

  it('refuses a revoked session', async () => {
    const { token, sessionId } = await createTestSession(handle, key, { issuer, audience })
    await handle.db
      .updateTable('sessions')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', sessionId)
      .execute()
    await expectCode(verify(token), 'ERR_SESSION_REVOKED')
  })

  it('refuses a disabled user', async () => {
    const { token, userId } = await createTestSession(handle, key, { issuer, audience })
    await handle.db
      .updateTable('users')
      .set({ disabled_at: new Date().toISOString() })
      .where('id', '=', userId)
      .execute()
    await expectCode(verify(token), 'ERR_SESSION_REVOKED')
  })

  it('refuses an expired token', async () => {
    const { token } = await createTestSession(handle, key, { issuer, audience, ttlSeconds: -10 })
    await expectCode(verify(token), 'ERR_SESSION_EXPIRED')
  })

  it('refuses the wrong audience or issuer', async () => {
    const a = await createTestSession(handle, key, { issuer, audience: 'someone-else' })
    const b = await createTestSession(handle, key, { issuer: 'https://evil.example', audience })
    await expectCode(verify(a.token), 'ERR_SESSION_INVALID')
    await expectCode(verify(b.token), 'ERR_SESSION_INVALID')
  })

  it('refuses alg none', async () => {
    const { userId, sessionId } = await createTestSession(handle, key, { issuer, audience })
    const token = new UnsecuredJWT({ sid: sessionId })
      .setSubject(userId)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode()
    await expectCode(verify(token), 'ERR_SESSION_INVALID')
  })

  it('refuses HS256 signed with the public key as the secret', async () => {
    const { userId, sessionId } = await createTestSession(handle, key, { issuer, audience })
    const row = await handle.db
      .selectFrom('session_keys')
      .select('public_jwk')
      .where('kid', '=', key.kid)
      .executeTakeFirstOrThrow()
    const token = await forge(
      { sid: sessionId, sub: userId },
      { alg: 'HS256', kid: key.kid },
      new TextEncoder().encode(row.public_jwk),
    )
    await expectCode(verify(token), 'ERR_SESSION_INVALID')
  })

  it('refuses a token signed by another key under a known kid', async () => {
    const { userId, sessionId } = await createTestSession(handle, key, { issuer, audience })
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const token = await forge(
      { sid: sessionId, sub: userId },
      { alg: 'EdDSA', kid: key.kid },
      other.privateKey,
    )
    await expectCode(verify(token), 'ERR_SESSION_INVALID')
  })

  it('refuses a validly signed token the session row is not bound to', async () => {
    const { userId, sessionId } = await createTestSession(handle, key, { issuer, audience })
    const forged = await forge(
      { sid: sessionId, sub: userId },
      { alg: 'EdDSA', kid: key.kid },
      key.privateKey,
    )
    const row = await handle.db
      .selectFrom('sessions')
      .select('token_hash')
      .where('id', '=', sessionId)
      .executeTakeFirstOrThrow()
    expect(row.token_hash).not.toBe(sha256Hex(forged))
    await expectCode(verify(forged), 'ERR_SESSION_INVALID')
  })

  it('refuses an unknown key id and a private JWK posing as public', async () => {
    const { userId, sessionId } = await createTestSession(handle, key, { issuer, audience })
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = randomUUID()
    const sign = (k: string) =>
      forge({ sid: sessionId, sub: userId }, { alg: 'EdDSA', kid: k }, other.privateKey)
    await expectCode(verify(await sign(kid)), 'ERR_SESSION_INVALID')
    await handle.db
      .insertInto('session_keys')
      .values({
        kid,
        public_jwk: JSON.stringify(await exportJWK(other.privateKey)),
        private_jwk_encrypted: '',
        created_at: new Date().toISOString(),
        retired_at: null,
      })
      .execute()
    await expectCode(verify(await sign(kid)), 'ERR_SESSION_INVALID')
  })
})
