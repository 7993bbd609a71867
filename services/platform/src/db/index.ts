export { connectDatabase, type DatabaseHandle, type DatabaseKind, isPostgresUrl } from './connect.ts'
export { isGroupMigrated, MigrationError, migrateGroup, migrationTable } from './migrate.ts'
export { type MigrationGroup, migrationGroups } from './migrations/index.ts'
export { type PreparedQuery, prepareQuery } from './prepared-query.ts'
export type * from './schema.ts'
export {
  DatabaseUnreachableError,
  type WaitForDatabaseOptions,
  waitForDatabase,
} from './wait-for-database.ts'
