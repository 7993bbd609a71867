// What admin-api may change in other services' tables, granted by the
// owners' migrations on PostgreSQL when the deployment has an admin_api role
// (the kind overlay's convention, postgres-init-roles.sh): single columns
// only, so an admin can end sessions, disable users and revoke keys, but
// cannot rewrite a role, a key or the audit chain. SQLite has no roles.
import { type Kysely, sql } from 'kysely'

export async function grantAdminColumns(
  db: Kysely<unknown>,
  grants: Record<string, readonly string[]>,
): Promise<void> {
  const { rows } = await sql<{ postgres: boolean }>`select version() like 'PostgreSQL%' as postgres`
    .execute(db)
    .catch(() => ({ rows: [{ postgres: false }] }))
  if (!rows[0]?.postgres) return
  const role = await sql<{
    n: number
  }>`select count(*)::int as n from pg_roles where rolname = 'admin_api'`.execute(db)
  if (role.rows[0]?.n !== 1) return
  for (const [table, columns] of Object.entries(grants)) {
    await sql`grant update (${sql.join(columns.map((c) => sql.ref(c)))}) on ${sql.table(table)} to admin_api`.execute(
      db,
    )
  }
}
