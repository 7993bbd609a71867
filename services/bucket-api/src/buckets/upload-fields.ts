// The form fields of an upload, checked as far as they can be without the
// plaintext: every field present and nothing else, the declared type in the
// allow-list, sizes within bounds, digests and keys in their exact encodings.
import { HttpProblem } from '@docs-mesh/platform'

export const MAX_FILE_BYTES = 5 * 1024 * 1024
/** AES-256-GCM appends a 16-byte tag to the plaintext. */
export const GCM_TAG_BYTES = 16
export const MAX_CIPHERTEXT_BYTES = MAX_FILE_BYTES + GCM_TAG_BYTES
export const ALLOWED_CONTENT_TYPES = ['application/pdf', 'text/plain', 'image/png', 'image/jpeg'] as const
export const DEFAULT_EXPIRY_DAYS = 7
export const MAX_EXPIRY_DAYS = 30

export interface UploadFields {
  recipient: { id: string } | { email: string }
  recipient_key_id: string
  filename: string
  content_type: (typeof ALLOWED_CONTENT_TYPES)[number]
  size: number
  plaintext_sha256: string
  hpke_enc: string
  wrapped_key: string
  iv: string
  sender_key_id: string
  sender_signature: string
  expires_in_days: number
}

const REQUIRED = [
  'recipient',
  'recipient_key_id',
  'filename',
  'content_type',
  'size',
  'plaintext_sha256',
  'hpke_enc',
  'wrapped_key',
  'iv',
  'sender_key_id',
  'sender_signature',
] as const
const OPTIONAL = ['expires_in_days'] as const
export const UPLOAD_FIELD_NAMES: readonly string[] = [...REQUIRED, ...OPTIONAL]

const bad = (code: string, detail: string) => new HttpProblem(400, code, detail)

/** Exactly `bytes` bytes, base64url without padding. */
export function isBase64urlOf(value: string, bytes: number): boolean {
  if (!/^[A-Za-z0-9_-]*$/.test(value)) return false
  const decoded = Buffer.from(value, 'base64url')
  return decoded.length === bytes && decoded.toString('base64url') === value
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/
const KEY_ID = /^[A-Za-z0-9._:-]{1,64}$/

export function parseUploadFields(fields: Record<string, string>): UploadFields {
  for (const name of Object.keys(fields))
    if (!UPLOAD_FIELD_NAMES.includes(name)) throw bad('ERR_VALIDATION', `unknown field ${name}`)
  for (const name of REQUIRED) if (!fields[name]) throw bad('ERR_VALIDATION', `missing field ${name}`)
  const f = fields as Record<(typeof REQUIRED)[number], string> & Partial<Record<'expires_in_days', string>>

  const recipient = f.recipient.trim()
  if (!UUID.test(recipient) && !EMAIL.test(recipient))
    throw bad('ERR_VALIDATION', 'recipient must be a user id or an e-mail address')
  if (!(ALLOWED_CONTENT_TYPES as readonly string[]).includes(f.content_type))
    throw bad('ERR_CONTENT_TYPE', `content_type must be one of ${ALLOWED_CONTENT_TYPES.join(', ')}`)
  if (!/^[1-9][0-9]{0,7}$/.test(f.size) || Number(f.size) > MAX_FILE_BYTES)
    throw bad('ERR_VALIDATION', `size must be a whole number of bytes from 1 to ${MAX_FILE_BYTES}`)
  if (!/^[0-9a-f]{64}$/.test(f.plaintext_sha256))
    throw bad('ERR_VALIDATION', 'plaintext_sha256 must be 64 lower-case hex digits')
  if (!isBase64urlOf(f.hpke_enc, 32)) throw bad('ERR_ENVELOPE', 'hpke_enc must be 32 bytes, base64url')
  if (!isBase64urlOf(f.wrapped_key, 32 + GCM_TAG_BYTES))
    throw bad('ERR_ENVELOPE', 'wrapped_key must be 48 bytes (an HPKE-sealed AES-256 key), base64url')
  if (!isBase64urlOf(f.iv, 12)) throw bad('ERR_ENVELOPE', 'iv must be 12 bytes, base64url')
  if (!isBase64urlOf(f.sender_signature, 64))
    throw bad('ERR_ENVELOPE', 'sender_signature must be 64 bytes (Ed25519), base64url')
  for (const name of ['recipient_key_id', 'sender_key_id'] as const)
    if (!KEY_ID.test(f[name])) throw bad('ERR_VALIDATION', `${name} is not a key id`)
  if (f.filename.length > 1024) throw bad('ERR_VALIDATION', 'filename is longer than 1024 characters')

  let expiresInDays = DEFAULT_EXPIRY_DAYS
  if (f.expires_in_days !== undefined) {
    if (!/^[0-9]{1,2}$/.test(f.expires_in_days))
      throw bad('ERR_VALIDATION', 'expires_in_days must be a whole number')
    expiresInDays = Number(f.expires_in_days)
    if (expiresInDays < 1 || expiresInDays > MAX_EXPIRY_DAYS)
      throw bad('ERR_VALIDATION', `expires_in_days must be from 1 to ${MAX_EXPIRY_DAYS}`)
  }
  return {
    recipient: UUID.test(recipient) ? { id: recipient } : { email: recipient.toLowerCase() },
    recipient_key_id: f.recipient_key_id,
    filename: f.filename,
    content_type: f.content_type as UploadFields['content_type'],
    size: Number(f.size),
    plaintext_sha256: f.plaintext_sha256,
    hpke_enc: f.hpke_enc,
    wrapped_key: f.wrapped_key,
    iv: f.iv,
    sender_key_id: f.sender_key_id,
    sender_signature: f.sender_signature,
    expires_in_days: expiresInDays,
  }
}
