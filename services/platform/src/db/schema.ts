// The shared database's tables, as the services see them. Each table has one
// owning service (which migrates it); others only read what they need.
import type { Generated } from 'kysely'

/** Timestamps are ISO 8601 UTC strings (`Date#toISOString`): portable across SQLite and PostgreSQL and sortable as text. */
export type Timestamp = string

export interface AuditEntryTable {
  id: number
  type: string
  /** Canonical JSON of the entry's payload, hashed as stored. */
  data: string
  created_at: Timestamp
  prev_hash: string
  hash: string
}

export interface UserTable {
  id: string
  email: string
  display_name: string
  role: 'user' | 'admin'
  created_at: Timestamp
  disabled_at: Timestamp | null
}

export interface SessionKeyTable {
  kid: string
  /** The public half as a JWK (JSON); the private half never leaves identity-api's own columns. */
  public_jwk: string
  private_jwk_encrypted: string
  created_at: Timestamp
  retired_at: Timestamp | null
}

export interface SessionTable {
  id: string
  user_id: string
  /** SHA-256 (hex) of the session JWT currently bound to this row. */
  token_hash: string
  client_ip: string
  created_at: Timestamp
  expires_at: Timestamp
  mfa_verified_at: Timestamp | null
  revoked_at: Timestamp | null
}

export interface SigningKeyTable {
  key_id: string
  public_key: string
  private_key_encrypted: string
  created_at: Timestamp
  retired_at: Timestamp | null
  revoked_at: Timestamp | null
  revocation_reason: string | null
}

export interface SignatureTable {
  signature_id: string
  key_id: string
  sha256: string
  purpose: string
  subject_id: string
  user_id: string | null
  signature: string
  caller: string
  signed_at: Timestamp
}

export interface AuditCheckpointTable {
  id: string
  entry_id: number
  entry_hash: string
  key_id: string
  signature: string
  signed_at: Timestamp
}

export interface Database {
  audit_entries: AuditEntryTable
  users: UserTable
  session_keys: SessionKeyTable
  sessions: SessionTable
  signing_keys: SigningKeyTable
  signatures: SignatureTable
  audit_checkpoints: AuditCheckpointTable
}

export type { Generated }
