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
  /** How `hash` is computed (entry-hash.ts): 1 for the first chains, 2 since. */
  version: number
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

export interface OidcLinkTable {
  provider: string
  subject: string
  user_id: string
  created_at: Timestamp
  last_sign_in_at: Timestamp
}

export interface LoginAttemptTable {
  state: string
  provider: string
  code_verifier: string
  nonce: string
  created_at: Timestamp
  expires_at: Timestamp
}

export interface SessionCodeTable {
  /** SHA-256 (hex) of the single-use code; the code itself is only ever in the redirect. */
  code_hash: string
  session_id: string
  created_at: Timestamp
  expires_at: Timestamp
  used_at: Timestamp | null
  /** SHA-256 (hex) of the sign-in cookie the callback set in the browser that signed in. */
  binding_hash: string | null
}

export interface MfaCredentialTable {
  user_id: string
  /** The TOTP secret, sealed (AES-256-GCM) under identity-api's key-encryption key. */
  secret_encrypted: string
  created_at: Timestamp
  /** Set by the first good code: until then the enrolment is pending. */
  enabled_at: Timestamp | null
  /** The last TOTP time step accepted, so a code is never accepted twice. */
  last_used_step: number | string | null
  failed_attempts: number
  locked_until: Timestamp | null
}

export interface RecoveryCodeTable {
  id: string
  user_id: string
  /** Argon2id, PHC string format. */
  code_hash: string
  created_at: Timestamp
  used_at: Timestamp | null
}

export interface UserKeyTable {
  id: string
  user_id: string
  kind: 'signing' | 'encryption'
  algorithm: 'Ed25519' | 'X25519'
  /** The raw 32-byte public key, base64url (a JWK's `x`). */
  public_key: string
  /** SHA-256 (hex) of the raw public key. */
  fingerprint: string
  /** The digest signing-api signed: SHA-256 of the attestation statement's canonical JSON. */
  attestation_sha256: string
  attestation_signature_id: string
  attestation_signature: string
  attestation_key_id: string
  created_at: Timestamp
  /** Replaced by a newer key: still trusted for what it signed, no longer offered to senders. */
  superseded_at: Timestamp | null
  /** Revoked by its owner or an admin: not trusted from this time on. */
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
  /** 1, 2, 3, ... in signing order, inside the signed message; null on the first (v1) checkpoints. */
  sequence: number | null
}

export interface UploadReservationTable {
  id: string
  sender_id: string
  /** The most the upload may write: its declared length, or the largest upload when undeclared. */
  bytes: number
  created_at: Timestamp
  /** Set when the upload ended (its bucket row now counts, or it failed). */
  released_at: Timestamp | null
}

export type BucketStatus = 'active' | 'claimed' | 'withdrawn' | 'expired'

export interface BucketTable {
  id: string
  sender_id: string
  recipient_id: string
  status: BucketStatus
  /** Sanitised as DESIGN.md says: [A-Za-z0-9._-] only, dots in the stem become _, allowed extensions only. */
  filename: string
  content_type: string
  /** Plaintext bytes, as the sender declared them. */
  size: number
  plaintext_sha256: string
  ciphertext_sha256: string
  ciphertext_size: number
  /** JSON: what the recipient's browser needs to open the file (HPKE enc, wrapped key, IV, sender key and signature). */
  envelope: string
  created_at: Timestamp
  expires_at: Timestamp
  claimed_at: Timestamp | null
  withdrawn_at: Timestamp | null
  expired_at: Timestamp | null
  blob_deleted_at: Timestamp | null
  receipt_sha256: string
  receipt_signature_id: string
  receipt_signature: string
  receipt_key_id: string
  receipt_signed_at: Timestamp
}

export interface Database {
  audit_entries: AuditEntryTable
  buckets: BucketTable
  upload_reservations: UploadReservationTable
  users: UserTable
  session_keys: SessionKeyTable
  sessions: SessionTable
  oidc_links: OidcLinkTable
  login_attempts: LoginAttemptTable
  session_codes: SessionCodeTable
  mfa_credentials: MfaCredentialTable
  recovery_codes: RecoveryCodeTable
  user_keys: UserKeyTable
  signing_keys: SigningKeyTable
  signatures: SignatureTable
  audit_checkpoints: AuditCheckpointTable
}

export type { Generated }
