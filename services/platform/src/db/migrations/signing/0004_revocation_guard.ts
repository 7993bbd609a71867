// admin-api may revoke a platform key (0002); it may not clear the revocation.
import type { Kysely } from 'kysely'
import { guardOnceSet } from '../../role-grants.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await guardOnceSet(db, 'signing_keys', 'revoked_at')
}

export async function down(): Promise<void> {}
