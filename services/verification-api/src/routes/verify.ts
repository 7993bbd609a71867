// Read-only verification, open to anyone through the gateway: does this
// signature over this SHA-256 digest verify under this key, and is the key
// still trusted? Answers for the platform's keys and for users' signing keys;
// a user key is trusted only while its attestation (the platform's signature
// over the key, made when it was registered) checks out and it is not revoked.
// The attestation checks out only if signing-api's record of that signature
// says it was made for the purpose `key_attestation` at identity-api's request:
// a digest signed for anything else, or for another caller, attests nothing.
import { verify } from 'node:crypto'
import {
  HttpProblem,
  keyAttestationDigest,
  prepareQuery,
  type ServiceApp,
  type UserKeyTable,
} from '@docs-mesh/platform'
import Type from 'typebox'
import { createPublicKeyCache } from '../keys/public-key-cache.ts'

const VerifyRequest = Type.Object(
  {
    sha256: Type.String({ maxLength: 128, description: 'the signed digest, hex' }),
    signature: Type.String({ maxLength: 200, description: 'Ed25519 signature, base64 or base64url' }),
    key_id: Type.String({ minLength: 1, maxLength: 100 }),
  },
  { additionalProperties: false },
)

const Reason = Type.Enum([
  'valid',
  'unknown_key',
  'not_a_signing_key',
  'bad_base64',
  'bad_hex',
  'mismatch',
  'revoked_key',
  'unattested_key',
])

const VerifyResponse = Type.Object({
  valid: Type.Boolean({ description: 'the signature verifies under the key' }),
  trusted: Type.Boolean({ description: 'valid, and the key is not revoked (and, for a user key, attested)' }),
  reason: Reason,
  key_owner: Type.Optional(Type.Enum(['platform', 'user'])),
  user_id: Type.Optional(Type.String()),
  revoked_at: Type.Optional(Type.String({ format: 'date-time' })),
})

const Jwk = Type.Object({
  kty: Type.Literal('OKP'),
  crv: Type.Literal('Ed25519'),
  x: Type.String(),
  kid: Type.String(),
  use: Type.Literal('sig'),
  alg: Type.Literal('EdDSA'),
})

const KeyStatus = Type.Object({
  key_id: Type.String(),
  owner: Type.Enum(['platform', 'user']),
  user_id: Type.Optional(Type.String()),
  attested: Type.Optional(Type.Boolean({ description: 'user keys: the platform attestation checks out' })),
  jwk: Jwk,
  status: Type.Enum(['active', 'retired', 'revoked']),
  created_at: Type.String({ format: 'date-time' }),
  retired_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

const jwkOf = (keyId: string, x: string) => ({
  kty: 'OKP' as const,
  crv: 'Ed25519' as const,
  x,
  kid: keyId,
  use: 'sig' as const,
  alg: 'EdDSA' as const,
})

export interface VerifyRouteOptions {
  /** The only caller whose key_attestation signatures attest a key: identity-api's principal. */
  attestationCaller: string
}

export function verifyRoutes(app: ServiceApp, options: VerifyRouteOptions): void {
  const ed25519 = createPublicKeyCache()
  // Every request reads its key afresh (a revocation counts from the next
  // one); the queries themselves are built and compiled once.
  const db = app.database.db
  const platformKey = prepareQuery(db, 1, (keyId: string) =>
    db
      .selectFrom('signing_keys')
      // Not the sealed private key: it is not verification's, and it is the row's bulk.
      .select(['key_id', 'public_key', 'created_at', 'retired_at', 'revoked_at'])
      .where('key_id', '=', keyId),
  )
  const userKey = prepareQuery(db, 1, (keyId: string) =>
    db.selectFrom('user_keys').selectAll().where('id', '=', keyId),
  )
  const attestation = prepareQuery(db, 1, (signatureId: string) =>
    db
      .selectFrom('signatures')
      .select(['key_id', 'sha256', 'purpose', 'subject_id', 'signature', 'caller'])
      .where('signature_id', '=', signatureId),
  )
  const attestingKey = prepareQuery(db, 1, (keyId: string) =>
    db.selectFrom('signing_keys').select(['public_key', 'revoked_at']).where('key_id', '=', keyId),
  )

  /** The platform's signature over the user key's registration statement, checked against its platform key. */
  async function attested(key: UserKeyTable): Promise<boolean> {
    const digest = keyAttestationDigest(key)
    if (digest !== key.attestation_sha256) return false
    const [record] = await attestation.run(key.attestation_signature_id)
    if (
      record?.purpose !== 'key_attestation' ||
      record.caller !== options.attestationCaller ||
      record.subject_id !== key.id ||
      record.sha256 !== digest ||
      record.key_id !== key.attestation_key_id ||
      record.signature !== key.attestation_signature
    )
      return false
    const [platform] = await attestingKey.run(key.attestation_key_id)
    if (!platform || platform.revoked_at !== null) return false
    const signature = Buffer.from(key.attestation_signature, 'base64url')
    return (
      signature.length === 64 &&
      verify(null, Buffer.from(digest, 'hex'), ed25519(platform.public_key), signature)
    )
  }

  async function findKey(keyId: string) {
    const [platform] = await platformKey.run(keyId)
    if (platform) return { owner: 'platform' as const, platform }
    const [user] = await userKey.run(keyId)
    return user ? { owner: 'user' as const, user } : null
  }

  app.post(
    '/verify',
    { schema: { tags: ['verification'], body: VerifyRequest, response: { 200: VerifyResponse } } },
    async (request) => {
      const { sha256, signature, key_id } = request.body
      const found = await findKey(key_id)
      if (!found) return { valid: false, trusted: false, reason: 'unknown_key' as const }
      const owner =
        found.owner === 'user'
          ? { key_owner: 'user' as const, user_id: found.user.user_id }
          : { key_owner: 'platform' as const }
      if (found.owner === 'user' && found.user.kind !== 'signing')
        return { valid: false, trusted: false, reason: 'not_a_signing_key' as const, ...owner }
      if (!/^[0-9a-fA-F]{64}$/.test(sha256))
        return { valid: false, trusted: false, reason: 'bad_hex' as const, ...owner }
      const sig = /^[A-Za-z0-9+/_-]+={0,2}$/.test(signature)
        ? Buffer.from(signature, signature.includes('-') || signature.includes('_') ? 'base64url' : 'base64')
        : null
      if (sig?.length !== 64) return { valid: false, trusted: false, reason: 'bad_base64' as const, ...owner }
      const publicKey = ed25519(found.owner === 'user' ? found.user.public_key : found.platform.public_key)
      if (!verify(null, Buffer.from(sha256, 'hex'), publicKey, sig))
        return { valid: false, trusted: false, reason: 'mismatch' as const, ...owner }
      const revokedAt = found.owner === 'user' ? found.user.revoked_at : found.platform.revoked_at
      if (revokedAt !== null)
        return {
          valid: true,
          trusted: false,
          reason: 'revoked_key' as const,
          revoked_at: revokedAt,
          ...owner,
        }
      if (found.owner === 'user' && !(await attested(found.user)))
        return { valid: true, trusted: false, reason: 'unattested_key' as const, ...owner }
      return { valid: true, trusted: true, reason: 'valid' as const, ...owner }
    },
  )

  app.get(
    '/verify/keys',
    { schema: { tags: ['verification'], response: { 200: Type.Object({ keys: Type.Array(Jwk) }) } } },
    async () => {
      const rows = await app.database.db
        .selectFrom('signing_keys')
        .select(['key_id', 'public_key'])
        .where('revoked_at', 'is', null)
        .orderBy('created_at', 'desc')
        .execute()
      return { keys: rows.map((r) => jwkOf(r.key_id, r.public_key)) }
    },
  )

  app.get(
    '/verify/keys/:key_id',
    {
      schema: {
        tags: ['verification'],
        params: Type.Object({ key_id: Type.String({ maxLength: 100 }) }),
        response: { 200: KeyStatus },
      },
    },
    async (request) => {
      const found = await findKey(request.params.key_id)
      if (!found) throw new HttpProblem(404, 'ERR_KEY_UNKNOWN', `no key ${request.params.key_id}`)
      if (found.owner === 'platform') {
        const row = found.platform
        const status = row.revoked_at !== null ? 'revoked' : row.retired_at !== null ? 'retired' : 'active'
        return {
          key_id: row.key_id,
          owner: 'platform' as const,
          jwk: jwkOf(row.key_id, row.public_key),
          status: status as 'active' | 'retired' | 'revoked',
          created_at: row.created_at,
          retired_at: row.retired_at,
          revoked_at: row.revoked_at,
        }
      }
      const key = found.user
      // Encryption keys are not for verifying anything; they are bucket-api's business.
      if (key.kind !== 'signing') throw new HttpProblem(404, 'ERR_KEY_UNKNOWN', `no signing key ${key.id}`)
      const status = key.revoked_at !== null ? 'revoked' : key.superseded_at !== null ? 'retired' : 'active'
      return {
        key_id: key.id,
        owner: 'user' as const,
        user_id: key.user_id,
        attested: await attested(key),
        jwk: jwkOf(key.id, key.public_key),
        status: status as 'active' | 'retired' | 'revoked',
        created_at: key.created_at,
        retired_at: key.superseded_at,
        revoked_at: key.revoked_at,
      }
    },
  )
}
