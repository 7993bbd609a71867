import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_audit_entries.ts'

export const auditMigrations: Record<string, Migration> = {
  '0001_audit_entries': m0001,
}
