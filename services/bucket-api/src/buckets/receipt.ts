// The upload receipt signing-api signs: SHA-256 of this statement's canonical
// JSON. It binds who sent what to whom and when, so the sender can later show
// the platform took the upload, and anyone can check it at /verify.
import type { BucketTable } from '@docs-mesh/platform'
import { statementDigest } from '@docs-mesh/platform'

export const RECEIPT_TYPE = 'docs-mesh.upload-receipt.v1'

export type ReceiptFields = Pick<
  BucketTable,
  | 'id'
  | 'sender_id'
  | 'recipient_id'
  | 'filename'
  | 'content_type'
  | 'size'
  | 'plaintext_sha256'
  | 'ciphertext_sha256'
  | 'created_at'
  | 'expires_at'
> & { sender_key_id: string; sender_signature: string }

export function receiptStatement(b: ReceiptFields): Record<string, string | number> {
  return {
    type: RECEIPT_TYPE,
    bucket_id: b.id,
    sender_id: b.sender_id,
    recipient_id: b.recipient_id,
    filename: b.filename,
    content_type: b.content_type,
    size: b.size,
    plaintext_sha256: b.plaintext_sha256,
    ciphertext_sha256: b.ciphertext_sha256,
    sender_key_id: b.sender_key_id,
    sender_signature: b.sender_signature,
    created_at: b.created_at,
    expires_at: b.expires_at,
  }
}

export const receiptDigest = (b: ReceiptFields): string => statementDigest(receiptStatement(b))
