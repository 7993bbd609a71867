// bucket-api's view of identity-api: recipients and their current public
// keys, from /internal/users over the mesh (identity-api admits bucket-sa only).
import { HttpProblem, type UpstreamCall, type UpstreamClient } from '@docs-mesh/platform'

export interface PublicUserKey {
  key_id: string
  kind: 'signing' | 'encryption'
  algorithm: 'Ed25519' | 'X25519'
  public_key: string
  fingerprint: string
  status: 'current' | 'superseded' | 'revoked'
  created_at: string
  revoked_at: string | null
  attestation: { signature_id: string; signature: string; key_id: string; sha256: string }
}

export interface Recipient {
  id: string
  email: string
  display_name: string
  keys: { signing: PublicUserKey | null; encryption: PublicUserKey | null }
}

export function createIdentityClient(upstream: UpstreamClient, baseUrl: string) {
  return {
    /** The user, or null when identity-api knows no such (enabled) user. */
    async lookup(
      ref: { id: string } | { email: string },
      context: UpstreamCall['context'],
    ): Promise<Recipient | null> {
      const url =
        'id' in ref
          ? `${baseUrl}/internal/users/${encodeURIComponent(ref.id)}`
          : `${baseUrl}/internal/users?${new URLSearchParams({ email: ref.email })}`
      const res = await upstream.call<Recipient>({ method: 'GET', url, context })
      if (res.status === 404) return null
      if (res.status !== 200)
        throw new HttpProblem(
          503,
          'ERR_UPSTREAM_UNAVAILABLE',
          `identity-api answered ${res.status} to a user lookup`,
        )
      return res.body
    },
  }
}

export type IdentityClient = ReturnType<typeof createIdentityClient>
