// How a bucket is shown: to its sender and its recipient only.
import type { BucketStatus, BucketTable } from '@docs-mesh/platform'
import Type from 'typebox'

export const BucketView = Type.Object({
  id: Type.String(),
  status: Type.Enum(['active', 'claimed', 'withdrawn', 'expired']),
  sender: Type.Object({ id: Type.String(), display_name: Type.String(), email: Type.String() }),
  recipient: Type.Object({ id: Type.String(), display_name: Type.String(), email: Type.String() }),
  filename: Type.String(),
  content_type: Type.String(),
  size: Type.Integer(),
  plaintext_sha256: Type.String(),
  ciphertext_sha256: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  claimed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  receipt: Type.Object({
    sha256: Type.String(),
    signature_id: Type.String(),
    signature: Type.String(),
    key_id: Type.String(),
    signed_at: Type.String({ format: 'date-time' }),
  }),
})

export const Envelope = Type.Object({
  hpke_enc: Type.String(),
  wrapped_key: Type.String(),
  iv: Type.String(),
  recipient_key_id: Type.String(),
  sender_key_id: Type.String(),
  sender_signature: Type.String(),
  sender_public_key: Type.String({
    description: "the sender's Ed25519 key (base64url) the signature was checked with",
  }),
})

export interface Party {
  id: string
  display_name: string
  email: string
}

/** A bucket past its expiry is expired, whether or not the expiry job has run yet. */
export function effectiveStatus(
  b: Pick<BucketTable, 'status' | 'expires_at'>,
  now = new Date(),
): BucketStatus {
  return b.status === 'active' && Date.parse(b.expires_at) <= now.getTime() ? 'expired' : b.status
}

export const bucketView = (b: BucketTable, parties: { sender: Party; recipient: Party }) => ({
  id: b.id,
  status: effectiveStatus(b),
  sender: parties.sender,
  recipient: parties.recipient,
  filename: b.filename,
  content_type: b.content_type,
  size: b.size,
  plaintext_sha256: b.plaintext_sha256,
  ciphertext_sha256: b.ciphertext_sha256,
  created_at: b.created_at,
  expires_at: b.expires_at,
  claimed_at: b.claimed_at,
  receipt: {
    sha256: b.receipt_sha256,
    signature_id: b.receipt_signature_id,
    signature: b.receipt_signature,
    key_id: b.receipt_key_id,
    signed_at: b.receipt_signed_at,
  },
})
