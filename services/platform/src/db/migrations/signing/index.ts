import type { Migration } from 'kysely/migration'
import * as m0001 from './0001_keys_signatures_checkpoints.ts'
import * as m0002 from './0002_admin_grants.ts'
import * as m0003 from './0003_checkpoint_sequence.ts'
import * as m0004 from './0004_revocation_guard.ts'

export const signingMigrations: Record<string, Migration> = {
  '0001_keys_signatures_checkpoints': m0001,
  '0002_admin_grants': m0002,
  '0003_checkpoint_sequence': m0003,
  '0004_revocation_guard': m0004,
}
