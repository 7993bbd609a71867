// Runs a migration group to its latest version, under a database lock so that
// services (and replicas) starting together migrate one at a time.
import { setTimeout as delay } from 'node:timers/promises'
import { sql } from 'kysely'
import { type MigrationResultSet, Migrator } from 'kysely/migration'
import type { DatabaseHandle } from './connect.ts'
import { type MigrationGroup, migrationGroups } from './migrations/index.ts'

export class MigrationError extends Error {
  readonly code = 'ERR_MIGRATION_FAILED'
}

export const migrationTable = (group: MigrationGroup): string => `kysely_migration_${group}`

/**
 * How long a service keeps trying when SQLite says the file is locked (SQLITE_BUSY).
 * Under pnpm dev six services migrate one file at once, each transaction waiting
 * up to the busy timeout (10 s) for the ones ahead of it; on a loaded machine the
 * last in line waited longer and the service failed at boot. Running it again is
 * safe: kysely applies the pending migrations and records them in one transaction
 * (SQLite's DDL is transactional), so a failed attempt leaves nothing behind.
 */
const SQLITE_BUSY_RETRY_MS = 60_000

const isSqliteBusy = (error: unknown): boolean => {
  for (let e: unknown = error; e instanceof Error; e = e.cause)
    if (String((e as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY')) return true
  return false
}

export async function migrateGroup(
  handle: DatabaseHandle,
  group: MigrationGroup,
): Promise<MigrationResultSet> {
  const deadline = Date.now() + SQLITE_BUSY_RETRY_MS
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(handle, group)
    } catch (error) {
      if (handle.kind !== 'sqlite' || !isSqliteBusy(error) || Date.now() >= deadline) throw error
      // Growing, jittered pauses: the services in line do not all retry together.
      await delay(Math.min(50 * 2 ** attempt, 1_000) * (0.5 + Math.random()))
    }
  }
}

async function migrateOnce(handle: DatabaseHandle, group: MigrationGroup): Promise<MigrationResultSet> {
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
