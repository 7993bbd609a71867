// Seals secrets at rest (private keys, TOTP secrets): AES-256-GCM under a
// key-encryption key from config, a fresh 96-bit nonce each time, the owning
// row's id as associated data (a sealed value moved to another row does not
// open). Format: v1.<nonce>.<sealed>.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const TAG_LENGTH = 16

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
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_LENGTH })
  cipher.setAAD(Buffer.from(keyId))
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
  return `v1.${nonce.toString('base64url')}.${sealed.toString('base64url')}`
}

export function open(kek: Buffer, sealedText: string, keyId: string): Buffer {
  const [version, nonce, sealed] = sealedText.split('.')
  if (version !== 'v1' || !nonce || !sealed)
    throw new KeyEncryptionError(`sealed value ${keyId} is not in v1 format`)
  const data = Buffer.from(sealed, 'base64url')
  // A full 16-byte tag, always: GCM also "verifies" 4- to 15-byte tags, and a short one is forgeable.
  if (data.length < TAG_LENGTH)
    throw new KeyEncryptionError(`sealed value ${keyId} is too short to hold its authentication tag`)
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(nonce, 'base64url'), {
    authTagLength: TAG_LENGTH,
  })
  decipher.setAAD(Buffer.from(keyId))
  try {
    decipher.setAuthTag(data.subarray(data.length - TAG_LENGTH))
    return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_LENGTH)), decipher.final()])
  } catch {
    throw new KeyEncryptionError(`sealed value ${keyId} does not open with this key-encryption key`)
  }
}
