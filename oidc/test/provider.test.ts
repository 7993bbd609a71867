// The local provider over real HTTP, with openid-client as the relying party.
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listenLocalProvider, type RunningProvider } from '../src/listen.ts'

const SECRET = 'a-client-secret-of-at-least-32-characters'
const REDIRECT = 'https://app.example.test/auth/oidc/local/callback'

let running: RunningProvider
let issuer: string

beforeAll(async () => {
  running = await listenLocalProvider({
    cookieKeys: ['test-cookie-key'],
    clients: [{ client_id: 'docs-mesh', client_secret: SECRET, redirect_uris: [REDIRECT] }],
  })
  issuer = running.issuer
})
afterAll(() => running.close())

/** A browser, as far as the flow needs one: follows nothing by itself, keeps cookies. */
function browser() {
  const jar = new Map<string, string>()
  return async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    })
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const [name, ...value] = (pair ?? '').split('=')
      if (name) jar.set(name.trim(), value.join('='))
    }
    return res
  }
}

const absolute = (location: string | null) => new URL(location ?? '', issuer).toString()

async function startSignIn() {
  const config = await client.discovery(new URL(issuer), 'docs-mesh', SECRET, undefined, {
    execute: [client.allowInsecureRequests],
  })
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  const go = browser()
  const toInteraction = await go(url.toString())
  expect(toInteraction.status).toBe(303)
  const interaction = absolute(toInteraction.headers.get('location'))
  return { config, verifier, state, nonce, go, interaction }
}

async function submit(
  go: ReturnType<typeof browser>,
  interaction: string,
  username: string,
  password: string,
) {
  return go(`${interaction}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  })
}

describe('local OpenID provider', () => {
  it('publishes its discovery document, with S256 PKCE', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`)
    const doc = (await res.json()) as { issuer: string; response_types_supported: string[] }
    expect(doc).toMatchObject({ issuer, code_challenge_methods_supported: ['S256'] })
    expect(doc.response_types_supported).toContain('code')
  })

  it('signs alice in through its form and hands the client her e-mail', async () => {
    const { config, verifier, state, nonce, go, interaction } = await startSignIn()
    const form = await go(interaction)
    expect(form.status).toBe(200)
    expect(await form.text()).toContain('<form method="post"')

    let res = await submit(go, interaction, 'alice', 'alice-local-password')
    // Back to the authorization endpoint, then to the client with a code.
    while (res.status === 303 && !(res.headers.get('location') ?? '').startsWith(REDIRECT))
      res = await go(absolute(res.headers.get('location')))
    const callback = new URL(res.headers.get('location') ?? '')
    expect(callback.origin + callback.pathname).toBe(REDIRECT)
    expect(callback.searchParams.get('code')).toBeTruthy()

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    })
    expect(tokens.claims()?.sub).toBe('alice')
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice')
    expect(userinfo).toMatchObject({
      sub: 'alice',
      email: 'alice@docs-mesh.localhost',
      email_verified: true,
      name: 'Alice Example',
    })
  })

  it('refuses a wrong password without leaving the form', async () => {
    const { go, interaction } = await startSignIn()
    const res = await submit(go, interaction, 'alice', 'bob-local-password')
    expect(res.status).toBe(401)
    expect(await res.text()).toContain('Wrong username or password.')
  })

  it('requires PKCE', async () => {
    const res = await fetch(
      `${issuer}/auth?${new URLSearchParams({ client_id: 'docs-mesh', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's' })}`,
      { redirect: 'manual' },
    )
    const location = new URL(res.headers.get('location') ?? '')
    expect(location.searchParams.get('error')).toBe('invalid_request')
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/)
  })

  it('refuses a code exchanged with the wrong verifier', async () => {
    const { config, state, nonce, go, interaction } = await startSignIn()
    let res = await submit(go, interaction, 'bob', 'bob-local-password')
    while (res.status === 303 && !(res.headers.get('location') ?? '').startsWith(REDIRECT))
      res = await go(absolute(res.headers.get('location')))
    const callback = new URL(res.headers.get('location') ?? '')
    await expect(
      client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: state,
        expectedNonce: nonce,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' })
  })
})
