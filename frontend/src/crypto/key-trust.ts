// What the browser checks about the other party's key before trusting it:
// the sender's browser, that the recipient's encryption key is the one the
// platform attested for that recipient (the statement rebuilt here, its digest
// compared, the platform's signature over it verified at /verify); the
// recipient's browser, that the key that signed the file belongs to the
// bucket's named sender. Both show fingerprints people can compare aloud.
import { fromBase64url, toHex } from './encoding.ts'

/** What identity-api registered and signing-api attested (platform/src/user-keys/attestation.ts). */
export interface AttestedKey {
  key_id: string
  algorithm: string
  public_key: string
  created_at: string
  attestation: { sha256: string; signature: string; key_id: string }
}

export interface VerifyAnswer {
  valid: boolean
  trusted: boolean
  reason: string
  key_owner?: 'platform' | 'user'
  user_id?: string
}

export type Verify = (body: { sha256: string; signature: string; key_id: string }) => Promise<VerifyAnswer>

export class KeyTrustError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

const sortedJson = (value: Record<string, string>): string =>
  `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(value[k])}`)
    .join(',')}}`

const sha256Hex = async (bytes: Uint8Array<ArrayBuffer>): Promise<string> =>
  toHex(await crypto.subtle.digest('SHA-256', bytes))

/** SHA-256 of the raw public key, hex in groups of four: what the keys page and identity-api call its fingerprint. */
export async function fingerprint(publicKey: string): Promise<string> {
  const hex = await sha256Hex(fromBase64url(publicKey))
  return hex.match(/.{4}/g)!.join(' ')
}

/** Throws unless the platform attested this encryption key for this user, with a key it still trusts. */
export async function checkRecipientKey(userId: string, key: AttestedKey, verify: Verify): Promise<void> {
  const statement = sortedJson({
    type: 'docs-mesh.user-key-attestation.v1',
    key_id: key.key_id,
    user_id: userId,
    kind: 'encryption',
    algorithm: key.algorithm,
    public_key: key.public_key,
    created_at: key.created_at,
  })
  const digest = await sha256Hex(new TextEncoder().encode(statement))
  if (digest !== key.attestation.sha256)
    throw new KeyTrustError(
      'ERR_KEY_NOT_ATTESTED',
      'the recipient’s key is not the one the platform attested for them; nothing was sent',
    )
  const answer = await verify({
    sha256: digest,
    signature: key.attestation.signature,
    key_id: key.attestation.key_id,
  })
  if (!answer.trusted || answer.key_owner !== 'platform')
    throw new KeyTrustError(
      'ERR_KEY_NOT_ATTESTED',
      `the platform’s attestation of the recipient’s key does not check out (${answer.reason}); nothing was sent`,
    )
}

/** Throws unless the key that signed the file is the named sender's. */
export function checkSignerIsSender(answer: VerifyAnswer, senderId: string, senderName: string): void {
  if (answer.key_owner !== 'user' || answer.user_id !== senderId)
    throw new KeyTrustError(
      'ERR_SIGNER_NOT_SENDER',
      `the file was signed with a key that is not ${senderName}’s: do not trust it`,
    )
}
