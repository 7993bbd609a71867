// Parsed Ed25519 public keys, kept by their key material. Parsing a JWK into
// a KeyObject costs about as much as the verify itself; a KeyObject is a pure
// function of the key's `x`, so a cached one can never be stale. Whether a
// key is still trusted (revoked, attested) is not cached: every request reads
// it from the database, so a revocation counts from the next request on.
import { createPublicKey, type KeyObject } from 'node:crypto'

export function createPublicKeyCache(max = 1024): (x: string) => KeyObject {
  const keys = new Map<string, KeyObject>()
  return (x) => {
    const cached = keys.get(x)
    if (cached) {
      // Most recently used last.
      keys.delete(x)
      keys.set(x, cached)
      return cached
    }
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
    keys.set(x, key)
    if (keys.size > max) keys.delete(keys.keys().next().value as string)
    return key
  }
}
