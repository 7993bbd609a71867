// Seals secrets at rest (private keys, TOTP secrets): AES-256-GCM under a
// key-encryption key from config, a fresh 96-bit nonce each time, the owning
// row's id as associated data (a sealed value moved to another row does not
// open). Format: v1.<nonce>.<sealed>.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export class KeyEncryptionError extends Error {
  readonly code = 'ERR_KEY_ENCRYPTION'
}

export function parseKeyEncryptionKey(value: string): Buffer {
  const key = Buffer.from(value, 'base64url')
  if (key.length !== 32)
    throw new KeyEncryptionError('the key-encryption key must be 32 bytes, base64 or base64url')
  return key
}

export function seal(kek: Buffer, plaintext: Buffer, keyId: string): string {
  const nonce = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', kek, nonce)
  cipher.setAAD(Buffer.from(keyId))
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
  return `v1.${nonce.toString('base64url')}.${sealed.toString('base64url')}`
}

export function open(kek: Buffer, sealedText: string, keyId: string): Buffer {
  const [version, nonce, sealed] = sealedText.split('.')
  if (version !== 'v1' || !nonce || !sealed)
    throw new KeyEncryptionError(`sealed value ${keyId} is not in v1 format`)
  const data = Buffer.from(sealed, 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(nonce, 'base64url'))
  decipher.setAAD(Buffer.from(keyId))
  decipher.setAuthTag(data.subarray(data.length - 16))
  try {
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()])
  } catch {
    throw new KeyEncryptionError(`sealed value ${keyId} does not open with this key-encryption key`)
  }
}
