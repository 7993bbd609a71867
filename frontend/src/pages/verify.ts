// Verify a signature: anyone, signed in or not.
import { api } from '../api.ts'
import type { Page } from '../app-shell.ts'
import { toHex } from '../crypto/encoding.ts'
import { h, statusLine } from '../dom.ts'

export const verifyPage: Page = ({ main }) => {
  const status = statusLine()
  const file = h('input', { id: 'verify-file', type: 'file' })
  const sha = h('input', {
    id: 'verify-sha256',
    name: 'sha256',
    pattern: '[0-9a-fA-F]{64}',
    placeholder: '64 hex digits, or choose the file',
  })
  const signature = h('input', { id: 'verify-signature', name: 'signature', required: true })
  const keyId = h('input', { id: 'verify-key', name: 'key_id', required: true })
  file.addEventListener('change', async () => {
    const f = file.files?.[0]
    if (f) sha.value = toHex(await crypto.subtle.digest('SHA-256', await f.arrayBuffer()))
  })
  main.append(
    h('h1', {}, 'Verify a signature'),
    h(
      'form',
      {
        onsubmit: async (e: Event) => {
          e.preventDefault()
          try {
            const r = await api<{ valid: boolean; trusted: boolean; reason: string; revoked_at?: string }>(
              'POST',
              '/verify',
              { sha256: sha.value.trim(), signature: signature.value.trim(), key_id: keyId.value.trim() },
            )
            const words: Record<string, string> = {
              valid: 'Valid, and the key is trusted.',
              unknown_key: 'No key with that id is known.',
              not_a_signing_key: 'That key is for encryption, not signatures.',
              bad_base64: 'The signature is not 64 bytes of base64.',
              bad_hex: 'The hash is not 64 hex digits.',
              mismatch: 'The signature does not match this hash and key.',
              revoked_key: `The signature matches, but the key was revoked${r.revoked_at ? ` on ${new Date(r.revoked_at).toLocaleString()}` : ''}.`,
              unattested_key: 'The signature matches, but the platform did not attest this key.',
            }
            status.say(words[r.reason] ?? r.reason, r.trusted ? 'ok' : 'error')
          } catch (error) {
            status.say((error as Error).message, 'error')
          }
        },
      },
      h('label', { for: 'verify-file' }, 'The file (its hash is computed here; the file is not uploaded)'),
      file,
      h('label', { for: 'verify-sha256' }, 'SHA-256'),
      sha,
      h('label', { for: 'verify-signature' }, 'Signature (base64)'),
      signature,
      h('label', { for: 'verify-key' }, 'Key id'),
      keyId,
      h('button', { type: 'submit' }, 'Verify'),
    ),
    status,
  )
}
