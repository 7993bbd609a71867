// POST /sign: the platform signs a SHA-256 digest (Ed25519 over the 32 raw
// bytes) for bucket-api (upload receipts) and identity-api (user key
// attestations), records the signature with its purpose and caller, and
// audits it. Each caller may ask for its own purpose only: a compromised
// bucket-api cannot get a key attested, nor identity-api a receipt.
import { randomUUID } from 'node:crypto'
import {
  AuditPreconditionFailed,
  appendAuditEntry,
  HttpProblem,
  prepareQuery,
  type ServiceApp,
} from '@docs-mesh/platform'
import Type from 'typebox'
import { KEY_NOT_CURRENT, type SigningKeys } from '../keys/signing-keys.ts'

export const SignRequest = Type.Object(
  {
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'the digest to sign, lower-case hex' }),
    purpose: Type.Enum(['upload_receipt', 'key_attestation']),
    subject_id: Type.String({ minLength: 1, maxLength: 200 }),
    user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 36 })),
  },
  { additionalProperties: false },
)

export const SignResponse = Type.Object({
  signature_id: Type.String(),
  signature: Type.String({ description: 'Ed25519 signature, base64url' }),
  key_id: Type.String(),
  signed_at: Type.String({ format: 'date-time' }),
})

export type SignPurpose = (typeof SignRequest)['properties']['purpose']['enum'][number]

export interface SignRouteOptions {
  keys: SigningKeys
  /** Each calling principal and the one purpose it may ask for. */
  purposes: Record<string, SignPurpose>
}

export function signRoutes(app: ServiceApp, options: SignRouteOptions): void {
  const db = app.database.db
  // Built and compiled once; each request binds its values.
  const insertRecord = prepareQuery(
    db,
    9,
    (
      signature_id: string,
      key_id: string,
      sha256: string,
      purpose: string,
      subject_id: string,
      user_id: string | null,
      signature: string,
      caller: string,
      signed_at: string,
    ) =>
      db
        .insertInto('signatures')
        .values({ signature_id, key_id, sha256, purpose, subject_id, user_id, signature, caller, signed_at }),
  )
  app.post(
    '/sign',
    {
      config: { callers: Object.keys(options.purposes) },
      schema: { tags: ['signing'], body: SignRequest, response: { 200: SignResponse } },
    },
    async (request) => {
      const { sha256, purpose, subject_id, user_id } = request.body
      const caller = request.peer?.principal ?? ''
      if (options.purposes[caller] !== purpose)
        throw new HttpProblem(
          403,
          'ERR_PURPOSE_FORBIDDEN',
          `${caller} may not ask for a ${purpose} signature`,
        )
      // The signature record and its audit entry commit together, in a
      // batch with other requests' (group commit), and only while the key
      // is still current in that transaction. A key rotated or revoked
      // since it was loaded: forget it and sign once more with the new one.
      for (let attempt = 1; ; attempt++) {
        const { keyId, signature } = await options.keys.signBytesUnchecked(Buffer.from(sha256, 'hex'))
        const record = {
          signature_id: randomUUID(),
          key_id: keyId,
          sha256,
          purpose,
          subject_id,
          user_id: user_id ?? null,
          signature,
          caller,
          signed_at: new Date().toISOString(),
        }
        try {
          await appendAuditEntry(
            app.database,
            {
              type: 'signature.create',
              data: {
                signature_id: record.signature_id,
                key_id: keyId,
                purpose,
                subject_id,
                user_id: record.user_id,
                caller: record.caller,
              },
            },
            {
              requires: [options.keys.stillCurrent(keyId)],
              writes: [
                insertRecord.bind(
                  record.signature_id,
                  record.key_id,
                  record.sha256,
                  record.purpose,
                  record.subject_id,
                  record.user_id,
                  record.signature,
                  record.caller,
                  record.signed_at,
                ),
              ],
            },
          )
        } catch (error) {
          if (error instanceof AuditPreconditionFailed && error.code === KEY_NOT_CURRENT) {
            options.keys.forget(keyId)
            if (attempt < 2) continue
          }
          throw error
        }
        return { signature_id: record.signature_id, signature, key_id: keyId, signed_at: record.signed_at }
      }
    },
  )
}
