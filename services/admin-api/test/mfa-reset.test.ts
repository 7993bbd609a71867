// An admin's reset of a user's MFA: only for an MFA-verified admin, removes
// the factor and the recovery codes, ends the user's sessions, and is audited.
import { randomUUID } from 'node:crypto'
import { migrateGroup, type ServiceApp } from '@docs-mesh/platform'
import {
  createTestDatabase,
  createTestSession,
  createTestSessionKey,
  type TestDatabase,
  testDatabaseKinds,
} from '@docs-mesh/platform/testing'
import { buildTestSigningApp } from '@docs-mesh/signing-api/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const ISSUER = 'https://docs.test/auth'

describe.each(testDatabaseKinds(process.env))('MFA reset on %s', (kind) => {
  let database: TestDatabase
  let signing: ServiceApp
  let app: ServiceApp
  let session: (
    email: string,
    role: 'user' | 'admin',
    mfaVerified: boolean,
  ) => ReturnType<typeof createTestSession>

  beforeAll(async () => {
    database = await createTestDatabase(kind, process.env)
    signing = await buildTestSigningApp(database.url)
    await migrateGroup(signing.database, 'identity')
    app = await buildApp(loadServiceConfig({ DATABASE_URL: database.url, SESSION_ISSUER: ISSUER }), {
      logger: false,
    })
    const key = await createTestSessionKey(app.database)
    session = (email, role, mfaVerified) =>
      createTestSession(app.database, key, {
        issuer: ISSUER,
        audience: 'docs-mesh',
        email,
        role,
        mfaVerified,
      })
  })
  afterAll(async () => {
    await app.close()
    await signing.close()
    await database.drop()
  })

  const reset = (userId: string, token?: string) =>
    app.inject({
      method: 'POST',
      url: `/admin/users/${userId}/mfa/reset`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    })

  const enrolled = async (userId: string) => {
    const at = new Date().toISOString()
    await app.database.db
      .insertInto('mfa_credentials')
      .values({
        user_id: userId,
        secret_encrypted: 'v1.x.y',
        created_at: at,
        enabled_at: at,
        last_used_step: null,
        failed_attempts: 0,
        locked_until: null,
      })
      .execute()
    await app.database.db
      .insertInto('recovery_codes')
      .values({ id: randomUUID(), user_id: userId, code_hash: 'h', created_at: at, used_at: null })
      .execute()
  }

  it('removes the factor and the recovery codes, ends every session of the user, and is audited', async () => {
    const admin = await session('carol@example.test', 'admin', true)
    const user = await session('bob@example.test', 'user', true)
    await enrolled(user.userId)
    const res = await reset(user.userId, admin.token)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ user_id: user.userId, had_mfa: true, sessions_revoked: 1 })
    const { db } = app.database
    expect(
      await db.selectFrom('mfa_credentials').selectAll().where('user_id', '=', user.userId).execute(),
    ).toEqual([])
    expect(
      await db.selectFrom('recovery_codes').selectAll().where('user_id', '=', user.userId).execute(),
    ).toEqual([])
    const me = await app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${user.token}` } })
    expect(me.json()).toMatchObject({ status: 401, code: 'ERR_SESSION_REVOKED' })
    const audit = await db
      .selectFrom('audit_entries')
      .select(['type', 'data'])
      .where('type', '=', 'admin.mfa_reset')
      .execute()
    expect(audit.map((e) => JSON.parse(e.data))).toContainEqual({
      user_id: user.userId,
      admin_id: admin.userId,
      had_mfa: true,
      sessions_revoked: 1,
    })
  })

  it('is for MFA-verified admins only, and says 404 for an unknown user', async () => {
    const user = await session('dave@example.test', 'user', true)
    await enrolled(user.userId)
    const noMfa = await session('eve@example.test', 'admin', false)
    expect((await reset(user.userId)).statusCode).toBe(401)
    expect((await reset(user.userId, user.token)).json()).toMatchObject({ code: 'ERR_ADMIN_REQUIRED' })
    expect((await reset(user.userId, noMfa.token)).json()).toMatchObject({ code: 'ERR_MFA_REQUIRED' })
    const kept = await app.database.db
      .selectFrom('mfa_credentials')
      .selectAll()
      .where('user_id', '=', user.userId)
      .execute()
    expect(kept).toHaveLength(1)
    const admin = await session('frank@example.test', 'admin', true)
    expect((await reset('no-such-user', admin.token)).json()).toMatchObject({
      status: 404,
      code: 'ERR_USER_NOT_FOUND',
    })
  })
})
