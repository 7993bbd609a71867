// Sealing a file to its recipient and opening it again, in the browser.
// AES-256-GCM with a fresh key and IV encrypts the file; HPKE (RFC 9180:
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) seals that key to the
// recipient's X25519 key; Ed25519 signs the SHA-256 of the plaintext. Opening
// checks hash, signature and type before anything is offered.
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { fromBase64url, fromHex, toBase64url, toHex } from './encoding.ts'
import { typeProblem } from './file-checks.ts'
import type { Key, KeyPair } from './types.ts'

const INFO = new TextEncoder().encode('docs-mesh file key v1')
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
})

export class OpenError extends Error {}

export interface Sealed {
  ciphertext: Uint8Array<ArrayBuffer>
  fields: Record<string, string>
}

export async function sealFile(options: {
  plaintext: Uint8Array<ArrayBuffer>
  filename: string
  contentType: string
  recipient: string
  recipientKey: { key_id: string; public_key: string }
  signingKey: Key
  signingKeyId: string
}): Promise<Sealed> {
  const sha256 = await crypto.subtle.digest('SHA-256', options.plaintext)
  const signature = await crypto.subtle.sign({ name: 'Ed25519' }, options.signingKey, sha256)
  const fileKey = crypto.getRandomValues(new Uint8Array(32))
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const aes = await crypto.subtle.importKey('raw', fileKey, { name: 'AES-GCM' }, false, ['encrypt'])
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, options.plaintext),
  )
  const recipientPublicKey = await suite.kem.importKey(
    'raw',
    fromBase64url(options.recipientKey.public_key).buffer,
    true,
  )
  const sender = await suite.createSenderContext({ recipientPublicKey, info: INFO })
  const wrapped = await sender.seal(fileKey.buffer)
  fileKey.fill(0)
  return {
    ciphertext,
    fields: {
      recipient: options.recipient,
      recipient_key_id: options.recipientKey.key_id,
      filename: options.filename,
      content_type: options.contentType,
      size: String(options.plaintext.length),
      plaintext_sha256: toHex(sha256),
      hpke_enc: toBase64url(sender.enc),
      wrapped_key: toBase64url(wrapped),
      iv: toBase64url(iv),
      sender_key_id: options.signingKeyId,
      sender_signature: toBase64url(signature),
    },
  }
}

export interface Envelope {
  hpke_enc: string
  wrapped_key: string
  iv: string
  sender_signature: string
  sender_public_key: string
}

export async function openFile(options: {
  ciphertext: ArrayBuffer
  envelope: Envelope
  plaintextSha256: string
  contentType: string
  encryption: KeyPair
}): Promise<Uint8Array<ArrayBuffer>> {
  const { envelope } = options
  let plaintext: Uint8Array<ArrayBuffer>
  try {
    const opener = await suite.createRecipientContext({
      recipientKey: options.encryption,
      enc: fromBase64url(envelope.hpke_enc).buffer,
      info: INFO,
    })
    const fileKey = await opener.open(fromBase64url(envelope.wrapped_key).buffer)
    const aes = await crypto.subtle.importKey('raw', fileKey, { name: 'AES-GCM' }, false, ['decrypt'])
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromBase64url(envelope.iv) },
        aes,
        options.ciphertext,
      ),
    )
  } catch {
    throw new OpenError(
      'This file does not decrypt: it was altered on the way, or it was not sealed to this browser’s key.',
    )
  }
  const sha256 = await crypto.subtle.digest('SHA-256', plaintext)
  if (toHex(sha256) !== options.plaintextSha256)
    throw new OpenError('The decrypted file does not match the hash the sender signed.')
  const senderKey = await crypto.subtle.importKey(
    'jwk',
    { kty: 'OKP', crv: 'Ed25519', x: envelope.sender_public_key },
    { name: 'Ed25519' },
    false,
    ['verify'],
  )
  const signed = await crypto.subtle.verify(
    { name: 'Ed25519' },
    senderKey,
    fromBase64url(envelope.sender_signature),
    fromHex(toHex(sha256)),
  )
  if (!signed) throw new OpenError('The sender’s signature over this file does not verify.')
  const problem = typeProblem(plaintext, options.contentType)
  if (problem) throw new OpenError(`The file is not what it claims to be: ${problem}.`)
  return plaintext
}
