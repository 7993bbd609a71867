// A sign-in code is bound to the browser that signed in: the callback sets a
// cookie whose hash sits beside the code, and the exchange needs both, so a
// code planted in someone else's browser (login CSRF) opens nothing.
import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('session_codes').addColumn('binding_hash', 'char(64)').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('session_codes').dropColumn('binding_hash').execute()
}
