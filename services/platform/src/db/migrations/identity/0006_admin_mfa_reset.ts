// admin-api resets a user's MFA: it removes the factor and the recovery codes.
// Deleting by user needs that one column readable (0005 left admin-api none of
// recovery_codes), and nothing more of the hashes.
import type { Kysely } from 'kysely'
import { grantColumnSelects, grantDelete } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantColumnSelects(db, 'admin_api', { recovery_codes: ['user_id'] })
  await grantDelete(db, 'mfa_credentials', 'admin_api')
  await grantDelete(db, 'recovery_codes', 'admin_api')
}

export async function down(): Promise<void> {}
