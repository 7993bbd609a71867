import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_audit_entries.ts'
import * as m0002 from './0002_append_grants.ts'
import * as m0003 from './0003_entry_version.ts'

export const auditMigrations: Record<string, Migration> = {
  '0001_audit_entries': m0001,
  '0002_append_grants': m0002,
  '0003_entry_version': m0003,
}
