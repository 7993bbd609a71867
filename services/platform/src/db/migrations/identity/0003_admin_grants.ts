// admin-api ends sessions, disables users and revokes user keys.
import type { Kysely } from 'kysely'
import { grantAdminColumns } from '../../admin-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantAdminColumns(db, {
    users: ['disabled_at'],
    sessions: ['revoked_at'],
    user_keys: ['revoked_at'],
  })
}

export async function down(): Promise<void> {}
