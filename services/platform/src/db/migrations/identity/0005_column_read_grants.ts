// What each other service may read of identity-api's tables, column by
// column: the session check (every service that serves signed-in users),
// names and addresses for bucket-api's views, user keys for verification,
// and admin-api's views. Nobody but identity-api reads the secrets (sealed
// MFA secrets and session keys, recovery-code hashes, PKCE verifiers, sign-in
// code hashes). And what admin-api may set (disabled_at, revoked_at) it may
// not clear again.
import { type Kysely, sql } from 'kysely'
import { type ApiRole, grantColumnSelects, grantColumnUpdates, guardOnceSet } from '../../role-grants.ts'

const SESSION_CHECK = {
  session_keys: ['kid', 'public_jwk', 'created_at', 'retired_at'],
  sessions: ['id', 'user_id', 'token_hash', 'created_at', 'expires_at', 'mfa_verified_at', 'revoked_at'],
}
const USER_KEY_COLUMNS = [
  'id',
  'user_id',
  'kind',
  'algorithm',
  'public_key',
  'fingerprint',
  'attestation_sha256',
  'attestation_signature_id',
  'attestation_signature',
  'attestation_key_id',
  'created_at',
  'superseded_at',
  'revoked_at',
]
const NONE = {
  oidc_links: [],
  login_attempts: [],
  session_codes: [],
  recovery_codes: [],
}

export async function up(db: Kysely<unknown>): Promise<void> {
  // The others check that identity's migrations ran (health/ready) by reading their table.
  const readers: ApiRole[] = ['bucket_api', 'admin_api', 'verification_api', 'signing_api']
  const { rows } = await sql<{
    name: string
  }>`select rolname as name from pg_roles where rolname in (${sql.join(readers)})`
    .execute(db)
    .catch(() => ({ rows: [] as Array<{ name: string }> }))
  for (const { name } of rows)
    await sql`grant select on kysely_migration_identity to ${sql.id(name)}`.execute(db)
  await grantColumnSelects(db, 'bucket_api', {
    ...NONE,
    ...SESSION_CHECK,
    users: ['id', 'email', 'display_name', 'role', 'disabled_at'],
    user_keys: ['id', 'user_id', 'kind', 'public_key', 'superseded_at', 'revoked_at'],
    mfa_credentials: [],
  })
  await grantColumnSelects(db, 'admin_api', {
    ...NONE,
    ...SESSION_CHECK,
    users: ['id', 'email', 'display_name', 'role', 'created_at', 'disabled_at'],
    user_keys: USER_KEY_COLUMNS,
    mfa_credentials: ['user_id', 'enabled_at'],
  })
  await grantColumnSelects(db, 'verification_api', {
    ...NONE,
    session_keys: [],
    sessions: [],
    users: [],
    user_keys: USER_KEY_COLUMNS,
    mfa_credentials: [],
  })
  await grantColumnSelects(db, 'signing_api', {
    ...NONE,
    session_keys: [],
    sessions: [],
    users: [],
    user_keys: [],
    mfa_credentials: [],
  })
  // Revoking the table-wide SELECT took admin-api's UPDATE grants (0003) too: given back.
  await grantColumnUpdates(db, 'admin_api', {
    users: ['disabled_at'],
    sessions: ['revoked_at'],
    user_keys: ['revoked_at'],
  })
  await guardOnceSet(db, 'users', 'disabled_at')
  await guardOnceSet(db, 'sessions', 'revoked_at')
  await guardOnceSet(db, 'user_keys', 'revoked_at')
}

export async function down(): Promise<void> {}
