// The OpenID Connect sign-in, end to end over real HTTP against the local
// provider, and every way to tamper with it.
import { scriptedBrowser, signInAtProvider } from '@docs-mesh/oidc-provider'
import { createSessionVerifier, verifyAuditChain } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'
import { CALLBACK, type IdentityFixture, PUBLIC_URL, startIdentityFixture } from './fixture.ts'

describe.each(testDatabaseKinds(process.env))('OpenID sign-in on %s', (kind) => {
  let f: IdentityFixture
  beforeAll(async () => {
    f = await startIdentityFixture(kind, { AUTH_RATE_LIMIT_PER_MINUTE: '40' })
  })
  afterAll(() => f.close())

  /** The browser up to the provider's redirect back, with the attempt's cookie. */
  async function toCallback(username = 'alice') {
    const go = scriptedBrowser()
    const login = await go(`${f.appUrl}/auth/oidc/local/login`)
    const callback = await signInAtProvider(
      go,
      login.headers.get('location') ?? '',
      { username, password: `${username}-local-password` },
      CALLBACK,
    )
    return { go, login, callback }
  }

  it('redirects to the provider with PKCE (S256), state and nonce, bound to the browser by a cookie', async () => {
    const res = await fetch(`${f.appUrl}/auth/oidc/local/login`, { redirect: 'manual' })
    expect(res.status).toBe(302)
    const target = new URL(res.headers.get('location') ?? '')
    expect(target.origin).toBe(f.provider.issuer)
    const q = target.searchParams
    expect(q.get('response_type')).toBe('code')
    expect(q.get('redirect_uri')).toBe(CALLBACK)
    expect(q.get('code_challenge_method')).toBe('S256')
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(q.get('state')).toBeTruthy()
    expect(q.get('nonce')).toBeTruthy()
    expect(q.get('scope')).toBe('openid email profile')
    const cookie = res.headers.getSetCookie().join('\n')
    expect(cookie).toContain(`__Host-docs_mesh_oidc_state=${q.get('state')}`)
    expect(cookie).toMatch(/HttpOnly/i)
    expect(cookie).toMatch(/Secure/i)
    expect(cookie).toMatch(/SameSite=Lax/i)
    expect(cookie).toMatch(/Path=\/(;|$)/m)
  })

  it('signs alice in: the callback sends the browser to /app with a single-use code, never a token', async () => {
    const { code, location } = await f.signInToCode('alice')
    expect(location.origin + location.pathname).toBe('https://docs.test/app')
    expect([...location.searchParams.keys()]).toEqual(['code'])
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(code.split('.')).toHaveLength(1)

    const res = await f.exchange(code)
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({
      token_type: 'Bearer',
      user: { email: 'alice@docs-mesh.localhost', display_name: 'Alice Example', role: 'user' },
      mfa: { enrolled: false, verified: false },
    })
    const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(body.token) })
    expect(me.statusCode).toBe(200)
    expect(me.json()).toMatchObject({
      user: { id: body.user.id, email: 'alice@docs-mesh.localhost' },
      session: { id: body.session_id, mfa_verified: false },
    })
  })

  it('finds the same user at the next sign-in, and makes carol an admin from the e-mail list', async () => {
    const first = await f.signIn('alice')
    const second = await f.signIn('alice')
    expect(second.user.id).toBe(first.user.id)
    expect(second.sessionId).not.toBe(first.sessionId)
    const carol = await f.signIn('carol')
    expect(carol.user.role).toBe('admin')
    const bob = await f.signIn('bob')
    expect(bob.user.role).toBe('user')
  })

  it('refuses a callback whose state is not the one this browser started', async () => {
    const { go, callback } = await toCallback()
    const forged = new URL(callback)
    forged.searchParams.set('state', 'someone-elses-state')
    const res = await go(f.gateway(forged))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'ERR_OIDC_STATE' })
  })

  it('refuses a callback from a browser that never started the sign-in (login CSRF)', async () => {
    const { callback } = await toCallback()
    const res = await fetch(f.gateway(callback), { redirect: 'manual' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'ERR_OIDC_STATE' })
  })

  it('refuses the same callback twice', async () => {
    const { go, callback } = await toCallback()
    expect((await go(f.gateway(callback))).status).toBe(302)
    const again = await fetch(f.gateway(callback), {
      redirect: 'manual',
      headers: { cookie: `__Host-docs_mesh_oidc_state=${callback.searchParams.get('state')}` },
    })
    expect(again.status).toBe(400)
    expect(await again.json()).toMatchObject({ code: 'ERR_OIDC_STATE' })
  })

  it('refuses an ID token whose nonce is not the one sent', async () => {
    const { go, callback } = await toCallback()
    await f.app.database.db
      .updateTable('login_attempts')
      .set({ nonce: 'not-the-nonce-that-was-sent' })
      .where('state', '=', callback.searchParams.get('state') ?? '')
      .execute()
    const res = await go(f.gateway(callback))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({
      code: 'ERR_OIDC_CALLBACK',
      detail: expect.stringMatching(/nonce/),
    })
  })

  it('refuses a code redeemed with another PKCE verifier (the provider says invalid_grant)', async () => {
    const { go, callback } = await toCallback()
    await f.app.database.db
      .updateTable('login_attempts')
      .set({ code_verifier: 'x'.repeat(43) })
      .where('state', '=', callback.searchParams.get('state') ?? '')
      .execute()
    const res = await go(f.gateway(callback))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({
      code: 'ERR_OIDC_CALLBACK',
      detail: expect.stringMatching(/invalid_grant/),
    })
  })

  it('refuses a tampered authorisation code', async () => {
    const { go, callback } = await toCallback()
    const forged = new URL(callback)
    forged.searchParams.set('code', `${callback.searchParams.get('code')}x`)
    const res = await go(f.gateway(forged))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'ERR_OIDC_CALLBACK' })
  })

  it('says so when the provider ends the sign-in with an error', async () => {
    const go = scriptedBrowser()
    const login = await go(`${f.appUrl}/auth/oidc/local/login`)
    const state = new URL(login.headers.get('location') ?? '').searchParams.get('state')
    const res = await go(`${f.appUrl}/auth/oidc/local/callback?state=${state}&error=access_denied`)
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'ERR_OIDC_DENIED' })
  })

  it('knows only its configured provider', async () => {
    const res = await f.app.inject({ url: '/auth/oidc/google/login' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ code: 'ERR_OIDC_UNKNOWN_PROVIDER' })
  })

  it('exchanges a code once; a replay is refused and ends the session it opened', async () => {
    const { code } = await f.signInToCode('bob')
    const first = await f.exchange(code)
    expect(first.statusCode).toBe(200)
    const replay = await f.exchange(code)
    expect(replay.statusCode).toBe(400)
    expect(replay.json()).toMatchObject({ code: 'ERR_CODE_INVALID' })
    const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(first.json().token) })
    expect(me.statusCode).toBe(401)
    expect(me.json()).toMatchObject({ code: 'ERR_SESSION_REVOKED' })
  })

  it('a replay from another browser is refused but does not end the session (nobody can sign a user out with a seen code)', async () => {
    const { code } = await f.signInToCode('alice')
    const first = await f.exchange(code)
    expect(first.statusCode).toBe(200)
    const elsewhere = await f.exchange(code, 'frontend-sa', 'a-binding-from-another-browser')
    expect(elsewhere.json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(first.json().token) })
    expect(me.statusCode).toBe(200)
    const replays = await f.app.database.db
      .selectFrom('audit_entries')
      .select('data')
      .where('type', '=', 'auth.code_replayed')
      .execute()
    expect(replays.some((e) => JSON.parse(e.data).session_id === first.json().session_id)).toBe(false)
  })

  it("binds the code to the browser that signed in: another browser's cookie does not open it (login CSRF)", async () => {
    const { code, binding } = await f.signInToCode('alice')
    expect(binding).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const attacker = await f.signInToCode('bob')
    const planted = await f.exchange(attacker.code, 'frontend-sa', binding)
    expect(planted.json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    // The refused attempt did not spend either code.
    expect((await f.exchange(code)).statusCode).toBe(200)
    expect((await f.exchange(attacker.code)).statusCode).toBe(200)
  })

  it('sets the binding cookie HttpOnly, Secure, SameSite=Strict, for the whole origin (__Host-), for as long as the code lives', async () => {
    const go = scriptedBrowser()
    const login = await go(`${f.appUrl}/auth/oidc/local/login`)
    const callback = await signInAtProvider(
      go,
      login.headers.get('location') ?? '',
      { username: 'carol', password: 'carol-local-password' },
      CALLBACK,
    )
    const res = await go(f.gateway(callback))
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-docs_mesh_signin=')) ?? ''
    expect(cookie).toMatch(/HttpOnly/i)
    expect(cookie).toMatch(/Secure/i)
    expect(cookie).toMatch(/SameSite=Strict/i)
    expect(cookie).toMatch(/Path=\/(;|$)/)
    expect(cookie).not.toMatch(/Domain=/i)
    expect(cookie).toMatch(/Max-Age=60/)
  })

  it('forgets codes a day after they expired, and sign-in attempts once they expired', async () => {
    const { code } = await f.signInToCode('bob')
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString()
    const aged = () =>
      f.app.database.db
        .selectFrom('session_codes')
        .select('expires_at')
        .where('expires_at', '<=', old)
        .execute()
    await f.app.database.db
      .updateTable('session_codes')
      .set({ expires_at: old })
      .where('used_at', 'is', null)
      .execute()
    // This test's code at least (earlier tests may have left unused codes too).
    expect((await aged()).length).toBeGreaterThanOrEqual(1)
    await f.app.database.db
      .insertInto('login_attempts')
      .values({
        state: 'stale',
        provider: 'local',
        code_verifier: 'v',
        nonce: 'n',
        created_at: old,
        expires_at: old,
      })
      .execute()
    await fetch(`${f.appUrl}/auth/oidc/local/login`, { redirect: 'manual' })
    expect(await aged()).toEqual([])
    expect(
      await f.app.database.db.selectFrom('login_attempts').selectAll().where('state', '=', 'stale').execute(),
    ).toEqual([])
    expect((await f.exchange(code)).statusCode).toBe(400)
  })

  it('refuses an expired code and an unknown one', async () => {
    const { code } = await f.signInToCode('bob')
    await f.app.database.db
      .updateTable('session_codes')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('used_at', 'is', null)
      .execute()
    expect((await f.exchange(code)).json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    expect((await f.exchange('A'.repeat(43))).json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
  })

  it('exchanges codes only for the frontend workload', async () => {
    const { code } = await f.signInToCode('alice')
    for (const caller of ['bucket-sa', 'admin-sa', 'signing-sa']) {
      const res = await f.exchange(code, caller)
      expect(res.statusCode).toBe(403)
      expect(res.json()).toMatchObject({ code: 'ERR_CALLER_FORBIDDEN' })
    }
    const anonymous = await f.app.inject({
      method: 'POST',
      url: '/internal/session/exchange',
      payload: { code },
    })
    expect(anonymous.json()).toMatchObject({ status: 403, code: 'ERR_CALLER_MISSING' })
    // The refused attempts did not use it up.
    expect((await f.exchange(code)).statusCode).toBe(200)
  })

  it('audits each sign-in in an unbroken chain', async () => {
    const { user } = await f.signIn('bob')
    const entries = await f.app.database.db
      .selectFrom('audit_entries')
      .selectAll()
      .where('type', '=', 'auth.sign_in')
      .execute()
    expect(entries.some((e) => JSON.parse(e.data).user_id === user.id)).toBe(true)
    expect((await verifyAuditChain(f.app.database)).valid).toBe(true)
  })

  it('rate-limits the login per client address, with problem+json and Retry-After', async () => {
    let res = await f.app.inject({ url: '/auth/oidc/local/login', remoteAddress: '192.0.2.7' })
    for (let i = 0; i < 45 && res.statusCode !== 429; i++)
      res = await f.app.inject({ url: '/auth/oidc/local/login', remoteAddress: '192.0.2.7' })
    expect(res.statusCode).toBe(429)
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/)
    expect(res.json()).toMatchObject({ code: 'ERR_RATE_LIMITED' })
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
    // Another address is not affected.
    expect(
      (await f.app.inject({ url: '/auth/oidc/local/login', remoteAddress: '192.0.2.8' })).statusCode,
    ).toBe(302)
  })
})

describe.each(testDatabaseKinds(process.env))('the admin list on %s', (kind) => {
  it('an address taken off ADMIN_EMAILS loses admin on its next request, in every service, not at next sign-in', async () => {
    const f = await startIdentityFixture(kind)
    try {
      const carol = await f.signInWithMfa('carol')
      expect(carol.user.role).toBe('admin')
      const verify = createSessionVerifier(f.app.database, {
        issuer: 'https://localhost:8443/auth',
        audience: 'docs-mesh',
      })
      expect((await verify(carol.token)).role).toBe('admin')
      // identity-api restarts with the new list (config is read at boot) on the same database.
      const restarted = await buildApp(
        loadServiceConfig({
          DATABASE_URL: f.database.url,
          SIGNING_API_URL: f.hop.url,
          PUBLIC_URL,
          OIDC_ISSUER: f.provider.issuer,
          OIDC_CLIENT_ID: 'docs-mesh',
          OIDC_CLIENT_SECRET: 'x'.repeat(32),
          ADMIN_EMAILS: '',
          IDENTITY_ENCRYPTION_KEY: f.kek,
        }),
        { logger: false },
      )
      try {
        // carol's session, still open from before, is no longer an admin's: here and in admin-api alike.
        expect((await verify(carol.token)).role).toBe('user')
        const me = await f.app.inject({ url: '/auth/me', headers: f.bearer(carol.token) })
        expect(me.json().user.role).toBe('user')
        const audit = await f.app.database.db
          .selectFrom('audit_entries')
          .select('data')
          .where('type', '=', 'auth.role_changed')
          .execute()
        expect(audit.map((e) => JSON.parse(e.data))).toContainEqual(
          expect.objectContaining({ user_id: carol.user.id, role: 'user' }),
        )
      } finally {
        await restarted.close()
      }
    } finally {
      await f.close()
    }
  })
})
