// admin-api checks sessions itself from the shared database: an admin demoted
// there loses the admin routes at the next request, and a session past its
// maximum age is refused though its token has not expired.
import { migrateGroup, type ServiceApp } from '@docs-mesh/platform'
import {
  createTestDatabase,
  createTestSession,
  createTestSessionKey,
  type TestDatabase,
  type TestSessionKey,
  testDatabaseKinds,
} from '@docs-mesh/platform/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const ISSUER = 'https://docs.test/auth'

describe.each(testDatabaseKinds(process.env))('admin-api session checks on %s', (kind) => {
  let database: TestDatabase
  let app: ServiceApp
  let key: TestSessionKey

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    app = await buildApp(loadServiceConfig({ DATABASE_URL: database.url, SESSION_ISSUER: ISSUER }), {
      logger: false,
    })
    for (const group of ['audit', 'signing', 'identity', 'buckets'] as const)
      await migrateGroup(app.database, group)
    key = await createTestSessionKey(app.database)
  })
  afterEach(async () => {
    await app.close()
    await database.drop()
  })

  const admin = () =>
    createTestSession(app.database, key, {
      issuer: ISSUER,
      audience: 'docs-mesh',
      role: 'admin',
      mfaVerified: true,
    })
  const stats = (token: string) =>
    app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${token}` } })

  it('refuses an admin demoted in the database at once, though the token still says admin', async () => {
    const { token, userId } = await admin()
    expect((await stats(token)).statusCode).toBe(200)
    await app.database.db.updateTable('users').set({ role: 'user' }).where('id', '=', userId).execute()
    expect((await stats(token)).json()).toMatchObject({ status: 403, code: 'ERR_ADMIN_REQUIRED' })
  })

  it('refuses a session past its maximum age while its token is otherwise valid', async () => {
    const { token, sessionId } = await admin()
    expect((await stats(token)).statusCode).toBe(200)
    await app.database.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', sessionId)
      .execute()
    expect((await stats(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_EXPIRED' })
  })
})
