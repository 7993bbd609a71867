// Grants the owners' migrations make on PostgreSQL to the other services'
// roles, when the deployment has them (the kind overlay's convention,
// postgres-init-roles.sh: one role per API, named after it). Default
// privileges there give only SELECT; what a service may change in another's
// tables is granted here, table by table or column by column. SQLite has no
// roles, so on SQLite this does nothing.
import { type Kysely, type RawBuilder, sql } from 'kysely'

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

/**
 * One GRANT or REVOKE to a role found a moment ago, skipped if the role is gone by
 * then (42704, undefined_object): the check and the statement are two statements,
 * and on a server other deployments share (the test suites share one, and one of
 * them drops these roles) a role can go between them. The migrations run in a
 * transaction, which a failed statement would abort: a savepoint keeps it usable.
 */
export async function toRole(db: Kysely<unknown>, statement: RawBuilder<unknown>): Promise<void> {
  await sql`savepoint role_grant`.execute(db)
  try {
    await statement.execute(db)
    await sql`release savepoint role_grant`.execute(db)
  } catch (error) {
    if ((error as { code?: string }).code !== '42704') throw error
    await sql`rollback to savepoint role_grant`.execute(db)
  }
}

/** INSERT on a table (the audit chain, which every service that acts appends to). */
export async function grantInsert(
  db: Kysely<unknown>,
  table: string,
  roles: readonly ApiRole[],
): Promise<void> {
  for (const role of await existingRoles(db, roles))
    await toRole(db, sql`grant insert on ${sql.table(table)} to ${sql.id(role)}`)
}

/** UPDATE on single columns only (admin-api's actions). */
export async function grantColumnUpdates(
  db: Kysely<unknown>,
  role: ApiRole,
  grants: Record<string, readonly string[]>,
): Promise<void> {
  if ((await existingRoles(db, [role])).length === 0) return
  for (const [table, columns] of Object.entries(grants)) {
    await toRole(
      db,
      sql`grant update (${sql.join(columns.map((c) => sql.ref(c)))}) on ${sql.table(table)} to ${sql.id(role)}`,
    )
  }
}

/**
 * SELECT on the named columns only, and nothing else of those tables: first
 * every privilege the role had on them (a table-wide SELECT from the default
 * privileges of older deployments) is revoked, then the columns granted.
 * Tables a role must not read at all are listed with no columns.
 */
export async function grantColumnSelects(
  db: Kysely<unknown>,
  role: ApiRole,
  grants: Record<string, readonly string[]>,
): Promise<void> {
  if ((await existingRoles(db, [role])).length === 0) return
  for (const [table, columns] of Object.entries(grants)) {
    await toRole(db, sql`revoke all on ${sql.table(table)} from ${sql.id(role)}`)
    if (columns.length === 0) continue
    await toRole(
      db,
      sql`grant select (${sql.join(columns.map((c) => sql.ref(c)))}) on ${sql.table(table)} to ${sql.id(role)}`,
    )
  }
}

/**
 * Once a revocation column is set, only the table's owner (the service whose
 * table it is, or a superuser) may change it: another role that may UPDATE it
 * (admin-api) can revoke, never silently un-revoke. A trigger, on PostgreSQL;
 * SQLite has one user and no roles to tell apart.
 */
export async function guardOnceSet(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  const { rows } = await sql<{ postgres: boolean }>`select version() like 'PostgreSQL%' as postgres`
    .execute(db)
    .catch(() => ({ rows: [{ postgres: false }] }))
  if (!rows[0]?.postgres) return
  const fn = `${table}_${column}_once_set`
  await sql`
    create or replace function ${sql.id(fn)}() returns trigger language plpgsql as $$
    begin
      if old.${sql.raw(column)} is not null
        and new.${sql.raw(column)} is distinct from old.${sql.raw(column)}
        and not pg_has_role(current_user, (select relowner from pg_class where oid = tg_relid), 'MEMBER')
      then
        raise exception '%.% is set and only its owner may change it', tg_table_name, ${sql.lit(column)}
          using errcode = 'insufficient_privilege';
      end if;
      return new;
    end
    $$`.execute(db)
  await sql`drop trigger if exists ${sql.id(fn)} on ${sql.table(table)}`.execute(db)
  await sql`create trigger ${sql.id(fn)} before update of ${sql.ref(column)} on ${sql.table(table)}
    for each row execute function ${sql.id(fn)}()`.execute(db)
}

/** DELETE on a table (admin-api's MFA reset removes a user's factor and recovery codes). */
export async function grantDelete(db: Kysely<unknown>, table: string, role: ApiRole): Promise<void> {
  if ((await existingRoles(db, [role])).length === 0) return
  await toRole(db, sql`grant delete on ${sql.table(table)} to ${sql.id(role)}`)
}
