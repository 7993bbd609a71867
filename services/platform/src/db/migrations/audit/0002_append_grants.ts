// The services that act append to the audit chain: bucket-api, identity-api
// and admin-api (signing-api owns it; verification-api only reads). Nobody
// but the owner may update or delete an entry.
import type { Kysely } from 'kysely'
import { grantInsert } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await grantInsert(db, 'audit_entries', ['bucket_api', 'identity_api', 'admin_api'])
}

export async function down(): Promise<void> {}
