// Checks a public key a browser made (WebCrypto's JWK export) before anyone
// encrypts to it or trusts a signature by it: the right curve, 32 bytes, no
// private part, a point on the curve that is not of small order.
import { createHash } from 'node:crypto'
import type { UserKeyTable } from '@docs-mesh/platform'
import { HttpProblem } from '@docs-mesh/platform'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'

export interface PublicJwk {
  kty?: unknown
  crv?: unknown
  x?: unknown
  d?: unknown
  [other: string]: unknown
}

export interface ValidPublicKey {
  kind: UserKeyTable['kind']
  algorithm: UserKeyTable['algorithm']
  /** base64url of the raw 32 bytes. */
  publicKey: string
  fingerprint: string
}

const invalid = (field: string, detail: string) =>
  new HttpProblem(400, 'ERR_KEY_INVALID', `${field}: ${detail}`)

export function validatePublicKey(field: string, kind: UserKeyTable['kind'], jwk: PublicJwk): ValidPublicKey {
  const algorithm = kind === 'signing' ? 'Ed25519' : 'X25519'
  if ('d' in jwk)
    throw new HttpProblem(400, 'ERR_KEY_PRIVATE', `${field}: that is a private key; send only the public key`)
  if (jwk.kty !== 'OKP') throw invalid(field, 'kty must be OKP')
  if (jwk.crv !== algorithm) throw invalid(field, `crv must be ${algorithm} for a ${kind} key`)
  if (typeof jwk.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x))
    throw invalid(field, 'x must be 32 bytes, base64url without padding')
  const raw = Buffer.from(jwk.x, 'base64url')
  if (raw.toString('base64url') !== jwk.x) throw invalid(field, 'x is not canonical base64url')
  if (algorithm === 'Ed25519') {
    let point: ReturnType<typeof ed25519.Point.fromBytes>
    try {
      point = ed25519.Point.fromBytes(raw)
    } catch {
      throw invalid(field, 'not a point on Ed25519')
    }
    if (point.isSmallOrder() || !point.isTorsionFree())
      throw invalid(field, 'a weak Ed25519 key (small order)')
  } else {
    try {
      // A low-order point gives an all-zero shared secret, which noble refuses.
      x25519.getSharedSecret(x25519.utils.randomSecretKey(), raw)
    } catch {
      throw invalid(field, 'a weak X25519 key (small order)')
    }
  }
  return {
    kind,
    algorithm,
    publicKey: jwk.x,
    fingerprint: createHash('sha256').update(raw).digest('hex'),
  }
}
