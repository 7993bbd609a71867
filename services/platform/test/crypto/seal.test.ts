// Sealed values open only with the key, the row they belong to, and a full
// 16-byte GCM tag: a truncated tag (which GCM would otherwise check as a
// shorter one) is refused, so a forger cannot try 2^32 guesses instead of 2^128.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { KeyEncryptionError, open, seal } from '../../src/crypto/seal.ts'

const kek = randomBytes(32)

describe('seal and open', () => {
  it('round-trips, bound to the row id', () => {
    const sealed = seal(kek, Buffer.from('secret'), 'row-1')
    expect(open(kek, sealed, 'row-1').toString()).toBe('secret')
    expect(() => open(kek, sealed, 'row-2')).toThrow(KeyEncryptionError)
  })

  it.each([4, 8, 12, 15])('refuses a tag cut to %i bytes', (length) => {
    const [version, nonce, data] = seal(kek, Buffer.alloc(0), 'row-1').split('.')
    const cut = Buffer.from(data as string, 'base64url')
      .subarray(0, length)
      .toString('base64url')
    expect(() => open(kek, `${version}.${nonce}.${cut}`, 'row-1')).toThrow(KeyEncryptionError)
  })
})
