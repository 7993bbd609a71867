// A browser, as far as an OpenID sign-in needs one: it keeps cookies, follows
// nothing by itself, and fills in the provider's login form. Tests of the
// relying parties (identity-api, the e2e suite) sign in through it.

export type BrowserFetch = (url: string, init?: RequestInit) => Promise<Response>

export function scriptedBrowser(): BrowserFetch {
  const jar = new Map<string, Map<string, string>>()
  return async (url, init = {}) => {
    const host = new URL(url).host
    const cookies = jar.get(host) ?? new Map<string, string>()
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    })
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const [name, ...value] = (pair ?? '').split('=')
      if (name) cookies.set(name.trim(), value.join('='))
    }
    jar.set(host, cookies)
    return res
  }
}

/**
 * From the provider's authorization URL to the redirect back to the client:
 * shows the login form, submits the user's credentials, follows the
 * provider's own redirects, and returns the callback URL (with code and state).
 */
export async function signInAtProvider(
  go: BrowserFetch,
  authorizationUrl: string,
  credentials: { username: string; password: string },
  redirectUri: string,
): Promise<URL> {
  let res = await go(authorizationUrl)
  let location = new URL(res.headers.get('location') ?? '', authorizationUrl)
  if (!location.pathname.startsWith('/interaction/'))
    throw new Error(`the provider did not ask for a sign-in (${res.status} ${location})`)
  const form = await go(location.toString())
  if (form.status !== 200) throw new Error(`the login form answered ${form.status}`)
  res = await go(`${location}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(credentials).toString(),
  })
  for (let hops = 0; hops < 10; hops++) {
    if (res.status !== 302 && res.status !== 303)
      throw new Error(`sign-in stopped at ${res.status}: ${(await res.text()).slice(0, 200)}`)
    location = new URL(res.headers.get('location') ?? '', location)
    if (location.toString().startsWith(redirectUri)) return location
    res = await go(location.toString())
  }
  throw new Error('too many redirects at the provider')
}
