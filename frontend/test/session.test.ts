// POST /session: the frontend server exchanges the sign-in code with
// identity-api (here a stand-in speaking its contract over real HTTP, for
// the cookie details) and keeps the token in cookies the page's scripts
// cannot read. The exchange with the real identity-api, its browser binding
// and caller check, is in session-with-identity.test.ts.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../server/app.ts'
import { loadServiceConfig } from '../server/config.ts'

const STATIC_DIR = fileURLToPath(new URL('./fixtures/client', import.meta.url))

describe('the session exchange', () => {
  let identity: Server
  const seen: Array<{ url: string; body: string }> = []
  let app: Awaited<ReturnType<typeof buildApp>>

  beforeAll(async () => {
    identity = createServer(async (req, res) => {
      let body = ''
      for await (const chunk of req) body += chunk
      seen.push({ url: req.url ?? '', body })
      if (req.url === '/health') return void res.writeHead(200).end('{}')
      const { code } = JSON.parse(body) as { code: string }
      if (code !== 'good-code') {
        res.writeHead(400, { 'content-type': 'application/problem+json' }).end('{"code":"ERR_CODE_INVALID"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          token: 'header.payload.signature',
          token_type: 'Bearer',
          expires_at: new Date(Date.now() + 900_000).toISOString(),
          session_expires_at: new Date(Date.now() + 3600_000).toISOString(),
          session_id: 's1',
          user: { id: 'u1', email: 'a@example.test', display_name: 'A', role: 'user' },
          mfa: { enrolled: false, pending: false, verified: false },
        }),
      )
    })
    identity.listen(0, '127.0.0.1')
    await once(identity, 'listening')
    const url = `http://127.0.0.1:${(identity.address() as AddressInfo).port}`
    app = await buildApp(loadServiceConfig({ STATIC_DIR, IDENTITY_API_URL: url }), { logger: false })
  })
  afterAll(async () => {
    await app.close()
    identity.close()
  })

  it('sets the token in an HttpOnly cookie and a CSRF token beside it, and never returns the token', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/session',
      payload: { code: 'good-code' },
      cookies: { '__Host-docs_mesh_signin': 'the-binding' },
    })
    expect(res.statusCode).toBe(200)
    expect(seen.at(-1)).toEqual({
      url: '/internal/session/exchange',
      body: '{"code":"good-code","binding":"the-binding"}',
    })
    expect(res.body).not.toContain('header.payload.signature')
    expect(res.json()).toMatchObject({ user: { id: 'u1' }, mfa: { enrolled: false } })
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? [])
    expect(cookies.find((c) => c.startsWith('__Host-docs_mesh_signin='))).toMatch(/Max-Age=0/)
    const session = cookies.find((c) => c.startsWith('__Host-docs_mesh_session='))
    const csrf = cookies.find((c) => c.startsWith('__Host-docs_mesh_csrf='))
    expect(session).toMatch(/^__Host-docs_mesh_session=header\.payload\.signature;/)
    expect(session).toMatch(/HttpOnly/)
    expect(session).toMatch(/Secure/)
    expect(session).toMatch(/SameSite=Strict/)
    expect(Number(/Max-Age=(\d+)/.exec(session ?? '')?.[1])).toBeGreaterThan(3500)
    expect(csrf).toMatch(/^__Host-docs_mesh_csrf=[A-Za-z0-9_-]{43};/)
    expect(csrf).not.toMatch(/HttpOnly/)
    expect(res.headers['cache-control']).toBe('no-store')
  })

  it('says when the code is no good, and sets no session', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/session',
      payload: { code: 'replayed' },
      cookies: { '__Host-docs_mesh_signin': 'the-binding' },
    })
    expect(res.json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    expect(String(res.headers['set-cookie'])).not.toContain('__Host-docs_mesh_session=')
    // Without the sign-in cookie, the browser did not sign in: identity-api is not even asked.
    const calls = seen.length
    const planted = await app.inject({ method: 'POST', url: '/session', payload: { code: 'good-code' } })
    expect(planted.json()).toMatchObject({ status: 400, code: 'ERR_CODE_INVALID' })
    expect(seen.length).toBe(calls)
    const bad = await app.inject({ method: 'POST', url: '/session', payload: { nope: 1 } })
    expect(bad.json()).toMatchObject({ status: 400, code: 'ERR_VALIDATION' })
  })
})
