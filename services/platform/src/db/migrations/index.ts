// Migrations grouped by the service that owns the tables. Each service runs
// the groups it owns at start; the audit group is shared and run by all.
import type { Migration } from 'kysely/migration'
import { auditMigrations } from './audit/index.ts'
import { bucketMigrations } from './buckets/index.ts'
import { identityMigrations } from './identity/index.ts'
import { signingMigrations } from './signing/index.ts'

export type MigrationGroup = 'audit' | 'buckets' | 'identity' | 'signing'

export const migrationGroups: Record<MigrationGroup, Record<string, Migration>> = {
  audit: auditMigrations,
  buckets: bucketMigrations,
  identity: identityMigrations,
  signing: signingMigrations,
}
