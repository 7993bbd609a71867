// bucket-api's upload ledger: a row per upload, made before its body is read,
// holding the bytes it may write until the bucket exists (or the upload
// fails). Per-user quotas count the buckets whose blobs are still on disk plus
// the reservations in flight, and the uploads per hour count these rows.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('upload_reservations')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('sender_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('released_at', 'varchar(32)')
    .execute()
  await db.schema
    .createIndex('upload_reservations_sender')
    .on('upload_reservations')
    .columns(['sender_id', 'created_at'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('upload_reservations').execute()
}
