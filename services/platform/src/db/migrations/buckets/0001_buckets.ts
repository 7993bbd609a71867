// bucket-api's table: one row per transfer. A row is written only once its
// blob is durable on disk, and carries the signed upload receipt.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('buckets')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('sender_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('recipient_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('filename', 'varchar(255)', (c) => c.notNull())
    .addColumn('content_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('plaintext_sha256', 'char(64)', (c) => c.notNull())
    .addColumn('ciphertext_sha256', 'char(64)', (c) => c.notNull())
    .addColumn('ciphertext_size', 'integer', (c) => c.notNull())
    .addColumn('envelope', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('claimed_at', 'varchar(32)')
    .addColumn('withdrawn_at', 'varchar(32)')
    .addColumn('expired_at', 'varchar(32)')
    .addColumn('blob_deleted_at', 'varchar(32)')
    .addColumn('receipt_sha256', 'char(64)', (c) => c.notNull())
    .addColumn('receipt_signature_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('receipt_signature', 'varchar(128)', (c) => c.notNull())
    .addColumn('receipt_key_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('receipt_signed_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('buckets_recipient')
    .on('buckets')
    .columns(['recipient_id', 'created_at'])
    .execute()
  await db.schema.createIndex('buckets_sender').on('buckets').columns(['sender_id', 'created_at']).execute()
  await db.schema
    .createIndex('buckets_status_expiry')
    .on('buckets')
    .columns(['status', 'expires_at'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('buckets').execute()
}
