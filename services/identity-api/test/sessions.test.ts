// Session tokens: what identity-api issues, and every forgery a client might
// try against a protected route.
import { createHmac, randomBytes } from 'node:crypto'
import { parseKeyEncryptionKey } from '@docs-mesh/platform'
import { testDatabaseKinds } from '@docs-mesh/platform/testing'
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSessionKeys } from '../src/sessions/session-keys.ts'
import { type IdentityFixture, type SignedIn, startIdentityFixture } from './fixture.ts'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe.each(testDatabaseKinds(process.env))('sessions on %s', (kind) => {
  let f: IdentityFixture
  let alice: SignedIn
  beforeAll(async () => {
    f = await startIdentityFixture(kind)
    alice = await f.signIn('alice')
  })
  afterAll(() => f.close())

  const me = (token: string) => f.app.inject({ url: '/auth/me', headers: f.bearer(token) })
  const claims = () => decodeJwt(alice.token)
  /** The real session signing key, as only identity-api holds it. */
  const realKey = async () =>
    createSessionKeys(f.app.database, {
      kek: parseKeyEncryptionKey(f.kek),
      maxAgeMs: 30 * 86_400_000,
      tokenLifetimeMs: 900_000,
    }).active()
  const resign = async (changes: Record<string, unknown>) => {
    const { kid, privateKey } = await realKey()
    const { sid, role, sub, iss, aud, iat, exp } = claims()
    return new SignJWT({ sid, role, sub, iss, aud, iat, exp, ...changes } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
      .sign(privateKey)
  }

  it('issues a short-lived EdDSA token naming the session, the user and the role, published in the JWKS', async () => {
    const header = decodeProtectedHeader(alice.token)
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'JWT' })
    const c = claims()
    expect(c).toMatchObject({ sid: alice.sessionId, sub: alice.user.id, role: 'user', aud: 'docs-mesh' })
    expect((c.exp ?? 0) - (c.iat ?? 0)).toBe(900)
    const jwks = await f.app.inject({ url: '/auth/.well-known/jwks.json' })
    const keys = jwks.json().keys as Array<Record<string, unknown>>
    expect(keys.map((k) => k.kid)).toContain(header.kid)
    for (const k of keys) {
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })
      expect(k).not.toHaveProperty('d')
    }
  })

  it('keeps the session signing key sealed at rest', async () => {
    const rows = await f.app.database.db.selectFrom('session_keys').selectAll().execute()
    for (const row of rows) {
      expect(row.private_jwk_encrypted).toMatch(/^v1\./)
      expect(row.private_jwk_encrypted).not.toContain('"d"')
    }
  })

  it('refuses an unsigned token (alg none)', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`
    expect((await me(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_INVALID' })
  })

  it('refuses a token signed by another Ed25519 key under the real kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const token = await new SignJWT(claims() as Record<string, unknown>)
      .setProtectedHeader({ alg: 'EdDSA', kid: decodeProtectedHeader(alice.token).kid, typ: 'JWT' })
      .sign(privateKey)
    expect((await me(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_INVALID' })
  })

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const jwks = (await f.app.inject({ url: '/auth/.well-known/jwks.json' })).json().keys as Array<{
      kid: string
      x: string
    }>
    const kid = decodeProtectedHeader(alice.token).kid
    const publicKey = jwks.find((k) => k.kid === kid)!
    const signingInput = `${b64({ alg: 'HS256', kid, typ: 'JWT' })}.${b64(claims())}`
    for (const secret of [Buffer.from(publicKey.x, 'base64url'), Buffer.from(JSON.stringify(publicKey))]) {
      const token = `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
      expect((await me(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_INVALID' })
    }
  })

  it('refuses an expired token, even with a good signature', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = await resign({ iat: now - 1000, exp: now - 100 })
    expect((await me(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_EXPIRED' })
  })

  it('refuses a token for another audience or from another issuer', async () => {
    expect((await me(await resign({ aud: 'someone-else' }))).json()).toMatchObject({ status: 401 })
    expect((await me(await resign({ iss: 'https://evil.test/auth' }))).json()).toMatchObject({ status: 401 })
  })

  it('refuses a well-signed token that is not the one bound to the session row', async () => {
    // Raising one's own role is the obvious try.
    const token = await resign({ role: 'admin', jti: randomBytes(8).toString('hex') })
    expect((await me(token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_INVALID' })
  })

  it('refuses a request with no token, or a malformed Authorization header', async () => {
    const none = await f.app.inject({ url: '/auth/me' })
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
    expect(none.json()).toMatchObject({ code: 'ERR_SESSION_MISSING' })
    const basic = await f.app.inject({ url: '/auth/me', headers: { authorization: 'Basic YWxpY2U6eA==' } })
    expect(basic.json()).toMatchObject({ code: 'ERR_SESSION_MISSING' })
  })

  it('renews: the new token works and the old one stops at once; the session never outlives its maximum age', async () => {
    const bob = await f.signIn('bob')
    const renewed = await f.app.inject({
      method: 'POST',
      url: '/auth/session/renew',
      headers: f.bearer(bob.token),
    })
    expect(renewed.statusCode).toBe(200)
    const { token, expires_at } = renewed.json()
    expect(token).not.toBe(bob.token)
    expect((await me(token)).statusCode).toBe(200)
    expect((await me(bob.token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_INVALID' })

    const soon = new Date(Date.now() + 60_000).toISOString()
    await f.app.database.db
      .updateTable('sessions')
      .set({ expires_at: soon })
      .where('id', '=', bob.sessionId)
      .execute()
    const capped = await f.app.inject({
      method: 'POST',
      url: '/auth/session/renew',
      headers: f.bearer(token),
    })
    expect(Date.parse(capped.json().expires_at)).toBeLessThanOrEqual(Date.parse(soon))
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.parse(soon))
  })

  it('logs out: the session is revoked, its token refused, and the sign-out audited', async () => {
    const carol = await f.signIn('carol')
    const out = await f.app.inject({ method: 'POST', url: '/auth/logout', headers: f.bearer(carol.token) })
    expect(out.statusCode).toBe(204)
    expect((await me(carol.token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_REVOKED' })
    const renew = await f.app.inject({
      method: 'POST',
      url: '/auth/session/renew',
      headers: f.bearer(carol.token),
    })
    expect(renew.statusCode).toBe(401)
    const audit = await f.app.database.db
      .selectFrom('audit_entries')
      .select('data')
      .where('type', '=', 'auth.sign_out')
      .execute()
    expect(audit.map((a) => JSON.parse(a.data).session_id)).toContain(carol.sessionId)
  })

  it('refuses the tokens of a disabled user', async () => {
    const bob = await f.signIn('bob')
    await f.app.database.db
      .updateTable('users')
      .set({ disabled_at: new Date().toISOString() })
      .where('id', '=', bob.user.id)
      .execute()
    expect((await me(bob.token)).json()).toMatchObject({ status: 401, code: 'ERR_SESSION_REVOKED' })
    await f.app.database.db
      .updateTable('users')
      .set({ disabled_at: null })
      .where('id', '=', bob.user.id)
      .execute()
  })

  describe('in the browser, by cookie', () => {
    const cookies = (token: string, csrf?: string) => ({
      cookie: `__Host-docs_mesh_session=${token}${csrf ? `; __Host-docs_mesh_csrf=${csrf}` : ''}`,
    })

    it('accepts the session cookie for reading', async () => {
      const bob = await f.signIn('bob')
      const res = await f.app.inject({ url: '/auth/me', headers: cookies(bob.token) })
      expect(res.statusCode).toBe(200)
      expect(res.json().user.id).toBe(bob.user.id)
    })

    it('refuses a change by cookie without the CSRF header echoing the CSRF cookie', async () => {
      const bob = await f.signIn('bob')
      const csrf = 'a'.repeat(43)
      const none = await f.app.inject({
        method: 'POST',
        url: '/auth/session/renew',
        headers: cookies(bob.token, csrf),
      })
      expect(none.json()).toMatchObject({ status: 403, code: 'ERR_CSRF' })
      const wrong = await f.app.inject({
        method: 'POST',
        url: '/auth/session/renew',
        headers: { ...cookies(bob.token, csrf), 'x-csrf-token': 'b'.repeat(43) },
      })
      expect(wrong.json()).toMatchObject({ status: 403, code: 'ERR_CSRF' })
      // A cross-site page can make the browser send the cookie, but cannot read it to echo.
      const noCookie = await f.app.inject({
        method: 'POST',
        url: '/auth/session/renew',
        headers: { ...cookies(bob.token), 'x-csrf-token': '' },
      })
      expect(noCookie.json()).toMatchObject({ status: 403, code: 'ERR_CSRF' })
    })

    it('renews into the cookie, and signing out clears both cookies', async () => {
      const bob = await f.signIn('bob')
      const csrf = 'c'.repeat(43)
      const headers = { ...cookies(bob.token, csrf), 'x-csrf-token': csrf }
      const renewed = await f.app.inject({ method: 'POST', url: '/auth/session/renew', headers })
      expect(renewed.statusCode).toBe(200)
      // The token is in the HttpOnly cookie only: a page script reading the body never sees it.
      expect(renewed.json()).toEqual({ token_type: 'Bearer', expires_at: expect.any(String) })
      const set = String(renewed.headers['set-cookie'])
      const token = /__Host-docs_mesh_session=([^;]+)/.exec(set)?.[1] ?? ''
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
      expect(token).not.toBe(bob.token)
      expect(renewed.body).not.toContain(token)
      expect(set).toMatch(/HttpOnly/)
      expect(set).toMatch(/Secure/)
      expect(set).toMatch(/SameSite=Strict/)
      const fresh = { ...cookies(token, csrf), 'x-csrf-token': csrf }
      const out = await f.app.inject({ method: 'POST', url: '/auth/logout', headers: fresh })
      expect(out.statusCode).toBe(204)
      const cleared = ([] as string[]).concat(out.headers['set-cookie'] ?? [])
      expect(cleared.some((c) => c.startsWith('__Host-docs_mesh_session=;'))).toBe(true)
      expect(cleared.some((c) => c.startsWith('__Host-docs_mesh_csrf=;'))).toBe(true)
    })

    it('takes the Authorization header over a cookie, and needs no CSRF header with it', async () => {
      const bob = await f.signIn('bob')
      const res = await f.app.inject({
        method: 'POST',
        url: '/auth/session/renew',
        headers: { ...f.bearer(bob.token), cookie: '__Host-docs_mesh_session=forged' },
      })
      expect(res.statusCode).toBe(200)
      expect(res.headers['set-cookie']).toBeUndefined()
    })
  })
})
