// The test plays the browser: keys made with WebCrypto (Ed25519 for
// signatures, X25519 for key agreement, private halves non-extractable), a
// file encrypted with a fresh AES-256-GCM key, that key sealed to the
// recipient with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM), the plaintext hash signed; and the reverse on the other side.
import { createHash, webcrypto } from 'node:crypto'
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'

const { subtle } = webcrypto
type CryptoKeyPair = webcrypto.CryptoKeyPair

export const HPKE_INFO = new TextEncoder().encode('docs-mesh file key v1')
const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
})
const b64u = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes as ArrayBuffer).toString('base64url')

export interface BrowserKeys {
  signing: CryptoKeyPair
  encryption: CryptoKeyPair
  /** What POST /auth/keys takes. */
  publicJwks: { signing_key: webcrypto.JsonWebKey; encryption_key: webcrypto.JsonWebKey }
}

export async function makeKeys(): Promise<BrowserKeys> {
  const signing = (await subtle.generateKey({ name: 'Ed25519' }, false, [
    'sign',
    'verify',
  ])) as unknown as CryptoKeyPair
  const encryption = (await subtle.generateKey({ name: 'X25519' }, false, [
    'deriveBits',
  ])) as unknown as CryptoKeyPair
  return {
    signing,
    encryption,
    publicJwks: {
      signing_key: await subtle.exportKey('jwk', signing.publicKey),
      encryption_key: await subtle.exportKey('jwk', encryption.publicKey),
    },
  }
}

export interface SealedFile {
  ciphertext: Buffer
  fields: Record<string, string>
}

export async function sealFile(options: {
  plaintext: Buffer
  filename: string
  contentType: string
  recipient: string
  recipientKey: { key_id: string; public_key: string }
  sender: BrowserKeys
  senderKeyId: string
}): Promise<SealedFile> {
  const sha256 = createHash('sha256').update(options.plaintext).digest()
  const signature = await subtle.sign({ name: 'Ed25519' }, options.sender.signing.privateKey, sha256)
  const fileKey = webcrypto.getRandomValues(new Uint8Array(32))
  const iv = webcrypto.getRandomValues(new Uint8Array(12))
  const aesKey = await subtle.importKey('raw', fileKey, { name: 'AES-GCM' }, false, ['encrypt'])
  const ciphertext = Buffer.from(await subtle.encrypt({ name: 'AES-GCM', iv }, aesKey, options.plaintext))
  const recipientPublicKey = await suite.kem.importKey(
    'raw',
    new Uint8Array(Buffer.from(options.recipientKey.public_key, 'base64url')).buffer,
    true,
  )
  const sender = await suite.createSenderContext({ recipientPublicKey, info: HPKE_INFO })
  const wrapped = await sender.seal(fileKey.buffer)
  return {
    ciphertext,
    fields: {
      recipient: options.recipient,
      recipient_key_id: options.recipientKey.key_id,
      filename: options.filename,
      content_type: options.contentType,
      size: String(options.plaintext.length),
      plaintext_sha256: sha256.toString('hex'),
      hpke_enc: b64u(sender.enc),
      wrapped_key: b64u(wrapped),
      iv: b64u(iv),
      sender_key_id: options.senderKeyId,
      sender_signature: b64u(signature),
    },
  }
}

export function uploadForm(sealed: SealedFile, extra: Record<string, string> = {}): FormData {
  const form = new FormData()
  for (const [k, v] of Object.entries({ ...sealed.fields, ...extra })) form.append(k, v)
  form.append(
    'ciphertext',
    new Blob([new Uint8Array(sealed.ciphertext)], { type: 'application/octet-stream' }),
    'ciphertext.bin',
  )
  return form
}

const MAGIC: Record<string, (b: Buffer) => boolean> = {
  'application/pdf': (b) => b.subarray(0, 5).toString('latin1') === '%PDF-',
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'text/plain': (b) => !b.includes(0) && new TextDecoder('utf-8', { fatal: true }).decode(b) !== undefined,
}

export class OpenError extends Error {}

/** What the recipient's browser does before it offers the file: decrypt, then check hash, signature and type. */
export async function openFile(options: {
  ciphertext: Buffer
  envelope: {
    hpke_enc: string
    wrapped_key: string
    iv: string
    sender_signature: string
    sender_public_key: string
  }
  bucket: { plaintext_sha256: string; content_type: string }
  recipient: BrowserKeys
}): Promise<Buffer> {
  const { envelope } = options
  let plaintext: Buffer
  try {
    const opener = await suite.createRecipientContext({
      recipientKey: options.recipient.encryption,
      enc: new Uint8Array(Buffer.from(envelope.hpke_enc, 'base64url')).buffer,
      info: HPKE_INFO,
    })
    const fileKey = await opener.open(new Uint8Array(Buffer.from(envelope.wrapped_key, 'base64url')).buffer)
    const aesKey = await subtle.importKey('raw', fileKey, { name: 'AES-GCM' }, false, ['decrypt'])
    plaintext = Buffer.from(
      await subtle.decrypt(
        { name: 'AES-GCM', iv: Buffer.from(envelope.iv, 'base64url') },
        aesKey,
        options.ciphertext,
      ),
    )
  } catch {
    throw new OpenError('the file does not decrypt: it was altered or not sealed to this key')
  }
  const sha256 = createHash('sha256').update(plaintext).digest()
  if (sha256.toString('hex') !== options.bucket.plaintext_sha256)
    throw new OpenError('the file does not match its hash')
  const senderKey = await subtle.importKey(
    'jwk',
    { kty: 'OKP', crv: 'Ed25519', x: envelope.sender_public_key },
    { name: 'Ed25519' },
    false,
    ['verify'],
  )
  if (
    !(await subtle.verify(
      { name: 'Ed25519' },
      senderKey,
      Buffer.from(envelope.sender_signature, 'base64url'),
      sha256,
    ))
  )
    throw new OpenError("the sender's signature does not verify")
  const looksRight = MAGIC[options.bucket.content_type]
  let typeOk = false
  try {
    typeOk = looksRight?.(plaintext) ?? false
  } catch {
    typeOk = false
  }
  if (!typeOk) throw new OpenError(`the file is not the ${options.bucket.content_type} it claims to be`)
  return plaintext
}
