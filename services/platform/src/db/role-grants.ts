// Grants the owners' migrations make on PostgreSQL to the other services'
// roles, when the deployment has them (the kind overlay's convention,
// postgres-init-roles.sh: one role per API, named after it). Default
// privileges there give only SELECT; what a service may change in another's
// tables is granted here, table by table or column by column. SQLite has no
// roles, so on SQLite this does nothing.
import { type Kysely, sql } from 'kysely'

export type ApiRole = 'bucket_api' | 'signing_api' | 'verification_api' | 'identity_api' | 'admin_api'

async function existingRoles(db: Kysely<unknown>, roles: readonly ApiRole[]): Promise<ApiRole[]> {
  const { rows } = await sql<{ postgres: boolean }>`select version() like 'PostgreSQL%' as postgres`
    .execute(db)
    .catch(() => ({ rows: [{ postgres: false }] }))
  if (!rows[0]?.postgres) return []
  const found = await sql<{
    rolname: ApiRole
  }>`select rolname from pg_roles where rolname in (${sql.join([...roles])})`.execute(db)
  return found.rows.map((r) => r.rolname)
}

/** INSERT on a table (the audit chain, which every service that acts appends to). */
export async function grantInsert(
  db: Kysely<unknown>,
  table: string,
  roles: readonly ApiRole[],
): Promise<void> {
  for (const role of await existingRoles(db, roles))
    await sql`grant insert on ${sql.table(table)} to ${sql.id(role)}`.execute(db)
}

/** UPDATE on single columns only (admin-api's actions). */
export async function grantColumnUpdates(
  db: Kysely<unknown>,
  role: ApiRole,
  grants: Record<string, readonly string[]>,
): Promise<void> {
  if ((await existingRoles(db, [role])).length === 0) return
  for (const [table, columns] of Object.entries(grants)) {
    await sql`grant update (${sql.join(columns.map((c) => sql.ref(c)))}) on ${sql.table(table)} to ${sql.id(role)}`.execute(
      db,
    )
  }
}

/** DELETE on a table (admin-api's MFA reset removes a user's factor and recovery codes). */
export async function grantDelete(db: Kysely<unknown>, table: string, role: ApiRole): Promise<void> {
  if ((await existingRoles(db, [role])).length === 0) return
  await sql`grant delete on ${sql.table(table)} to ${sql.id(role)}`.execute(db)
}
