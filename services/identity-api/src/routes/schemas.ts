// Schema pieces identity-api's routes share.
import Type from 'typebox'

export const UserView = Type.Object({
  id: Type.String(),
  email: Type.String(),
  display_name: Type.String(),
  role: Type.Enum(['user', 'admin']),
})

export const PublicKeyJwk = Type.Object(
  {
    kty: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    d: Type.Optional(Type.String()),
    key_ops: Type.Optional(Type.Array(Type.String())),
    ext: Type.Optional(Type.Boolean()),
    alg: Type.Optional(Type.String()),
    use: Type.Optional(Type.String()),
    kid: Type.Optional(Type.String()),
  },
  { additionalProperties: false, description: 'A public key as WebCrypto exports it (JWK)' },
)

export const UserKeyView = Type.Object({
  key_id: Type.String(),
  kind: Type.Enum(['signing', 'encryption']),
  algorithm: Type.Enum(['Ed25519', 'X25519']),
  public_key: Type.String({ description: 'the raw 32-byte public key, base64url' }),
  fingerprint: Type.String({ description: 'SHA-256 of the raw public key, hex' }),
  status: Type.Enum(['current', 'superseded', 'revoked']),
  created_at: Type.String({ format: 'date-time' }),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  attestation: Type.Object({
    signature_id: Type.String(),
    signature: Type.String(),
    key_id: Type.String({ description: 'the platform key that signed it' }),
    sha256: Type.String(),
  }),
})

export const KeyIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
