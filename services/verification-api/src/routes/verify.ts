// Read-only verification, open to anyone through the gateway: does this
// signature over this SHA-256 digest verify under this key, and is the key
// still trusted? Answers for the platform's keys.
import { createPublicKey, verify } from 'node:crypto'
import { HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import Type from 'typebox'

const VerifyRequest = Type.Object(
  {
    sha256: Type.String({ maxLength: 128, description: 'the signed digest, hex' }),
    signature: Type.String({ maxLength: 200, description: 'Ed25519 signature, base64 or base64url' }),
    key_id: Type.String({ minLength: 1, maxLength: 100 }),
  },
  { additionalProperties: false },
)

const Reason = Type.Enum(['valid', 'unknown_key', 'bad_base64', 'bad_hex', 'mismatch', 'revoked_key'])

const VerifyResponse = Type.Object({
  valid: Type.Boolean({ description: 'the signature verifies under the key' }),
  trusted: Type.Boolean({ description: 'valid, and the key is not revoked' }),
  reason: Reason,
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

export function verifyRoutes(app: ServiceApp): void {
  app.post(
    '/verify',
    { schema: { tags: ['verification'], body: VerifyRequest, response: { 200: VerifyResponse } } },
    async (request) => {
      const { sha256, signature, key_id } = request.body
      const key = await app.database.db
        .selectFrom('signing_keys')
        .select(['public_key', 'revoked_at'])
        .where('key_id', '=', key_id)
        .executeTakeFirst()
      if (!key) return { valid: false, trusted: false, reason: 'unknown_key' as const }
      if (!/^[0-9a-fA-F]{64}$/.test(sha256))
        return { valid: false, trusted: false, reason: 'bad_hex' as const }
      const sig = /^[A-Za-z0-9+/_-]+={0,2}$/.test(signature)
        ? Buffer.from(signature, signature.includes('-') || signature.includes('_') ? 'base64url' : 'base64')
        : null
      if (sig?.length !== 64) return { valid: false, trusted: false, reason: 'bad_base64' as const }
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: key.public_key },
        format: 'jwk',
      })
      const valid = verify(null, Buffer.from(sha256, 'hex'), publicKey, sig)
      if (!valid) return { valid: false, trusted: false, reason: 'mismatch' as const }
      if (key.revoked_at !== null)
        return { valid: true, trusted: false, reason: 'revoked_key' as const, revoked_at: key.revoked_at }
      return { valid: true, trusted: true, reason: 'valid' as const }
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
      const row = await app.database.db
        .selectFrom('signing_keys')
        .selectAll()
        .where('key_id', '=', request.params.key_id)
        .executeTakeFirst()
      if (!row) throw new HttpProblem(404, 'ERR_KEY_UNKNOWN', `no key ${request.params.key_id}`)
      const status = row.revoked_at !== null ? 'revoked' : row.retired_at !== null ? 'retired' : 'active'
      return {
        key_id: row.key_id,
        jwk: jwkOf(row.key_id, row.public_key),
        status: status as 'active' | 'retired' | 'revoked',
        created_at: row.created_at,
        retired_at: row.retired_at,
        revoked_at: row.revoked_at,
      }
    },
  )
}
