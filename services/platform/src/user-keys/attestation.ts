// What signing-api signs when identity-api registers a user's public key:
// SHA-256 of this statement's canonical JSON. Anyone holding the key row can
// rebuild the statement and check the platform's signature over it
// (verification-api does, to call a user key trusted).
import { statementDigest } from '../audit/entry-hash.ts'
import type { UserKeyTable } from '../db/schema.ts'

export const KEY_ATTESTATION_TYPE = 'docs-mesh.user-key-attestation.v1'

export type AttestedFields = Pick<
  UserKeyTable,
  'id' | 'user_id' | 'kind' | 'algorithm' | 'public_key' | 'created_at'
>

export function keyAttestationStatement(key: AttestedFields): Record<string, string> {
  return {
    type: KEY_ATTESTATION_TYPE,
    key_id: key.id,
    user_id: key.user_id,
    kind: key.kind,
    algorithm: key.algorithm,
    public_key: key.public_key,
    created_at: key.created_at,
  }
}

export const keyAttestationDigest = (key: AttestedFields): string =>
  statementDigest(keyAttestationStatement(key))
