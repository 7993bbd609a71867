// POST /buckets: a streamed multipart upload of the ciphertext and its
// envelope. The ciphertext goes to the blob store as it arrives (never into
// memory); a body over the limit gets 413, declared or discovered. Before
// any of it is read, the upload reserves its bytes against the sender's
// quotas (upload-quota.ts), released whatever the outcome. Then the
// envelope is checked, the recipient and their key looked up in identity-api,
// the sender's signature over the plaintext hash checked, the blob made
// durable, the receipt signed by signing-api, and only then the bucket row
// written. Any failure on the way leaves no bucket and no blob.
import { createPublicKey, randomUUID, verify } from 'node:crypto'
import { appendAuditEntry, type BucketTable, HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import type { Multipart } from '@fastify/multipart'
import type { BlobStore, StagedBlob } from '../blobs/blob-store.ts'
import { sanitizeFilename } from '../buckets/filename.ts'
import type { IdentityClient } from '../buckets/identity-client.ts'
import { isMalformedMultipart } from '../buckets/multipart-errors.ts'
import { partiesOf } from '../buckets/parties.ts'
import { receiptDigest } from '../buckets/receipt.ts'
import { MAX_CIPHERTEXT_BYTES, parseUploadFields, UPLOAD_FIELD_NAMES } from '../buckets/upload-fields.ts'
import type { UploadQuota } from '../buckets/upload-quota.ts'
import { BucketView, bucketView } from '../buckets/views.ts'

/** Room for the form's fields and part headers around the ciphertext. */
const FORM_OVERHEAD_BYTES = 64 * 1024
const DAY_MS = 86_400_000

interface SignResponse {
  signature_id: string
  signature: string
  key_id: string
  signed_at: string
}

export interface UploadRouteOptions {
  blobs: BlobStore
  identity: IdentityClient
  quota: UploadQuota
  signingApiUrl: string
}

const tooLarge = () =>
  new HttpProblem(413, 'ERR_TOO_LARGE', `the file is larger than ${MAX_CIPHERTEXT_BYTES - 16} bytes`, {
    headers: { connection: 'close' },
  })

export function uploadRoute(app: ServiceApp, options: UploadRouteOptions): void {
  app.post(
    '/buckets',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        consumes: ['multipart/form-data'],
        response: { 201: BucketView },
      },
    },
    async (request, reply) => {
      const declared = Number(request.headers['content-length'] ?? 0)
      if (declared > MAX_CIPHERTEXT_BYTES + FORM_OVERHEAD_BYTES) throw tooLarge()
      if (!request.isMultipart())
        throw new HttpProblem(415, 'ERR_MULTIPART_REQUIRED', 'send the upload as multipart/form-data')
      const sender = request.session!
      // The most this body can put on disk; undeclared (chunked), the largest upload.
      const reservation = await options.quota.reserve(
        sender.userId,
        declared > 0 ? Math.min(declared, MAX_CIPHERTEXT_BYTES) : MAX_CIPHERTEXT_BYTES,
      )
      try {
        const view = await receive()
        return reply.code(201).send(view)
      } finally {
        await reservation.release()
      }

      async function receive() {
        const fields: Record<string, string> = {}
        let staged: StagedBlob | null = null
        try {
          const parts = request.parts({
            limits: {
              fileSize: MAX_CIPHERTEXT_BYTES,
              files: 1,
              fields: UPLOAD_FIELD_NAMES.length,
              fieldSize: 4096,
              parts: UPLOAD_FIELD_NAMES.length + 1,
            },
          })
          for await (const part of parts as AsyncIterableIterator<Multipart>) {
            if (part.type === 'file') {
              if (part.fieldname !== 'ciphertext')
                throw new HttpProblem(400, 'ERR_VALIDATION', `unexpected file field ${part.fieldname}`)
              staged = await options.blobs.stage(part.file)
            } else {
              if (part.fieldname in fields)
                throw new HttpProblem(400, 'ERR_VALIDATION', `field ${part.fieldname} twice`)
              fields[part.fieldname] = String(part.value)
            }
          }
        } catch (error) {
          await (staged as StagedBlob | null)?.discard()
          const code = (error as { code?: string }).code
          if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge()
          if (code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT')
            throw new HttpProblem(400, 'ERR_VALIDATION', 'the form has more parts than an upload has')
          if (isMalformedMultipart(error))
            throw new HttpProblem(
              400,
              'ERR_MULTIPART_INVALID',
              'the multipart body is malformed or cut short',
            )
          throw error
        }
        const blob = staged as StagedBlob | null
        if (!blob) throw new HttpProblem(400, 'ERR_VALIDATION', 'missing file field ciphertext')

        let committedId: string | null = null
        try {
          const upload = parseUploadFields(fields)
          if (blob.size !== upload.size + 16)
            throw new HttpProblem(
              400,
              'ERR_SIZE_MISMATCH',
              `the ciphertext is ${blob.size} bytes; a ${upload.size}-byte file encrypted with AES-GCM is ${upload.size + 16}`,
            )

          const senderKey = await app.database.db
            .selectFrom('user_keys')
            .select(['public_key'])
            .where('id', '=', upload.sender_key_id)
            .where('user_id', '=', sender.userId)
            .where('kind', '=', 'signing')
            .where('revoked_at', 'is', null)
            .where('superseded_at', 'is', null)
            .executeTakeFirst()
          if (!senderKey)
            throw new HttpProblem(400, 'ERR_SENDER_KEY', 'sender_key_id is not your current signing key')
          const publicKey = createPublicKey({
            key: { kty: 'OKP', crv: 'Ed25519', x: senderKey.public_key },
            format: 'jwk',
          })
          const signatureOk = verify(
            null,
            Buffer.from(upload.plaintext_sha256, 'hex'),
            publicKey,
            Buffer.from(upload.sender_signature, 'base64url'),
          )
          if (!signatureOk)
            throw new HttpProblem(
              400,
              'ERR_SIGNATURE_INVALID',
              'sender_signature does not verify over plaintext_sha256',
            )

          const context = { requestId: request.id, trace: request.trace }
          const recipient = await options.identity.lookup(upload.recipient, context)
          if (!recipient) throw new HttpProblem(400, 'ERR_RECIPIENT_UNKNOWN', 'no such recipient')
          // A transfer goes to someone else: a self-send would be storage, outside what the quota is for.
          if (recipient.id === sender.userId)
            throw new HttpProblem(400, 'ERR_SELF_SEND', 'you cannot send a file to yourself')
          if (!recipient.keys.encryption)
            throw new HttpProblem(
              409,
              'ERR_RECIPIENT_NO_KEY',
              'the recipient has not registered an encryption key yet',
            )
          if (recipient.keys.encryption.key_id !== upload.recipient_key_id)
            throw new HttpProblem(
              409,
              'ERR_RECIPIENT_KEY_CHANGED',
              "the file was sealed to a key that is not the recipient's current one; fetch it again",
            )

          const now = new Date()
          const bucket: Omit<
            BucketTable,
            | 'receipt_sha256'
            | 'receipt_signature_id'
            | 'receipt_signature'
            | 'receipt_key_id'
            | 'receipt_signed_at'
          > = {
            id: randomUUID(),
            sender_id: sender.userId,
            recipient_id: recipient.id,
            status: 'active',
            filename: sanitizeFilename(upload.filename),
            content_type: upload.content_type,
            size: upload.size,
            plaintext_sha256: upload.plaintext_sha256,
            ciphertext_sha256: blob.sha256,
            ciphertext_size: blob.size,
            envelope: JSON.stringify({
              hpke_enc: upload.hpke_enc,
              wrapped_key: upload.wrapped_key,
              iv: upload.iv,
              recipient_key_id: upload.recipient_key_id,
              sender_key_id: upload.sender_key_id,
              sender_signature: upload.sender_signature,
              sender_public_key: senderKey.public_key,
            }),
            created_at: now.toISOString(),
            expires_at: new Date(now.getTime() + upload.expires_in_days * DAY_MS).toISOString(),
            claimed_at: null,
            withdrawn_at: null,
            expired_at: null,
            blob_deleted_at: null,
          }

          await blob.commit(bucket.id)
          committedId = bucket.id

          const sha256 = receiptDigest({
            ...bucket,
            sender_key_id: upload.sender_key_id,
            sender_signature: upload.sender_signature,
          })
          const signed = await app.upstream.call<SignResponse>({
            method: 'POST',
            url: `${options.signingApiUrl}/sign`,
            body: { sha256, purpose: 'upload_receipt', subject_id: bucket.id, user_id: sender.userId },
            context,
          })
          if (signed.status !== 200)
            throw new HttpProblem(
              503,
              'ERR_RECEIPT_UNAVAILABLE',
              `signing-api did not sign the receipt (${signed.status})`,
            )
          const row: BucketTable = {
            ...bucket,
            receipt_sha256: sha256,
            receipt_signature_id: signed.body.signature_id,
            receipt_signature: signed.body.signature,
            receipt_key_id: signed.body.key_id,
            receipt_signed_at: signed.body.signed_at,
          }
          await app.database.db.insertInto('buckets').values(row).execute()
          committedId = null
          await appendAuditEntry(app.database, {
            type: 'bucket.create',
            data: {
              bucket_id: row.id,
              sender_id: row.sender_id,
              recipient_id: row.recipient_id,
              ciphertext_sha256: row.ciphertext_sha256,
              size: row.size,
              receipt_signature_id: row.receipt_signature_id,
            },
          })
          const parties = await partiesOf(app.database, [row.sender_id, row.recipient_id])
          return bucketView(row, {
            sender: parties.get(row.sender_id)!,
            recipient: parties.get(row.recipient_id)!,
          })
        } catch (error) {
          await blob.discard()
          if (committedId) await options.blobs.delete(committedId)
          throw error
        }
      }
    },
  )
}
