// Checkpoints are numbered in signing order and the number is signed with
// them, so a deleted checkpoint leaves a gap verification can see.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_checkpoints').addColumn('sequence', 'integer').execute()
  await db.schema
    .createIndex('audit_checkpoints_sequence')
    .on('audit_checkpoints')
    .column('sequence')
    .unique()
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('audit_checkpoints_sequence').execute()
  await db.schema.alterTable('audit_checkpoints').dropColumn('sequence').execute()
}
