// Inbox and outbox, and one transfer: claim, decrypt, check and save.
import { api, download } from '../api.ts'
import { link, type Page } from '../app-shell.ts'
import { type Envelope, OpenError, openFile } from '../crypto/envelope.ts'
import { checkSignerIsSender, fingerprint, type VerifyAnswer } from '../crypto/key-trust.ts'
import { loadKeys } from '../crypto/keys.ts'
import { formatBytes, h, statusLine } from '../dom.ts'

interface Party {
  id: string
  display_name: string
  email: string
}
interface Bucket {
  id: string
  status: string
  sender: Party
  recipient: Party
  filename: string
  content_type: string
  size: number
  plaintext_sha256: string
  created_at: string
  expires_at: string
  receipt: { key_id: string; signature: string; sha256: string }
  envelope?: Envelope & { sender_key_id: string }
}

export const boxPage =
  (box: 'inbox' | 'outbox'): Page =>
  async ({ main }) => {
    main.append(h('h1', {}, box === 'inbox' ? 'Inbox' : 'Outbox'))
    const list = h('tbody')
    const table = h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'File'),
          h('th', { scope: 'col' }, box === 'inbox' ? 'From' : 'To'),
          h('th', { scope: 'col' }, 'Size'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Expires'),
        ),
      ),
      list,
    )
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More')
    let cursor: string | null = null
    const load = async () => {
      const page = await api<{ items: Bucket[]; next_cursor: string | null }>(
        'GET',
        `/buckets?box=${box}&limit=20${cursor ? `&cursor=${cursor}` : ''}`,
      )
      for (const b of page.items) {
        const who = box === 'inbox' ? b.sender : b.recipient
        list.append(
          h(
            'tr',
            {},
            h('td', {}, link(`/app/buckets/${b.id}`, b.filename)),
            h('td', {}, `${who.display_name} <${who.email}>`),
            h('td', {}, formatBytes(b.size)),
            h('td', {}, b.status),
            h('td', {}, new Date(b.expires_at).toLocaleDateString()),
          ),
        )
      }
      cursor = page.next_cursor
      more.hidden = !cursor
      if (!list.children.length)
        table.replaceWith(
          h(
            'p',
            {},
            box === 'inbox' ? 'Nothing has been sent to you yet.' : 'You have not sent anything yet.',
          ),
        )
    }
    more.addEventListener('click', () => void load())
    main.append(table, more)
    await load()
  }

export const bucketPage: Page = async (ctx, { id = '' }) => {
  const { main, me } = ctx
  if (!me) return
  const status = statusLine()
  let bucket: Bucket
  try {
    bucket = await api<Bucket>('GET', `/buckets/${id}`)
  } catch (error) {
    main.append(h('h1', {}, 'Transfer'), h('p', { role: 'alert' }, (error as Error).message))
    return
  }
  const isRecipient = bucket.recipient.id === me.user.id
  main.append(
    h('h1', {}, bucket.filename),
    h(
      'dl',
      {},
      h('dt', {}, 'From'),
      h('dd', {}, `${bucket.sender.display_name} <${bucket.sender.email}>`),
      h('dt', {}, 'To'),
      h('dd', {}, `${bucket.recipient.display_name} <${bucket.recipient.email}>`),
      h('dt', {}, 'Type and size'),
      h('dd', {}, `${bucket.content_type}, ${formatBytes(bucket.size)}`),
      h('dt', {}, 'Status'),
      h('dd', { id: 'bucket-status' }, bucket.status),
      h('dt', {}, 'SHA-256'),
      h('dd', {}, h('code', {}, bucket.plaintext_sha256)),
      h('dt', {}, 'Receipt'),
      h('dd', {}, 'signed by the platform key ', h('code', {}, bucket.receipt.key_id)),
    ),
    status,
  )
  if (!isRecipient || !['active', 'claimed'].includes(bucket.status)) return
  const open = h(
    'button',
    { type: 'button', id: 'open-file' },
    bucket.status === 'active' ? 'Claim and open' : 'Open again',
  )
  open.addEventListener('click', async () => {
    open.setAttribute('aria-busy', 'true')
    try {
      const keys = await loadKeys(me.user.id)
      if (!keys) throw new Error('This browser holds no keys of yours, so it cannot open the file.')
      let envelope = bucket.envelope
      if (bucket.status === 'active') {
        const claimed = await api<{ envelope: Envelope & { sender_key_id: string }; bucket: Bucket }>(
          'POST',
          `/buckets/${bucket.id}/claim`,
        )
        envelope = claimed.envelope
        bucket = { ...claimed.bucket, envelope }
        document.getElementById('bucket-status')!.textContent = claimed.bucket.status
      }
      if (!envelope) throw new Error('The transfer’s envelope is missing.')
      const ciphertext = await download(`/buckets/${bucket.id}/content`)
      const plaintext = await openFile({
        ciphertext,
        envelope,
        plaintextSha256: bucket.plaintext_sha256,
        contentType: bucket.content_type,
        encryption: keys.encryption,
      })
      const verdict = await api<VerifyAnswer>('POST', '/verify', {
        sha256: bucket.plaintext_sha256,
        signature: envelope.sender_signature,
        key_id: envelope.sender_key_id,
      })
      // A valid signature by someone else's key is no signature of the sender's.
      checkSignerIsSender(verdict, bucket.sender.id, bucket.sender.display_name)
      const signer = await api<{ jwk: { x: string } }>(
        'GET',
        `/verify/keys/${encodeURIComponent(envelope.sender_key_id)}`,
      )
      main.append(
        h(
          'p',
          { id: 'sender-key' },
          `Signed with ${bucket.sender.display_name}’s key, fingerprint `,
          h('code', { id: 'sender-fingerprint' }, await fingerprint(signer.jwk.x)),
          '. Ask them whether it matches the one on their keys page.',
        ),
      )
      const url = URL.createObjectURL(new Blob([plaintext], { type: bucket.content_type }))
      status.say(
        verdict.trusted
          ? `Decrypted and checked: the hash matches, ${bucket.sender.display_name}’s signature verifies and the platform vouches for their key.`
          : `Decrypted, and the hash and signature match, but the platform does not trust the sender’s key (${verdict.reason}).`,
        verdict.trusted ? 'ok' : 'error',
      )
      open.replaceWith(
        h(
          'a',
          { href: url, download: bucket.filename, role: 'button', id: 'save-file' },
          `Save ${bucket.filename}`,
        ),
      )
    } catch (error) {
      status.say(error instanceof OpenError ? `Refused: ${error.message}` : (error as Error).message, 'error')
    } finally {
      open.removeAttribute('aria-busy')
    }
  })
  main.append(open)
}
