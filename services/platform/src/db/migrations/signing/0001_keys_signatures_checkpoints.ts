// signing-api's tables: the platform's Ed25519 keys, every signature it made,
// and its signed checkpoints of the audit chain.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('key_id', 'varchar(64)', (c) => c.primaryKey())
    /** The raw 32-byte Ed25519 public key, base64url. */
    .addColumn('public_key', 'varchar(64)', (c) => c.notNull())
    /** PKCS#8 private key sealed with AES-256-GCM under the key-encryption key. */
    .addColumn('private_key_encrypted', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    /** When it stopped signing (rotated out); it still verifies. */
    .addColumn('retired_at', 'varchar(32)')
    .addColumn('revoked_at', 'varchar(32)')
    .addColumn('revocation_reason', 'varchar(200)')
    .execute()

  await db.schema
    .createTable('signatures')
    .addColumn('signature_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('signing_keys.key_id'))
    .addColumn('sha256', 'char(64)', (c) => c.notNull())
    .addColumn('purpose', 'varchar(32)', (c) => c.notNull())
    .addColumn('subject_id', 'varchar(200)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(36)')
    .addColumn('signature', 'varchar(100)', (c) => c.notNull())
    .addColumn('caller', 'varchar(300)', (c) => c.notNull())
    .addColumn('signed_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('signatures_sha256').on('signatures').column('sha256').execute()

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('entry_id', 'integer', (c) => c.notNull())
    .addColumn('entry_hash', 'char(64)', (c) => c.notNull())
    .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('signing_keys.key_id'))
    .addColumn('signature', 'varchar(100)', (c) => c.notNull())
    .addColumn('signed_at', 'varchar(32)', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_checkpoints').execute()
  await db.schema.dropTable('signatures').execute()
  await db.schema.dropTable('signing_keys').execute()
}
