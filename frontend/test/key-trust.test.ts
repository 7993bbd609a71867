// The browser's checks of the other party's key: the statement it rebuilds
// is the one the platform attests (platform/src/user-keys/attestation.ts), a
// key swapped under the attestation or an attestation the platform does not
// vouch for stops the send, and a signature by anyone but the named sender
// stops the recipient trusting the file.
import { createHash, generateKeyPairSync } from 'node:crypto'
import { keyAttestationDigest } from '@docs-mesh/platform'
import { describe, expect, it, vi } from 'vitest'
import {
  type AttestedKey,
  checkRecipientKey,
  checkSignerIsSender,
  fingerprint,
  type VerifyAnswer,
} from '../src/crypto/key-trust.ts'

const x25519 = () => generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x as string
const bob = 'user-bob'

function attested(publicKey = x25519()): AttestedKey {
  const key = {
    id: 'key-enc-1',
    user_id: bob,
    kind: 'encryption' as const,
    algorithm: 'X25519' as const,
    public_key: publicKey,
    created_at: '2026-11-20T10:00:00.000Z',
  }
  return {
    key_id: key.id,
    algorithm: key.algorithm,
    public_key: key.public_key,
    created_at: key.created_at,
    attestation: { sha256: keyAttestationDigest(key), signature: 'sig', key_id: 'platform-1' },
  }
}
const trustedPlatform = async (): Promise<VerifyAnswer> => ({
  valid: true,
  trusted: true,
  reason: 'valid',
  key_owner: 'platform',
})

describe("the sender's browser, before sealing", () => {
  it("accepts the recipient's key the platform attested, having checked the platform's signature", async () => {
    const key = attested()
    const verify = vi.fn(trustedPlatform)
    await checkRecipientKey(bob, key, verify)
    expect(verify).toHaveBeenCalledWith({
      sha256: key.attestation.sha256,
      signature: 'sig',
      key_id: 'platform-1',
    })
  })

  it('refuses a key swapped under the attestation, or attested for someone else', async () => {
    const verify = vi.fn(trustedPlatform)
    const swapped = { ...attested(), public_key: x25519() }
    await expect(checkRecipientKey(bob, swapped, verify)).rejects.toMatchObject({
      code: 'ERR_KEY_NOT_ATTESTED',
    })
    await expect(checkRecipientKey('user-mallory', attested(), verify)).rejects.toMatchObject({
      code: 'ERR_KEY_NOT_ATTESTED',
    })
    expect(verify).not.toHaveBeenCalled()
  })

  it('refuses an attestation the platform does not vouch for', async () => {
    for (const answer of [
      { valid: true, trusted: false, reason: 'revoked_key', key_owner: 'platform' as const },
      { valid: false, trusted: false, reason: 'mismatch', key_owner: 'platform' as const },
      { valid: true, trusted: true, reason: 'valid', key_owner: 'user' as const },
    ])
      await expect(checkRecipientKey(bob, attested(), async () => answer)).rejects.toMatchObject({
        code: 'ERR_KEY_NOT_ATTESTED',
      })
  })
})

describe("the recipient's browser, after verifying", () => {
  it("trusts a signature only by the named sender's key", () => {
    const answer: VerifyAnswer = {
      valid: true,
      trusted: true,
      reason: 'valid',
      key_owner: 'user',
      user_id: 'user-alice',
    }
    expect(() => checkSignerIsSender(answer, 'user-alice', 'Alice')).not.toThrow()
    expect(() => checkSignerIsSender({ ...answer, user_id: 'user-mallory' }, 'user-alice', 'Alice')).toThrow(
      /not Alice’s/,
    )
    expect(() =>
      checkSignerIsSender({ ...answer, key_owner: 'platform', user_id: undefined }, 'user-alice', 'Alice'),
    ).toThrow(/not Alice’s/)
  })
})

describe('fingerprints', () => {
  it('are the SHA-256 of the raw key, as identity-api computes them, in groups of four', async () => {
    const key = x25519()
    const expected = createHash('sha256').update(Buffer.from(key, 'base64url')).digest('hex')
    const shown = await fingerprint(key)
    expect(shown.replaceAll(' ', '')).toBe(expected)
    expect(shown).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/)
  })
})
