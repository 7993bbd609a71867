// admin-api revokes platform keys.
import type { Kysely } from 'kysely'
import { grantAdminColumns } from '../../admin-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantAdminColumns(db, { signing_keys: ['revoked_at', 'revocation_reason'] })
}

export async function down(): Promise<void> {}
