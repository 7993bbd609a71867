// Your keys: made here, private halves never leave this browser.
import { api } from '../api.ts'
import { link, type Page } from '../app-shell.ts'
import { loadKeys, makeKeyPairs, publicJwk, saveKeys } from '../crypto/keys.ts'
import { h, statusLine } from '../dom.ts'

interface KeyView {
  key_id: string
  kind: 'signing' | 'encryption'
  fingerprint: string
  status: string
  created_at: string
}

/** The outcome of the last change, said again on the page drawn after it (a re-render would drop it). */
let saidAfterRender: string | null = null

export const keysPage: Page = async (ctx) => {
  const { main, me } = ctx
  if (!me) return
  const status = statusLine()
  const local = await loadKeys(me.user.id)
  const { keys } = await api<{ keys: KeyView[] }>('GET', '/auth/keys')
  const table = h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Kind'),
        h('th', { scope: 'col' }, 'Fingerprint'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Made'),
      ),
    ),
    h(
      'tbody',
      {},
      ...keys.map((k) =>
        h(
          'tr',
          {},
          h('td', {}, k.kind),
          h('td', {}, h('code', {}, `${k.fingerprint.slice(0, 16)}…`)),
          h('td', {}, k.status),
          h('td', {}, new Date(k.created_at).toLocaleString()),
        ),
      ),
    ),
  )
  const make = h('button', { type: 'button', id: 'make-keys' }, local ? 'Replace my keys' : 'Make my keys')
  make.addEventListener('click', async () => {
    make.setAttribute('aria-busy', 'true')
    try {
      const pairs = await makeKeyPairs()
      const res = await api<{ keys: KeyView[] }>('POST', '/auth/keys', {
        signing_key: await publicJwk(pairs.signing.publicKey),
        encryption_key: await publicJwk(pairs.encryption.publicKey),
      })
      const signing = res.keys.find((k) => k.kind === 'signing')
      const encryption = res.keys.find((k) => k.kind === 'encryption')
      if (!signing || !encryption) throw new Error('the server did not return both keys')
      await saveKeys({
        userId: me.user.id,
        ...pairs,
        signingKeyId: signing.key_id,
        encryptionKeyId: encryption.key_id,
      })
      // Drawn again with the new keys listed, and the outcome said there, where it stays.
      saidAfterRender = 'Your keys are made, registered and attested by the platform.'
      ctx.navigate('/app/keys')
    } catch (error) {
      const e = error as Error & { code?: string }
      status.say(
        e.code === 'ERR_MFA_REQUIRED' ? 'Pass two-factor authentication first (MFA page).' : e.message,
        'error',
      )
    } finally {
      make.removeAttribute('aria-busy')
    }
  })
  if (saidAfterRender) {
    status.say(saidAfterRender, 'ok')
    saidAfterRender = null
  }
  main.append(
    h('h1', {}, 'Your keys'),
    h(
      'p',
      {},
      local ? 'This browser holds your current private keys.' : 'This browser holds no keys of yours yet.',
    ),
    keys.length ? table : h('p', {}, 'No keys registered.'),
    make,
    status,
    h(
      'section',
      { 'aria-labelledby': 'backup' },
      h('h2', { id: 'backup' }, 'About backups'),
      h(
        'p',
        {},
        'Your private keys are made in this browser as non-extractable keys: this page can use them, but nothing (not this app, not an extension reading the page) can copy them out. That also means they cannot be backed up. If you clear this site’s data or move to another browser, make new keys here: people will send to the new ones, and what you signed before stays verifiable, but files sent to your old keys can no longer be opened.',
      ),
      me.session.mfa_verified
        ? null
        : h(
            'p',
            {},
            'Making keys needs a session that passed ',
            link('/app/mfa', 'two-factor authentication'),
            '.',
          ),
    ),
  )
}
