import { once } from 'node:events'
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Type from 'typebox'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createServiceApp, type ServiceApp } from '../../src/app/create-app.ts'
import { loadConfig } from '../../src/config/load-config.ts'
import { HttpProblem } from '../../src/errors/problem.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'
import { createTestSession, createTestSessionKey } from '../../src/testing/test-sessions.ts'

const service = {
  name: 'bucket-api',
  serviceAccount: 'bucket-sa',
  routePrefix: '/buckets',
  database: true,
  owns: ['audit', 'identity'],
  reads: [],
} as const
const SELF = 'spiffe://cluster.local/ns/docs/sa/bucket-sa'
const FRONTEND = 'spiffe://cluster.local/ns/docs/sa/frontend-sa'

async function build(database: TestDatabase, env: Record<string, string> = {}): Promise<ServiceApp> {
  const config = loadConfig({ DATABASE_URL: database.url, ...env }, { defaultPort: 0 })
  const app = await createServiceApp({ service, config, logger: false })
  app.get('/buckets/problem', async () => {
    throw new HttpProblem(410, 'ERR_BUCKET_EXPIRED', 'the bucket expired', { headers: { 'x-extra': '1' } })
  })
  app.get('/buckets/crash', async () => {
    throw new Error('password=hunter2 leaked in a stack')
  })
  app.post(
    '/buckets/echo',
    {
      schema: {
        body: Type.Object({ name: Type.String({ minLength: 1 }) }),
        response: { 200: Type.Object({ name: Type.String() }) },
      },
    },
    async (request) => ({
      name: request.body.name,
    }),
  )
  // An $async schema: Ajv rejects with its own ValidationError, not Fastify's.
  app.get(
    '/buckets/async-query',
    {
      schema: {
        querystring: {
          $async: true,
          type: 'object',
          properties: { n: { type: 'integer', maximum: 5 } },
          additionalProperties: false,
        },
      },
    },
    async (request) => request.query,
  )
  app.get(
    '/internal/peer',
    { config: { callers: ['cluster.local/ns/docs/sa/frontend-sa'] } },
    async (request) => ({ peer: request.peer?.principal }),
  )
  app.get('/buckets/address', async (request) => ({ address: request.clientAddress }))
  app.get('/buckets/me', { config: { session: 'user' } }, async (request) => ({
    user: request.session?.userId,
  }))
  app.get('/buckets/admin', { config: { session: 'admin' } }, async () => ({ ok: true }))
  return app
}

describe.each(testDatabaseKinds(process.env))('service app on %s', (kind) => {
  let database: TestDatabase
  let app: ServiceApp

  beforeEach(async () => {
    database = await createTestDatabase(kind, process.env)
    app = await build(database, { MESH_SIDECAR: 'true' })
  })
  afterEach(async () => {
    await app.close()
    await database.drop()
  })

  it('answers an unknown route with a problem+json 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toEqual({
      type: 'urn:docs-mesh:problem:ERR_NOT_FOUND',
      title: 'Not Found',
      status: 404,
      detail: 'no route for GET /nope',
      code: 'ERR_NOT_FOUND',
      instance: '/nope',
      request_id: res.headers['x-request-id'],
    })
  })

  it('puts the security headers on every response, problems and errors included', async () => {
    const responses = await Promise.all([
      app.inject({ method: 'GET', url: '/health' }),
      app.inject({ method: 'GET', url: '/nope' }),
      app.inject({ method: 'GET', url: '/buckets/problem' }),
      app.inject({ method: 'GET', url: '/buckets/crash' }),
    ])
    expect(responses.map((r) => r.statusCode)).toEqual([200, 404, 410, 500])
    for (const res of responses) {
      expect(res.headers['content-security-policy']).toContain("default-src 'none'")
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains')
      expect(res.headers['referrer-policy']).toBe('no-referrer')
    }
  })

  it('passes a thrown problem through with its code and headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/buckets/problem' })
    expect(res.statusCode).toBe(410)
    expect(res.headers['x-extra']).toBe('1')
    expect(res.json()).toMatchObject({
      status: 410,
      code: 'ERR_BUCKET_EXPIRED',
      detail: 'the bucket expired',
      title: 'Gone',
    })
  })

  it('masks the details of a 5xx', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/buckets/crash',
      headers: { 'x-request-id': 'req-123' },
    })
    expect(res.statusCode).toBe(500)
    expect(res.body).not.toContain('hunter2')
    expect(res.json()).toMatchObject({
      code: 'ERR_INTERNAL',
      detail: 'internal error; quote request id req-123',
      request_id: 'req-123',
    })
  })

  it('explains a validation failure', async () => {
    const res = await app.inject({ method: 'POST', url: '/buckets/echo', payload: { name: '' } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'ERR_VALIDATION', errors: [{ path: '/name' }] })
  })

  it('explains a validation failure of an $async schema too, as problem+json', async () => {
    const res = await app.inject({ method: 'GET', url: '/buckets/async-query?n=9' })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ code: 'ERR_VALIDATION', errors: [{ path: '/n' }] })
    expect((await app.inject({ method: 'GET', url: '/buckets/async-query?n=2' })).json()).toEqual({ n: 2 })
  })

  it('refuses a malformed JSON body and an oversized one', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/buckets/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().code).toBe('ERR_BAD_REQUEST')
    const big = await app.inject({
      method: 'POST',
      url: '/buckets/echo',
      payload: { name: 'x'.repeat(2 * 1024 * 1024) },
    })
    expect(big.statusCode).toBe(413)
    expect(big.json().code).toBe('ERR_PAYLOAD_TOO_LARGE')
  })

  it('keeps a well-formed x-request-id and replaces a hostile one', async () => {
    const kept = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } })
    expect(kept.headers['x-request-id']).toBe('abc-123')
    const replaced = await app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'a b\u0000<script>' },
    })
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('serves health, readiness, OpenAPI and security headers', async () => {
    const health = await app.inject({ method: 'GET', url: '/health' })
    expect(health.json()).toEqual({ status: 'ok', service: 'bucket-api' })
    expect(health.headers['x-content-type-options']).toBe('nosniff')
    expect(health.headers['content-security-policy']).toContain("default-src 'none'")
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({
      status: 'ready',
      service: 'bucket-api',
      checks: { database: true, 'migrations:audit': true, 'migrations:identity': true },
    })
    const openapi = await app.inject({ method: 'GET', url: '/buckets/openapi.json' })
    expect(openapi.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'bucket-api' } })
    expect(Object.keys(openapi.json().paths)).toContain('/buckets/echo')
  })

  it('is not ready while a dependency is down, and says which', async () => {
    app.addReadinessCheck('signing-api', async () => false)
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({
      code: 'ERR_NOT_READY',
      detail: 'not ready: signing-api',
      checks: { database: true, 'signing-api': false },
    })
  })

  describe('mesh caller identity', () => {
    const call = (xfcc?: string) =>
      app.inject({
        method: 'GET',
        url: '/internal/peer',
        headers: xfcc === undefined ? {} : { 'x-forwarded-client-cert': xfcc },
      })

    it('admits a named principal', async () => {
      const res = await call(`By=${SELF};Hash=ab;Subject="";URI=${FRONTEND}`)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual({ peer: 'cluster.local/ns/docs/sa/frontend-sa' })
    })

    it.each([
      [undefined, 'ERR_CALLER_MISSING'],
      [`By=${SELF};URI=spiffe://cluster.local/ns/docs/sa/admin-sa`, 'ERR_CALLER_FORBIDDEN'],
      [`By=${SELF};URI="${FRONTEND}`, 'ERR_CALLER_MALFORMED'],
      [`By=spiffe://cluster.local/ns/docs/sa/admin-sa;URI=${FRONTEND}`, 'ERR_CALLER_MALFORMED'],
      ['URI=https://frontend', 'ERR_CALLER_MALFORMED'],
    ])('refuses %j with %s', async (xfcc, code) => {
      const res = await call(xfcc)
      expect(res.statusCode).toBe(403)
      expect(res.json().code).toBe(code)
    })
  })

  describe('client address, behind a sidecar', () => {
    const address = async (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      (await app.inject({ url: '/buckets/address', headers, remoteAddress })).json().address

    it('is the address the gateway vouches for (x-envoy-external-address), never X-Forwarded-For', async () => {
      expect(await address({ 'x-envoy-external-address': '203.0.113.7' })).toBe('203.0.113.7')
      expect(
        await address({ 'x-envoy-external-address': '203.0.113.7', 'x-forwarded-for': '198.51.100.1' }),
      ).toBe('203.0.113.7')
      expect(await address({ 'x-forwarded-for': '198.51.100.1' })).toBe('127.0.0.1')
    })

    it('is the TCP peer when the header is missing or not an address', async () => {
      expect(await address({}, '127.0.0.6')).toBe('127.0.0.6')
      expect(await address({ 'x-envoy-external-address': 'not-an-ip' }, '127.0.0.6')).toBe('127.0.0.6')
    })
  })

  describe('sessions', () => {
    it('needs a bearer token, and admin routes need the role and MFA', async () => {
      const key = await createTestSessionKey(app.database)
      const opts = { issuer: 'https://localhost:8443/auth', audience: 'docs-mesh' }
      const user = await createTestSession(app.database, key, opts)
      const adminNoMfa = await createTestSession(app.database, key, { ...opts, role: 'admin' })
      const admin = await createTestSession(app.database, key, { ...opts, role: 'admin', mfaVerified: true })
      const get = (url: string, token?: string) =>
        app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} })

      const none = await get('/buckets/me')
      expect(none.statusCode).toBe(401)
      expect(none.headers['www-authenticate']).toContain('Bearer')
      expect(none.json().code).toBe('ERR_SESSION_MISSING')
      expect((await get('/buckets/me', user.token)).json()).toEqual({ user: user.userId })
      expect((await get('/buckets/admin', user.token)).json().code).toBe('ERR_ADMIN_REQUIRED')
      expect((await get('/buckets/admin', adminNoMfa.token)).json().code).toBe('ERR_MFA_REQUIRED')
      expect((await get('/buckets/admin', admin.token)).statusCode).toBe(200)
      expect((await get('/buckets/me', `${user.token}x`)).json().code).toBe('ERR_SESSION_INVALID')
    })
  })
})

describe('outside a mesh (MESH_SIDECAR unset, as in docker compose)', () => {
  let database: TestDatabase
  let app: ServiceApp
  beforeEach(async () => {
    database = await createTestDatabase('sqlite', process.env)
    app = await build(database)
  })
  afterEach(async () => {
    await app.close()
    await database.drop()
  })
  const forged = `By=spiffe://cluster.local/ns/docs/sa/bucket-sa;Hash=ab;Subject="";URI=spiffe://cluster.local/ns/docs/sa/frontend-sa`

  it('refuses any request that carries x-forwarded-client-cert, with a stable code', async () => {
    for (const url of ['/buckets/me', '/internal/peer', '/health']) {
      const res = await app.inject({ url, headers: { 'x-forwarded-client-cert': forged } })
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json().code).toBe('ERR_XFCC_UNTRUSTED')
    }
  })

  it('admits no caller to a route for mesh workloads', async () => {
    const res = await app.inject({ url: '/internal/peer' })
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('ERR_CALLER_UNVERIFIABLE')
  })

  it('keys the client address on the TCP peer, whatever the headers say', async () => {
    const res = await app.inject({
      url: '/buckets/address',
      headers: { 'x-envoy-external-address': '203.0.113.7', 'x-forwarded-for': '198.51.100.1' },
      remoteAddress: '127.0.0.1',
    })
    expect(res.json().address).toBe('127.0.0.1')
  })
})

describe('access log', () => {
  it('never writes the query parameter code (the single-use sign-in code), whatever the route', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const lines: string[] = []
    const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'info' }, { defaultPort: 0 })
    const app = await createServiceApp({ service, config, logStream: { write: (line) => lines.push(line) } })
    app.get('/app', async () => ({ ok: true }))
    try {
      await app.inject({ url: '/app?code=s3cret-sign-in-code&lang=en' })
      await app.inject({ url: '/nowhere?x=1&CODE=another-s3cret' })
      const log = lines.join('')
      expect(log).toContain('"url":"/app?code=[redacted]&lang=en"')
      expect(log).toContain('CODE=[redacted]')
      expect(log).not.toContain('s3cret')
    } finally {
      await app.close()
      await database.drop()
    }
  })
})

describe('graceful shutdown', () => {
  it('lets an in-flight request finish and refuses new connections', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const app = await build(database)
    let release: () => void = () => {}
    const started = new Promise<void>((resolve) => {
      app.get('/buckets/slow', async () => {
        resolve()
        await new Promise<void>((r) => {
          release = r
        })
        return { done: true }
      })
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const inFlight = fetch(`http://127.0.0.1:${port}/buckets/slow`).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }))
    await started
    // Fastify stops listening a few ticks into close(); wait for that moment
    // instead of racing a new connection against it.
    const stoppedListening = new Promise<void>((resolve) => {
      const close = app.server.close.bind(app.server)
      app.server.close = ((callback?: (error?: Error) => void) => {
        const server = close(callback)
        resolve()
        return server
      }) as typeof app.server.close
    })
    const closing = app.close()
    await stoppedListening
    expect(app.server.listening).toBe(false)
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow()
    release()
    expect(await inFlight).toEqual({ status: 200, body: { done: true } })
    await closing
    await database.drop()
  })
})

describe('outbound calls', () => {
  let database: TestDatabase
  let upstream: Server
  let seen: IncomingMessage[]
  let upstreamUrl: string

  beforeEach(async () => {
    database = await createTestDatabase('sqlite', process.env)
    seen = []
    upstream = createServer((req, res) => {
      seen.push(req)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ method: req.method, url: req.url }))
    })
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  })
  afterEach(async () => {
    upstream.close()
    await database.drop()
  })

  it('passes on the request id and the trace, with a new parent id', async () => {
    const app = await build(database)
    app.get('/buckets/relay', async (request) =>
      app.upstream.call({
        method: 'GET',
        url: `${upstreamUrl}/x`,
        context: { requestId: request.id, trace: request.trace },
      }),
    )
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const res = await app.inject({
      method: 'GET',
      url: '/buckets/relay',
      headers: { 'x-request-id': 'r-1', traceparent },
    })
    expect(res.statusCode).toBe(200)
    const headers = seen[0]?.headers ?? {}
    expect(headers['x-request-id']).toBe('r-1')
    expect(headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(headers.traceparent).not.toBe(traceparent)
    await app.close()
  })

  it('sends mesh calls through HTTP_PROXY and others direct per NO_PROXY', async () => {
    const proxied: string[] = []
    const proxy = createServer((req, res) => {
      proxied.push(req.url ?? '')
      const target = new URL(req.url ?? '')
      const forward = httpRequest(
        {
          host: '127.0.0.1',
          port: upstreamUrl.split(':').at(-1),
          path: target.pathname,
          method: req.method,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      req.pipe(forward)
    })
    proxy.listen(0, '127.0.0.1')
    await once(proxy, 'listening')
    const app = await build(database, {
      HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      NO_PROXY: '127.0.0.1',
    })
    const viaMesh = await app.upstream.call<{ url: string }>({
      method: 'POST',
      url: 'http://signing-api.docs.svc.cluster.local:8001/sign',
      body: { a: 1 },
    })
    expect(viaMesh.status).toBe(200)
    expect(proxied).toEqual(['http://signing-api.docs.svc.cluster.local:8001/sign'])
    await app.upstream.call({ method: 'GET', url: `${upstreamUrl}/direct` })
    expect(proxied).toHaveLength(1)
    await app.close()
    proxy.close()
  })

  it('turns an unreachable upstream into a 503 problem, without retrying', async () => {
    let hits = 0
    const flaky = createServer((req) => {
      hits++
      req.socket.destroy()
    })
    flaky.listen(0, '127.0.0.1')
    await once(flaky, 'listening')
    const app = await build(database)
    app.post('/buckets/relay', async () =>
      app.upstream.call({
        method: 'POST',
        url: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/sign`,
        body: {},
      }),
    )
    const res = await app.inject({ method: 'POST', url: '/buckets/relay' })
    expect(res.statusCode).toBe(503)
    expect(res.json().code).toBe('ERR_UPSTREAM_UNAVAILABLE')
    expect(hits).toBe(1)
    await app.close()
    flaky.close()
  })
})
