import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_users_sessions.ts'
import * as m0002 from './0002_sign_in_mfa_keys.ts'
import * as m0003 from './0003_admin_grants.ts'
import * as m0004 from './0004_session_code_binding.ts'
import * as m0005 from './0005_column_read_grants.ts'
import * as m0006 from './0006_admin_mfa_reset.ts'

export const identityMigrations: Record<string, Migration> = {
  '0001_users_sessions': m0001,
  '0002_sign_in_mfa_keys': m0002,
  '0003_admin_grants': m0003,
  '0004_session_code_binding': m0004,
  '0005_column_read_grants': m0005,
  '0006_admin_mfa_reset': m0006,
}
