// What the session check reads from the database rather than from the token:
// the session's maximum age (the row's expiry, not the token's `exp`) and the
// user's role. A token that is otherwise valid must not outlive either.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts'
import { migrateGroup } from '../../src/db/migrate.ts'
import { createSessionVerifier } from '../../src/session/verify-session.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'
import {
  createTestSession,
  createTestSessionKey,
  type TestSessionKey,
} from '../../src/testing/test-sessions.ts'

const issuer = 'https://localhost:8443/auth'
const audience = 'docs-mesh'

describe.each(testDatabaseKinds(process.env))('session lifetime and role on %s', (kind) => {
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

  it('refuses a session past its maximum age while its token is still within its lifetime', async () => {
    // The token says 15 more minutes; the session row says the session is over.
    const { token, sessionId } = await createTestSession(handle, key, { issuer, audience, ttlSeconds: 900 })
    await expect(verify(token)).resolves.toMatchObject({ sessionId })
    await handle.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', sessionId)
      .execute()
    await expect(verify(token)).rejects.toMatchObject({ statusCode: 401, code: 'ERR_SESSION_EXPIRED' })
  })

  it('takes the role from the database, not from the token: a demoted admin is a user at once', async () => {
    const { token, userId } = await createTestSession(handle, key, {
      issuer,
      audience,
      role: 'admin',
      mfaVerified: true,
    })
    await expect(verify(token)).resolves.toMatchObject({ role: 'admin' })
    await handle.db.updateTable('users').set({ role: 'user' }).where('id', '=', userId).execute()
    // The token still carries `role: admin`; the check must not believe it.
    await expect(verify(token)).resolves.toMatchObject({ role: 'user' })
  })
})
