// Runs a migration group to its latest version, under a database lock so that
// services (and replicas) starting together migrate one at a time.
import { sql } from 'kysely'
import { type MigrationResultSet, Migrator } from 'kysely/migration'
import type { DatabaseHandle } from './connect.ts'
import { type MigrationGroup, migrationGroups } from './migrations/index.ts'

export class MigrationError extends Error {
  readonly code = 'ERR_MIGRATION_FAILED'
}

export const migrationTable = (group: MigrationGroup): string => `kysely_migration_${group}`

export async function migrateGroup(
  handle: DatabaseHandle,
  group: MigrationGroup,
): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: async () => migrationGroups[group] },
    migrationTableName: migrationTable(group),
    migrationLockTableName: `${migrationTable(group)}_lock`,
  })
  const result = await migrator.migrateToLatest()
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new MigrationError(`migration ${group}/${failed} failed: ${String(result.error)}`, {
      cause: result.error,
    })
  }
  return result
}

/** Whether every migration of the group has been applied (its owner may be another service). */
export async function isGroupMigrated(handle: DatabaseHandle, group: MigrationGroup): Promise<boolean> {
  const expected = Object.keys(migrationGroups[group])
  try {
    const rows = await sql<{ name: string }>`select name from ${sql.table(migrationTable(group))}`.execute(
      handle.db,
    )
    const applied = new Set(rows.rows.map((r) => r.name))
    return expected.every((name) => applied.has(name))
  } catch {
    return false
  }
}
