// admin-api revokes platform keys.
import type { Kysely } from 'kysely'
import { grantColumnUpdates } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantColumnUpdates(db, 'admin_api', { signing_keys: ['revoked_at', 'revocation_reason'] })
}

export async function down(): Promise<void> {}
