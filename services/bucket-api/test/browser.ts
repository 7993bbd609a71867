// The test plays the browser with the browser app's own cryptography
// (@docs-mesh/frontend/crypto: WebCrypto Ed25519, X25519 and AES-GCM, HPKE
// with @hpke/core), adapted to Buffers and multipart forms for Node.
import type { webcrypto } from 'node:crypto'
import {
  type KeyPair,
  makeKeyPairs,
  OpenError,
  openFile as openInBrowser,
  publicJwk,
  sealFile as sealInBrowser,
} from '@docs-mesh/frontend/crypto'

export { OpenError }

export interface BrowserKeys {
  signing: KeyPair
  encryption: KeyPair
  /** What POST /auth/keys takes. */
  publicJwks: { signing_key: webcrypto.JsonWebKey; encryption_key: webcrypto.JsonWebKey }
}

export async function makeKeys(): Promise<BrowserKeys> {
  const pairs = await makeKeyPairs()
  return {
    ...pairs,
    publicJwks: {
      signing_key: await publicJwk(pairs.signing.publicKey),
      encryption_key: await publicJwk(pairs.encryption.publicKey),
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
  const sealed = await sealInBrowser({
    plaintext: new Uint8Array(options.plaintext),
    filename: options.filename,
    contentType: options.contentType,
    recipient: options.recipient,
    recipientKey: options.recipientKey,
    signingKey: options.sender.signing.privateKey,
    signingKeyId: options.senderKeyId,
  })
  return { ciphertext: Buffer.from(sealed.ciphertext), fields: sealed.fields }
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
  const plaintext = await openInBrowser({
    ciphertext: new Uint8Array(options.ciphertext).buffer,
    envelope: options.envelope,
    plaintextSha256: options.bucket.plaintext_sha256,
    contentType: options.bucket.content_type,
    encryption: options.recipient.encryption,
  })
  return Buffer.from(plaintext)
}
