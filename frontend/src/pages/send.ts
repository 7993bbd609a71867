// Send a file: checked, hashed, signed, encrypted and sealed to the
// recipient here, then uploaded with a progress bar.
import { api } from '../api.ts'
import { link, type Page } from '../app-shell.ts'
import { sealFile } from '../crypto/envelope.ts'
import { MAX_FILE_BYTES, TYPES, typeProblem } from '../crypto/file-checks.ts'
import { type AttestedKey, checkRecipientKey, fingerprint, type VerifyAnswer } from '../crypto/key-trust.ts'
import { loadKeys } from '../crypto/keys.ts'
import { formatBytes, h, statusLine } from '../dom.ts'

interface Recipient {
  id: string
  display_name: string
  keys: { encryption: (AttestedKey & { fingerprint: string }) | null }
}

export const sendPage: Page = async (ctx) => {
  const { main, me } = ctx
  if (!me) return
  main.append(h('h1', {}, 'Send a file'))
  const keys = await loadKeys(me.user.id)
  if (!keys) {
    main.append(
      h('p', {}, 'You need keys to sign what you send. ', link('/app/keys', 'Make your keys'), ' first.'),
    )
    return
  }
  const status = statusLine()
  const recipientKey = h('p', { id: 'recipient-key' })
  const progress = h('progress', { value: '0', max: '1', hidden: true, 'aria-label': 'Upload progress' })
  const email = h('input', {
    id: 'recipient',
    type: 'email',
    name: 'recipient',
    required: true,
    autocomplete: 'email',
  })
  const file = h('input', {
    id: 'file',
    type: 'file',
    name: 'file',
    required: true,
    accept: Object.keys(TYPES).join(','),
  })
  const expiry = h(
    'select',
    { id: 'expiry', name: 'expiry' },
    ...[1, 7, 14, 30].map((d) =>
      h('option', { value: String(d), selected: d === 7 }, `${d} day${d > 1 ? 's' : ''}`),
    ),
  )
  const submit = h('button', { type: 'submit' }, 'Encrypt and send')
  const form = h(
    'form',
    {
      onsubmit: async (e: Event) => {
        e.preventDefault()
        const chosen = file.files?.[0]
        if (!chosen) return status.say('Choose a file.', 'error')
        if (chosen.size > MAX_FILE_BYTES)
          return status.say(`The file is ${formatBytes(chosen.size)}; at most 5 MiB can be sent.`, 'error')
        const bytes = new Uint8Array(await chosen.arrayBuffer())
        const problem = typeProblem(bytes, chosen.type)
        if (problem) return status.say(`This file cannot be sent: ${problem}.`, 'error')
        submit.setAttribute('aria-busy', 'true')
        try {
          status.say('Looking up the recipient…')
          const recipient = await api<Recipient>(
            'GET',
            `/buckets/recipients?email=${encodeURIComponent(email.value.trim())}`,
          )
          if (!recipient.keys.encryption)
            throw new Error(
              `${recipient.display_name} has not made keys yet, so nothing can be sealed to them.`,
            )
          status.say('Checking the platform’s attestation of their key…')
          await checkRecipientKey(recipient.id, recipient.keys.encryption, (body) =>
            api<VerifyAnswer>('POST', '/verify', body),
          )
          recipientKey.replaceChildren(
            `Sealing to ${recipient.display_name}’s key, fingerprint `,
            h(
              'code',
              { id: 'recipient-fingerprint' },
              await fingerprint(recipient.keys.encryption.public_key),
            ),
            '. Ask them whether it matches the one on their keys page.',
          )
          status.say('Encrypting…')
          const sealed = await sealFile({
            plaintext: bytes,
            filename: chosen.name,
            contentType: chosen.type,
            recipient: recipient.id,
            recipientKey: recipient.keys.encryption,
            signingKey: keys.signing.privateKey,
            signingKeyId: keys.signingKeyId,
          })
          const body = new FormData()
          for (const [k, v] of Object.entries({ ...sealed.fields, expires_in_days: expiry.value }))
            body.append(k, v)
          body.append(
            'ciphertext',
            new Blob([sealed.ciphertext], { type: 'application/octet-stream' }),
            'ciphertext',
          )
          progress.hidden = false
          const bucket = await api<{ id: string; filename: string; receipt: { key_id: string } }>(
            'POST',
            '/buckets',
            body,
            (f) => {
              progress.value = f
            },
          )
          status.say(
            `Sent ${bucket.filename} to ${recipient.display_name}. The platform signed the receipt with ${bucket.receipt.key_id}.`,
            'ok',
          )
          form.reset()
          main.append(h('p', {}, link(`/app/buckets/${bucket.id}`, 'See the transfer')))
        } catch (error) {
          status.say((error as Error).message, 'error')
        } finally {
          submit.removeAttribute('aria-busy')
        }
      },
    },
    h('label', { for: 'recipient' }, 'Recipient’s e-mail address'),
    email,
    h('label', { for: 'file' }, 'File (PDF, plain text, PNG or JPEG; at most 5 MiB)'),
    file,
    h('label', { for: 'expiry' }, 'Available for'),
    expiry,
    submit,
  )
  main.append(form, recipientKey, progress, status)
}
