// The page frame: header with navigation, a main region each page fills, and
// client-side routing over the History API (the server sends the app for any
// page a browser asks for).
import { api, type Me } from './api.ts'
import { h } from './dom.ts'

export interface PageContext {
  me: Me | null
  main: HTMLElement
  navigate(path: string): void
  refreshMe(): Promise<Me | null>
}

export type Page = (ctx: PageContext, params: Record<string, string>) => Promise<void> | void

export function link(href: string, text: string, attrs: Record<string, string> = {}): HTMLAnchorElement {
  return h('a', { href, 'data-link': '', ...attrs }, text)
}

export function startApp(root: HTMLElement, routes: Array<[RegExp, Page]>, notSignedIn: Page): void {
  let me: Me | null = null
  const header = h('header', { class: 'container' })
  const main = h('main', { class: 'container', id: 'main', tabindex: '-1' })
  root.replaceChildren(header, main)

  const refreshMe = async () => {
    me = await api<Me>('GET', '/auth/me').catch(() => null)
    return me
  }

  function renderNav() {
    const items: Array<[string, string]> = me
      ? [
          ['/app', 'Home'],
          ['/app/send', 'Send'],
          ['/app/inbox', 'Inbox'],
          ['/app/outbox', 'Outbox'],
          ['/app/keys', 'Keys'],
          ['/app/mfa', 'MFA'],
          ['/app/verify', 'Verify'],
          ...(me.user.role === 'admin' ? ([['/app/admin', 'Admin']] as Array<[string, string]>) : []),
        ]
      : [['/app/verify', 'Verify a signature']]
    const list = h(
      'ul',
      {},
      ...items.map(([href, text]) =>
        h('li', {}, link(href, text, location.pathname === href ? { 'aria-current': 'page' } : {})),
      ),
    )
    if (me) {
      list.append(
        h(
          'li',
          {},
          h(
            'button',
            {
              class: 'secondary outline',
              type: 'button',
              onclick: () =>
                void api('POST', '/auth/logout').finally(() => {
                  me = null
                  navigate('/app')
                }),
            },
            'Sign out',
          ),
        ),
      )
    }
    header.replaceChildren(
      h('nav', { 'aria-label': 'Main' }, h('ul', {}, h('li', {}, h('strong', {}, 'docs-mesh'))), list),
    )
  }

  async function render() {
    main.replaceChildren()
    const path = location.pathname
    for (const [pattern, page] of routes) {
      const match = pattern.exec(path)
      if (!match) continue
      const needsSession = path !== '/app/verify'
      if (needsSession && !me) await refreshMe()
      renderNav()
      const ctx: PageContext = { me, main, navigate, refreshMe }
      if (needsSession && !me) await notSignedIn(ctx, {})
      else await page(ctx, match.groups ?? {})
      main.focus()
      return
    }
    renderNav()
    main.append(h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. '), link('/app', 'Go home'))
  }

  function navigate(path: string) {
    if (path !== location.pathname + location.search) history.pushState(null, '', path)
    void render()
  }

  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest?.('a[data-link]') as HTMLAnchorElement | null
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey) return
    e.preventDefault()
    navigate(a.getAttribute('href') ?? '/app')
  })
  window.addEventListener('popstate', () => void render())
  // Renew the session token before it runs out (it lives 15 minutes).
  setInterval(() => {
    if (me) void api('POST', '/auth/session/renew').catch(() => undefined)
  }, 10 * 60_000)
  void render()
}
