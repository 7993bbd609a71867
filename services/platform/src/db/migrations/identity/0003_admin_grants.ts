// admin-api ends sessions, disables users and revokes user keys.
import type { Kysely } from 'kysely'
import { grantColumnUpdates } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantColumnUpdates(db, 'admin_api', {
    users: ['disabled_at'],
    sessions: ['revoked_at'],
    user_keys: ['revoked_at'],
  })
}

export async function down(): Promise<void> {}
