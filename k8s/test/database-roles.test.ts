// The database roles of the kind overlay (and docker compose), against a real
// PostgreSQL: each API connects as its own role, owners migrate their tables,
// the others read (and append to the audit chain) and cannot change the rest.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import {
  appendAuditEntry,
  connectDatabase,
  type DatabaseHandle,
  isGroupMigrated,
  migrateGroup,
  verifyAuditChain,
} from '@docs-mesh/platform'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
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
  const handles: DatabaseHandle[] = []
  const as = (role: string) => {
    const h = connectDatabase(urlFor(role), { poolSize: 1 })
    handles.push(h)
    return h
  }

  beforeAll(async () => {
    await sql(...ROLES.map((r) => `drop role if exists ${r}`), `create database ${database}`)
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
  })
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()))
    await sql(
      `drop database if exists ${database} with (force)`,
      ...ROLES.map((r) => `drop role if exists ${r}`),
    )
  })

  it('lets each owner migrate its tables, and the others use them as they should', async () => {
    await migrateGroup(as('signing_api'), 'audit')
    await migrateGroup(as('identity_api'), 'identity')

    const bucket = as('bucket_api')
    expect(await isGroupMigrated(bucket, 'audit')).toBe(true)
    expect(await isGroupMigrated(bucket, 'identity')).toBe(true)
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
    expect(await verification.db.selectFrom('sessions').selectAll().execute()).toEqual([])
  })

  it('lets admin-api change only the columns its actions need', async () => {
    await migrateGroup(as('signing_api'), 'signing')
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
})
