// admin-api against a real database: who may use it, what it shows, what its
// actions change, and that each action lands in the audit chain.
import {
  appendAuditEntry,
  entryHashV2,
  migrateGroup,
  type ServiceApp,
  verifyCoverage,
} from '@docs-mesh/platform'
import {
  createTestDatabase,
  createTestSession,
  createTestSessionKey,
  type TestDatabase,
  testDatabaseKinds,
} from '@docs-mesh/platform/testing'
import { buildTestSigningApp } from '@docs-mesh/signing-api/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

const ISSUER = 'https://docs.test/auth'

describe.each(testDatabaseKinds(process.env))('admin-api on %s', (kind) => {
  let database: TestDatabase
  let signing: ServiceApp
  let app: ServiceApp
  const tokens = {} as Record<'carol' | 'noMfa' | 'bob' | 'dave', { token: string; userId: string }>

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    signing = await buildTestSigningApp(database.url)
    await migrateGroup(signing.database, 'identity')
    await migrateGroup(signing.database, 'buckets')
    app = await buildApp(loadServiceConfig({ DATABASE_URL: database.url, SESSION_ISSUER: ISSUER }), {
      logger: false,
    })
    const key = await createTestSessionKey(app.database)
    const session = (email: string, role: 'user' | 'admin', mfaVerified: boolean) =>
      createTestSession(app.database, key, {
        issuer: ISSUER,
        audience: 'docs-mesh',
        email,
        role,
        mfaVerified,
      })
    tokens.carol = await session('carol@example.test', 'admin', true)
    tokens.noMfa = await session('eve.admin@example.test', 'admin', false)
    tokens.bob = await session('bob@example.test', 'user', true)
    tokens.dave = await session('dave@example.test', 'user', false)
    // Each test starts from the same chain, whatever ran before it.
    for (const user of ['carol', 'bob', 'dave'] as const)
      await appendAuditEntry(app.database, { type: 'auth.sign_in', data: { user_id: tokens[user].userId } })
  })
  afterEach(async () => {
    await app.close()
    await signing.close()
    await database.drop()
  })

  const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who].token}` })
  const get = (url: string, who: keyof typeof tokens = 'carol') => app.inject({ url, headers: as(who) })
  const post = (url: string, who: keyof typeof tokens = 'carol', payload?: object) =>
    app.inject({ method: 'POST', url, headers: as(who), ...(payload ? { payload } : {}) })
  const auditTypes = async () =>
    await app.database.db.selectFrom('audit_entries').select(['type', 'data']).execute()

  it('answers only admins whose session passed MFA', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/admin/stats'],
      ['GET', '/admin/users'],
      ['POST', `/admin/users/${tokens.dave.userId}/sessions/revoke`],
      ['POST', `/admin/users/${tokens.dave.userId}/disable`],
      ['POST', '/admin/keys/any/revoke'],
      ['GET', '/admin/audit'],
      ['GET', '/admin/audit/verify'],
    ]
    for (const [method, url] of routes) {
      const none = await app.inject({ method: method as 'GET', url })
      expect(none.statusCode, url).toBe(401)
      const user = await app.inject({ method: method as 'GET', url, headers: as('bob') })
      expect(user.json(), url).toMatchObject({ status: 403, code: 'ERR_ADMIN_REQUIRED' })
      const noMfa = await app.inject({ method: method as 'GET', url, headers: as('noMfa') })
      expect(noMfa.json(), url).toMatchObject({ status: 403, code: 'ERR_MFA_REQUIRED' })
    }
    // Nothing was done by the refused calls.
    expect((await get('/admin/users?q=dave')).json().items[0]).toMatchObject({
      disabled_at: null,
      active_sessions: 1,
    })
  })

  it('shows the counts', async () => {
    const stats = (await get('/admin/stats')).json()
    expect(stats).toMatchObject({
      users: 4,
      sessions: { active: 4 },
      buckets: { active: 0, claimed: 0, withdrawn: 0, expired: 0 },
      audit_entries: expect.any(Number),
      signatures: 0,
    })
  })

  it('searches users and pages through them', async () => {
    const all = (await get('/admin/users?limit=2')).json()
    expect(all.total).toBe(4)
    expect(all.items).toHaveLength(2)
    const next = (await get('/admin/users?limit=2&offset=2')).json()
    expect([...all.items, ...next.items].map((u: { email: string }) => u.email)).toEqual([
      'bob@example.test',
      'carol@example.test',
      'dave@example.test',
      'eve.admin@example.test',
    ])
    const found = (await get('/admin/users?q=ADMIN')).json()
    expect(found.items.map((u: { email: string }) => u.email)).toEqual(['eve.admin@example.test'])
    // LIKE wildcards are searched for, not used.
    expect((await get('/admin/users?q=%25')).json().total).toBe(0)
  })

  it("revokes a user's sessions, and their token stops working everywhere", async () => {
    const res = await post(`/admin/users/${tokens.dave.userId}/sessions/revoke`)
    expect(res.json()).toEqual({ revoked: 1 })
    expect((await get('/admin/stats', 'dave')).json()).toMatchObject({
      status: 401,
      code: 'ERR_SESSION_REVOKED',
    })
    expect(
      (await auditTypes()).some(
        (e) => e.type === 'admin.sessions_revoke' && JSON.parse(e.data).user_id === tokens.dave.userId,
      ),
    ).toBe(true)
  })

  it('disables a user (ending their sessions), but not oneself', async () => {
    const res = await post(`/admin/users/${tokens.bob.userId}/disable`)
    expect(res.json()).toMatchObject({
      id: tokens.bob.userId,
      disabled_at: expect.any(String),
      active_sessions: 0,
    })
    expect((await get('/admin/stats', 'bob')).statusCode).toBe(401)
    expect((await post(`/admin/users/${tokens.carol.userId}/disable`)).json()).toMatchObject({
      status: 409,
      code: 'ERR_SELF_DISABLE',
    })
    expect((await post('/admin/users/nobody/disable')).json()).toMatchObject({
      status: 404,
      code: 'ERR_USER_NOT_FOUND',
    })
    const entry = (await auditTypes()).find((e) => e.type === 'admin.user_disable')
    expect(JSON.parse(entry?.data ?? '{}')).toEqual({
      user_id: tokens.bob.userId,
      admin_id: tokens.carol.userId,
    })
  })

  it('revokes a platform key or a user key, once', async () => {
    const { key_id } = await signing.database.db
      .selectFrom('signing_keys')
      .select('key_id')
      .executeTakeFirstOrThrow()
    const res = await post(`/admin/keys/${key_id}/revoke`, 'carol', { reason: 'key material leaked' })
    expect(res.json()).toMatchObject({ key_id, owner: 'platform', revoked_at: expect.any(String) })
    const row = await signing.database.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('key_id', '=', key_id)
      .executeTakeFirstOrThrow()
    expect(row).toMatchObject({ revoked_at: expect.any(String), revocation_reason: 'key material leaked' })
    expect((await post(`/admin/keys/${key_id}/revoke`)).json()).toMatchObject({
      status: 409,
      code: 'ERR_KEY_REVOKED',
    })

    await app.database.db
      .insertInto('user_keys')
      .values({
        id: 'user-key-1',
        user_id: tokens.dave.userId,
        kind: 'signing',
        algorithm: 'Ed25519',
        public_key: 'x'.repeat(43),
        fingerprint: '0'.repeat(64),
        attestation_sha256: '0'.repeat(64),
        attestation_signature_id: 's',
        attestation_signature: 's',
        attestation_key_id: key_id,
        created_at: new Date().toISOString(),
        superseded_at: null,
        revoked_at: null,
      })
      .execute()
    expect((await post('/admin/keys/user-key-1/revoke')).json()).toMatchObject({ owner: 'user' })
    expect((await post('/admin/keys/nope/revoke')).json()).toMatchObject({
      status: 404,
      code: 'ERR_KEY_UNKNOWN',
    })
    const revokes = (await auditTypes())
      .filter((e) => e.type === 'admin.key_revoke')
      .map((e) => JSON.parse(e.data))
    expect(revokes).toEqual([
      expect.objectContaining({ key_id, owner: 'platform', admin_id: tokens.carol.userId }),
      expect.objectContaining({ key_id: 'user-key-1', owner: 'user', user_id: tokens.dave.userId }),
    ])
  })

  it('pages through the audit chain, newest first', async () => {
    const first = (await get('/admin/audit?limit=2')).json()
    expect(first.items).toHaveLength(2)
    expect(first.items[0].id).toBeGreaterThan(first.items[1].id)
    expect(first.items[0].data).toEqual(expect.any(Object))
    const second = (await get(`/admin/audit?limit=2&before=${first.next_before}`)).json()
    expect(second.items[0].id).toBe(first.items[1].id - 1)
  })

  it('verifies the whole chain and every checkpoint, and names the first changed entry', async () => {
    await signing.witness.checkpoint()
    const ok = (await get('/admin/audit/verify')).json()
    expect(ok).toMatchObject({
      valid: true,
      chain: { valid: true, first_broken_id: null },
      checkpoints: { valid: true, checkpoints: 1, problems: [] },
      coverage: { valid: true, problem: null },
    })

    const victim = 2
    await app.database.db
      .updateTable('audit_entries')
      .set({ data: '{"rewritten":true}' })
      .where('id', '=', victim)
      .execute()
    const broken = (await get('/admin/audit/verify')).json()
    expect(broken).toMatchObject({ valid: false, chain: { valid: false, first_broken_id: victim } })
    expect(broken.chain.breaks[0]).toEqual({ id: victim, reason: 'hash_mismatch' })
  })

  it('reports a checkpoint signed with a revoked key', async () => {
    const checkpoint = await signing.witness.checkpoint()
    await app.database.db
      .updateTable('signing_keys')
      .set({ revoked_at: new Date(Date.parse(checkpoint!.signed_at) - 1000).toISOString() })
      .where('key_id', '=', checkpoint!.key_id)
      .execute()
    const verdict = (await get('/admin/audit/verify')).json()
    expect(verdict.valid).toBe(false)
    expect(verdict.checkpoints.problems).toContainEqual(
      expect.objectContaining({ checkpoint_id: checkpoint!.id, problem: 'revoked_key' }),
    )
  })

  it('reports a rewritten chain with every hash recomputed and the checkpoints deleted', async () => {
    // A chain that verified and that signing-api checkpointed, as the database writer found it.
    await signing.witness.checkpoint()
    const rows = await app.database.db.selectFrom('audit_entries').selectAll().orderBy('id').execute()
    let prev = rows[0]!.prev_hash
    for (const row of rows) {
      const data = row.id === 1 ? '{"forged":true}' : row.data
      const hash = entryHashV2(prev, row.type, data, row.created_at)
      await app.database.db
        .updateTable('audit_entries')
        .set({ data, prev_hash: prev, hash, version: 2 })
        .where('id', '=', row.id)
        .execute()
      prev = hash
    }
    await app.database.db.deleteFrom('audit_checkpoints').execute()
    const verdict = (await get('/admin/audit/verify')).json()
    expect(verdict).toMatchObject({
      valid: false,
      chain: { valid: true },
      checkpoints: { valid: true, checkpoints: 0 },
      coverage: { valid: false, problem: 'no_checkpoint' },
    })
    // And the witness, holding its own record of the last checkpoint, will not vouch for the forgery.
    await expect(signing.witness.checkpoint()).rejects.toMatchObject({ code: 'ERR_WITNESS_MISMATCH' })
  })

  it('calls a checkpoint stale once it is older than the allowed age, and a head too far past it uncovered', () => {
    const latest = { sequence: 1, entry_id: 10, signed_at: new Date(Date.now() - 5000).toISOString() }
    const policy = { maxAgeSeconds: 1, maxEntriesBehind: 3 }
    expect(verifyCoverage({ head: { id: 10, hash: 'h' } }, { latest }, policy)).toMatchObject({
      valid: false,
      problem: 'stale_checkpoint',
    })
    const fresh = { ...latest, signed_at: new Date().toISOString() }
    expect(verifyCoverage({ head: { id: 13, hash: 'h' } }, { latest: fresh }, policy).valid).toBe(true)
    expect(verifyCoverage({ head: { id: 14, hash: 'h' } }, { latest: fresh }, policy)).toMatchObject({
      valid: false,
      problem: 'head_not_covered',
      entries_behind: 4,
    })
  })
})
