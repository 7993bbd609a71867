// Each entry records how its hash is computed: the rows written so far are
// version 1 (`prev|type|data|ts`), new ones version 2 (length-prefixed fields).
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('audit_entries')
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_entries').dropColumn('version').execute()
}
