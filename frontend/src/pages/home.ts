// Signing in, and the home page: where this account stands (MFA, keys) and
// what to do next.
import { api } from '../api.ts'
import { link, type Page } from '../app-shell.ts'
import { loadKeys } from '../crypto/keys.ts'
import { h, statusLine } from '../dom.ts'

export const signInPage: Page = async ({ main }) => {
  const { providers } = await api<{ providers: Array<{ name: string; login: string }> }>(
    'GET',
    '/auth/providers',
  ).catch(() => ({
    providers: [],
  }))
  main.append(
    h('h1', {}, 'Sign in'),
    h(
      'p',
      {},
      'docs-mesh sends files to people, encrypted in your browser and signed by you; the platform signs a receipt and keeps an audit trail anyone can check.',
    ),
    ...providers.map((p) => h('a', { href: p.login, role: 'button', id: 'sign-in' }, 'Sign in')),
    ...(providers.length
      ? []
      : [h('p', { role: 'alert' }, 'Sign-in is unavailable right now; try again in a minute.')]),
    h(
      'p',
      {},
      h(
        'small',
        {},
        'You sign in with your organisation’s identity provider; docs-mesh never sees your password.',
      ),
    ),
  )
}

export const homePage: Page = async ({ me, main }) => {
  if (!me) return
  const keys = await loadKeys(me.user.id)
  const todo: Node[] = []
  if (!me.mfa.enrolled)
    todo.push(
      h(
        'li',
        {},
        link('/app/mfa', 'Set up two-factor authentication'),
        ' (needed before you can make keys).',
      ),
    )
  else if (!me.session.mfa_verified)
    todo.push(h('li', {}, link('/app/mfa', 'Enter a code from your authenticator app'), ' for this session.'))
  if (!keys)
    todo.push(
      h(
        'li',
        {},
        link('/app/keys', 'Make your keys'),
        ' so people can send you files and you can sign what you send.',
      ),
    )
  main.append(
    h('h1', {}, `Hello, ${me.user.display_name}`),
    h('p', {}, `Signed in as ${me.user.email}${me.user.role === 'admin' ? ' (admin)' : ''}.`),
    todo.length
      ? h(
          'section',
          { 'aria-labelledby': 'todo' },
          h('h2', { id: 'todo' }, 'Before you start'),
          h('ul', {}, ...todo),
        )
      : h(
          'p',
          {},
          'You are all set: ',
          link('/app/send', 'send a file'),
          ' or look at your ',
          link('/app/inbox', 'inbox'),
          '.',
        ),
  )
}

/** /app?code=...: the sign-in's single-use code, exchanged by the frontend server for the session cookie. */
export async function finishSignIn(): Promise<string | null> {
  const code = new URLSearchParams(location.search).get('code')
  if (!code) return null
  history.replaceState(null, '', '/app')
  try {
    await api('POST', '/session', { code })
    return null
  } catch (error) {
    return (error as Error).message
  }
}

export function signInError(message: string): Page {
  return (ctx) => {
    const line = statusLine()
    line.say(`Sign-in did not complete: ${message}`, 'error')
    ctx.main.append(line)
    return signInPage(ctx, {})
  }
}
