// The database roles of the kind overlay (and docker compose), against a real
// PostgreSQL: each API connects as its own role, owners migrate their tables,
// the others read (and append to the audit chain) and cannot change the rest.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp as buildAdminApp } from '@docs-mesh/admin-api/app'
import { loadServiceConfig as loadAdminConfig } from '@docs-mesh/admin-api/config'
import { buildApp as buildBucketApp } from '@docs-mesh/bucket-api/app'
import { loadServiceConfig as loadBucketConfig } from '@docs-mesh/bucket-api/config'
import {
  appendAuditEntry,
  connectDatabase,
  type DatabaseHandle,
  isGroupMigrated,
  migrateGroup,
  verifyAuditChain,
} from '@docs-mesh/platform'
import { createTestSession, createTestSessionKey, hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { buildApp as buildVerificationApp } from '@docs-mesh/verification-api/app'
import { loadServiceConfig as loadVerificationConfig } from '@docs-mesh/verification-api/config'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const admin = process.env.TEST_DATABASE_URL
const script = fileURLToPath(new URL('../overlays/kind/postgres-init-roles.sh', import.meta.url))
const ROLES = ['bucket_api', 'signing_api', 'verification_api', 'identity_api', 'admin_api']

const ready =
  requireFor('the database roles test', Boolean(admin), 'TEST_DATABASE_URL') &&
  requireFor('the database roles test', hasCommand('psql'), 'psql')

describe.skipIf(!ready)('database roles (postgres-init-roles.sh)', () => {
  const database = `docs_roles_${randomBytes(4).toString('hex')}`
  const passwords = Object.fromEntries(ROLES.map((r) => [r, randomBytes(8).toString('hex')]))
  const server = new URL(admin ?? 'postgres://localhost')
  const urlFor = (role: string) => {
    const u = new URL(server)
    u.username = role
    u.password = passwords[role] as string
    u.pathname = `/${database}`
    return u.toString()
  }
  const sql = async (...statements: string[]) => {
    const client = new pg.Client({ connectionString: admin })
    await client.connect()
    for (const s of statements) await client.query(s)
    await client.end()
  }
  /**
   * Drops the five roles. The roles are the server's, not this database's, and
   * while they exist the migrations of every other suite's test databases on the
   * same server grant to them (as they do in the cluster), so a drop can find
   * privileges in databases other suites are still using: those are revoked in
   * each database (DROP OWNED) and the drop tried again.
   */
  const dropRoles = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await sql(...ROLES.map((r) => `drop role if exists ${r}`))
      } catch (error) {
        if ((error as { code?: string }).code !== '2BP01' || attempt === 10) throw error
      }
      const client = new pg.Client({ connectionString: admin })
      await client.connect()
      const roles = (
        await client.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [
          ROLES,
        ])
      ).rows.map((r) => r.rolname)
      const databases = (
        await client.query<{ datname: string }>('select datname from pg_database where datallowconn')
      ).rows.map((r) => r.datname)
      await client.end()
      for (const name of databases) {
        const url = new URL(server)
        url.pathname = `/${name}`
        const other = new pg.Client({ connectionString: url.toString() })
        // The suite that made it may drop it WITH (FORCE) meanwhile, which terminates this
        // connection (57P01): pg reports that as an 'error' event, uncaught without a listener.
        other.on('error', () => undefined)
        try {
          await other.connect()
          await other.query(`drop owned by ${roles.join(', ')}`)
        } catch {
          // Dropped meanwhile by the suite that made it, or busy: the next attempt sees.
        } finally {
          await other.end().catch(() => undefined)
        }
      }
    }
  }
  const handles: DatabaseHandle[] = []
  const as = (role: string) => {
    const h = connectDatabase(urlFor(role), { poolSize: 1 })
    handles.push(h)
    return h
  }

  beforeAll(async () => {
    await dropRoles()
    await sql(`create database ${database}`)
    execFileSync('sh', [script], {
      env: {
        ...process.env,
        PGHOST: server.hostname,
        PGPORT: server.port || '5432',
        PGPASSWORD: decodeURIComponent(server.password),
        POSTGRES_USER: decodeURIComponent(server.username),
        POSTGRES_DB: database,
        BUCKET_API_PASSWORD: passwords.bucket_api,
        SIGNING_API_PASSWORD: passwords.signing_api,
        VERIFICATION_API_PASSWORD: passwords.verification_api,
        IDENTITY_API_PASSWORD: passwords.identity_api,
        ADMIN_API_PASSWORD: passwords.admin_api,
      },
      stdio: 'pipe',
    })
    // Each owner migrates its own tables, as the services do when they start
    // (every test needs all of them, whichever runs first).
    await migrateGroup(as('signing_api'), 'audit')
    await migrateGroup(as('identity_api'), 'identity')
    await migrateGroup(as('signing_api'), 'signing')
    await migrateGroup(as('bucket_api'), 'buckets')
  })
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()))
    await sql(`drop database if exists ${database} with (force)`)
    await dropRoles()
  })

  it('lets each owner migrate its tables, and the others use them as they should', async () => {
    const bucket = as('bucket_api')
    for (const group of ['audit', 'identity', 'signing', 'buckets'] as const)
      expect(await isGroupMigrated(bucket, group), group).toBe(true)
    await appendAuditEntry(bucket, { type: 'bucket.create', data: { bucket: 'b1' } })
    expect((await verifyAuditChain(as('admin_api'))).valid).toBe(true)

    await expect(bucket.db.updateTable('audit_entries').set({ data: '{}' }).execute()).rejects.toThrow(
      /permission denied/,
    )
    await expect(bucket.db.deleteFrom('audit_entries').execute()).rejects.toThrow(/permission denied/)
    await expect(
      bucket.db
        .insertInto('users')
        .values({
          id: 'u',
          email: 'e',
          display_name: 'd',
          role: 'admin',
          created_at: 'now',
          disabled_at: null,
        })
        .execute(),
    ).rejects.toThrow(/permission denied/)
    const verification = as('verification_api')
    await expect(
      verification.db.schema.createTable('mine').addColumn('id', 'integer').execute(),
    ).rejects.toThrow(/permission denied/)
    // Sessions are none of verification-api's business (it serves no signed-in user).
    await expect(verification.db.selectFrom('sessions').selectAll().execute()).rejects.toThrow(
      /permission denied/,
    )
  })

  it('lets admin-api change only the columns its actions need', async () => {
    const identity = as('identity_api')
    const now = new Date().toISOString()
    await identity.db
      .insertInto('users')
      .values({
        id: 'u2',
        email: 'u2@example.test',
        display_name: 'U',
        role: 'user',
        created_at: now,
        disabled_at: null,
      })
      .execute()
    const admin = as('admin_api')
    await admin.db.updateTable('users').set({ disabled_at: now }).where('id', '=', 'u2').execute()
    await admin.db.updateTable('sessions').set({ revoked_at: now }).where('user_id', '=', 'u2').execute()
    await admin.db
      .updateTable('signing_keys')
      .set({ revoked_at: now, revocation_reason: 'test' })
      .where('key_id', '=', 'none')
      .execute()
    await expect(
      admin.db.updateTable('users').set({ role: 'admin' }).where('id', '=', 'u2').execute(),
    ).rejects.toThrow(/permission denied/)
    await expect(admin.db.updateTable('signing_keys').set({ public_key: 'x' }).execute()).rejects.toThrow(
      /permission denied/,
    )
    await expect(admin.db.updateTable('audit_entries').set({ data: '{}' }).execute()).rejects.toThrow(
      /permission denied/,
    )
    await expect(
      as('bucket_api').db.updateTable('sessions').set({ revoked_at: now }).execute(),
    ).rejects.toThrow(/permission denied/)
  })

  it('lets only the services that act append to the audit chain, and only signing-api sign', async () => {
    const now = new Date().toISOString()
    await appendAuditEntry(as('admin_api'), { type: 'admin.test', data: {} })
    await appendAuditEntry(as('identity_api'), { type: 'auth.test', data: {} })
    await expect(appendAuditEntry(as('verification_api'), { type: 'verify.test', data: {} })).rejects.toThrow(
      /permission denied/,
    )
    await expect(
      as('bucket_api')
        .db.insertInto('signatures')
        .values({
          signature_id: 's',
          key_id: 'k',
          sha256: '0'.repeat(64),
          purpose: 'upload_receipt',
          subject_id: 'b',
          user_id: null,
          signature: 'x',
          caller: 'c',
          signed_at: now,
        })
        .execute(),
    ).rejects.toThrow(/permission denied/)
    await expect(as('identity_api').db.deleteFrom('signing_keys').execute()).rejects.toThrow(
      /permission denied/,
    )
    expect((await verifyAuditChain(as('verification_api'))).valid).toBe(true)
  })

  it("runs each service's own queries as its role, and refuses it every secret column", async () => {
    const identity = as('identity_api')
    const ISSUER = 'https://docs.test/auth'
    const key = await createTestSessionKey(identity)
    const session = (email: string, role: 'user' | 'admin') =>
      createTestSession(identity, key, {
        issuer: ISSUER,
        audience: 'docs-mesh',
        email,
        role,
        mfaVerified: true,
      })
    const adminUser = await session('root@example.test', 'admin')
    const user = await session('user@example.test', 'user')
    const now = new Date().toISOString()
    await identity.db
      .insertInto('user_keys')
      .values({
        id: 'uk-1',
        user_id: user.userId,
        kind: 'signing',
        algorithm: 'Ed25519',
        public_key: 'A'.repeat(43),
        fingerprint: '0'.repeat(64),
        attestation_sha256: '0'.repeat(64),
        attestation_signature_id: 'none',
        attestation_signature: 'none',
        attestation_key_id: 'none',
        created_at: now,
        superseded_at: null,
        revoked_at: null,
      })
      .execute()

    // The services themselves, each connected as its own role.
    const blobDir = mkdtempSync(join(tmpdir(), 'docs-roles-blobs-'))
    const apps = [
      await buildAdminApp(loadAdminConfig({ DATABASE_URL: urlFor('admin_api'), SESSION_ISSUER: ISSUER }), {
        logger: false,
      }),
      await buildBucketApp(
        loadBucketConfig({
          DATABASE_URL: urlFor('bucket_api'),
          SESSION_ISSUER: ISSUER,
          BLOB_DIR: blobDir,
          EXPIRY_INTERVAL_SECONDS: '0',
          SWEEP_INTERVAL_SECONDS: '0',
        }),
        { logger: false },
      ),
      await buildVerificationApp(loadVerificationConfig({ DATABASE_URL: urlFor('verification_api') }), {
        logger: false,
      }),
    ]
    const [adminApp, bucketApp, verificationApp] = apps as [
      (typeof apps)[number],
      (typeof apps)[number],
      (typeof apps)[number],
    ]
    try {
      const asAdmin = { authorization: `Bearer ${adminUser.token}` }
      for (const url of ['/admin/stats', '/admin/users?q=example', '/admin/audit', '/admin/audit/verify'])
        expect((await adminApp.inject({ url, headers: asAdmin })).statusCode, url).toBe(200)
      for (const url of [`/admin/users/${user.userId}/sessions/revoke`, `/admin/keys/uk-1/revoke`])
        expect((await adminApp.inject({ method: 'POST', url, headers: asAdmin })).statusCode, url).toBe(200)
      const disabled = await adminApp.inject({
        method: 'POST',
        url: `/admin/users/${user.userId}/disable`,
        headers: asAdmin,
      })
      expect(disabled.statusCode).toBe(200)

      const asUser = { authorization: `Bearer ${adminUser.token}` }
      for (const url of ['/buckets?box=inbox', '/buckets?box=outbox'])
        expect((await bucketApp.inject({ url, headers: asUser })).statusCode, url).toBe(200)

      expect((await verificationApp.inject({ url: '/verify/keys/uk-1' })).json()).toMatchObject({
        key_id: 'uk-1',
        owner: 'user',
        attested: false,
        status: 'revoked',
      })
      expect((await verificationApp.inject({ url: '/verify/keys' })).statusCode).toBe(200)
    } finally {
      for (const app of apps) await app.close()
      rmSync(blobDir, { recursive: true, force: true })
    }

    // admin-api revoked and disabled; it cannot take either back.
    const admin = as('admin_api')
    for (const undo of [
      admin.db.updateTable('users').set({ disabled_at: null }).where('id', '=', user.userId),
      admin.db.updateTable('sessions').set({ revoked_at: null }).where('user_id', '=', user.userId),
      admin.db.updateTable('user_keys').set({ revoked_at: null }).where('id', '=', 'uk-1'),
    ])
      await expect(undo.execute()).rejects.toThrow(/only its owner may change it/)
    await admin.db
      .updateTable('signing_keys')
      .set({ revoked_at: now, revocation_reason: 'test' })
      .where('key_id', '=', 'none')
      .execute()
    // identity-api, the owner, still can (an operator re-enabling an account).
    await identity.db.updateTable('users').set({ disabled_at: null }).where('id', '=', user.userId).execute()

    const secrets = [
      'select secret_encrypted from mfa_credentials',
      'select code_hash from recovery_codes',
      'select code_verifier from login_attempts',
      'select private_jwk_encrypted from session_keys',
      'select code_hash from session_codes',
      'select subject from oidc_links',
    ]
    for (const role of ['bucket_api', 'admin_api', 'verification_api', 'signing_api']) {
      const client = new pg.Client({ connectionString: urlFor(role) })
      await client.connect()
      try {
        for (const statement of secrets)
          await expect(client.query(statement), `${role}: ${statement}`).rejects.toThrow(/permission denied/)
        if (role !== 'bucket_api' && role !== 'admin_api')
          await expect(client.query('select token_hash from sessions'), role).rejects.toThrow(
            /permission denied/,
          )
        if (role !== 'admin_api')
          await expect(client.query('select * from users'), role).rejects.toThrow(/permission denied/)
      } finally {
        await client.end()
      }
    }
  })
})
