import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createPublicKeyCache } from '../src/keys/public-key-cache.ts'

const newX = () => generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string

describe('the parsed public key cache', () => {
  it('parses a key once and hands the same key back, which verifies what its private half signed', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const x = publicKey.export({ format: 'jwk' }).x as string
    const keyOf = createPublicKeyCache()
    const key = keyOf(x)
    expect(keyOf(x)).toBe(key)
    const data = Buffer.from('digest')
    expect(verify(null, data, key, sign(null, data, privateKey))).toBe(true)
    expect(keyOf(newX())).not.toBe(key)
  })

  it('keeps at most its bound, dropping the least recently used', () => {
    const keyOf = createPublicKeyCache(2)
    const [a, b, c] = [newX(), newX(), newX()]
    const keyA = keyOf(a)
    const keyB = keyOf(b)
    keyOf(a) // a is now the most recent
    keyOf(c) // evicts b
    expect(keyOf(a)).toBe(keyA)
    expect(keyOf(b)).not.toBe(keyB)
  })

  it('refuses key material that is not an Ed25519 public key', () => {
    expect(() => createPublicKeyCache()('not a key')).toThrow()
  })
})
