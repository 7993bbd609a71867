// How rows are shown to clients.
import type { UserKeyTable, UserTable } from '@docs-mesh/platform'
import { keyStatus } from '../keys/user-keys.ts'

export const userView = (u: UserTable) => ({
  id: u.id,
  email: u.email,
  display_name: u.display_name,
  role: u.role,
})

export const userKeyView = (k: UserKeyTable) => ({
  key_id: k.id,
  kind: k.kind,
  algorithm: k.algorithm,
  public_key: k.public_key,
  fingerprint: k.fingerprint,
  status: keyStatus(k),
  created_at: k.created_at,
  revoked_at: k.revoked_at,
  attestation: {
    signature_id: k.attestation_signature_id,
    signature: k.attestation_signature,
    key_id: k.attestation_key_id,
    sha256: k.attestation_sha256,
  },
})
