// identity-api's own state: OpenID links, sign-ins in flight, single-use
// session codes, MFA credentials, recovery codes and users' public keys.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('oidc_links')
    .addColumn('provider', 'varchar(64)', (c) => c.notNull())
    .addColumn('subject', 'varchar(255)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('last_sign_in_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('oidc_links_pk', ['provider', 'subject'])
    .execute()

  // A sign-in between the redirect to the provider and its callback.
  await db.schema
    .createTable('login_attempts')
    .addColumn('state', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('provider', 'varchar(64)', (c) => c.notNull())
    .addColumn('code_verifier', 'varchar(128)', (c) => c.notNull())
    .addColumn('nonce', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('session_codes')
    .addColumn('code_hash', 'char(64)', (c) => c.primaryKey())
    .addColumn('session_id', 'varchar(36)', (c) => c.notNull().references('sessions.id'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('used_at', 'varchar(32)')
    .execute()

  await db.schema
    .createTable('mfa_credentials')
    .addColumn('user_id', 'varchar(36)', (c) => c.primaryKey().references('users.id'))
    .addColumn('secret_encrypted', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('enabled_at', 'varchar(32)')
    .addColumn('last_used_step', 'bigint')
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'varchar(32)')
    .execute()

  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
    .addColumn('code_hash', 'varchar(200)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('used_at', 'varchar(32)')
    .execute()
  await db.schema.createIndex('recovery_codes_user_id').on('recovery_codes').column('user_id').execute()

  await db.schema
    .createTable('user_keys')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('algorithm', 'varchar(16)', (c) => c.notNull())
    .addColumn('public_key', 'varchar(64)', (c) => c.notNull())
    .addColumn('fingerprint', 'char(64)', (c) => c.notNull())
    .addColumn('attestation_sha256', 'char(64)', (c) => c.notNull())
    .addColumn('attestation_signature_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('attestation_signature', 'varchar(128)', (c) => c.notNull())
    .addColumn('attestation_key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('superseded_at', 'varchar(32)')
    .addColumn('revoked_at', 'varchar(32)')
    .execute()
  await db.schema.createIndex('user_keys_user_id').on('user_keys').column('user_id').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'user_keys',
    'recovery_codes',
    'mfa_credentials',
    'session_codes',
    'login_attempts',
    'oidc_links',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}
