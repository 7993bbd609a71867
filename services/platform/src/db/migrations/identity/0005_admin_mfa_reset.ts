// admin-api resets a user's MFA: it removes the factor and the recovery codes.
import type { Kysely } from 'kysely'
import { grantDelete } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantDelete(db, 'mfa_credentials', 'admin_api')
  await grantDelete(db, 'recovery_codes', 'admin_api')
}

export async function down(): Promise<void> {}
