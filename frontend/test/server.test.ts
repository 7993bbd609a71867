import { fileURLToPath } from 'node:url'
import { startHealthStub } from '@docs-mesh/platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../server/app.ts'
import { loadServiceConfig } from '../server/config.ts'

const STATIC_DIR = fileURLToPath(new URL('./fixtures/client', import.meta.url))

describe('frontend server', () => {
  let identity: Awaited<ReturnType<typeof startHealthStub>>
  let app: Awaited<ReturnType<typeof buildApp>>

  beforeAll(async () => {
    identity = await startHealthStub()
    app = await buildApp(loadServiceConfig({ STATIC_DIR, IDENTITY_API_URL: identity.url }), { logger: false })
  })
  afterAll(async () => {
    await app.close()
    await identity.close()
  })

  it('serves the app with a strict CSP and no caching of the HTML', async () => {
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.body).toContain('fixture')
    expect(res.headers['cache-control']).toBe('no-cache')
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
  })

  it('caches hashed assets for a year', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/app-abc123.js' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable')
  })

  it('gives a browser the app for its own routes and anything else a problem 404', async () => {
    const page = await app.inject({ method: 'GET', url: '/inbox/123', headers: { accept: 'text/html' } })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('fixture')
    const missingAsset = await app.inject({
      method: 'GET',
      url: '/assets/nope.js',
      headers: { accept: 'text/html' },
    })
    expect(missingAsset.statusCode).toBe(404)
    const api = await app.inject({ method: 'POST', url: '/nope', headers: { accept: 'application/json' } })
    expect(api.statusCode).toBe(404)
    expect(api.headers['content-type']).toMatch(/problem\+json/)
    expect(api.json().code).toBe('ERR_NOT_FOUND')
  })

  it('answers a folder under /assets with a problem 404, as any missing asset', async () => {
    for (const url of ['/assets/', '/assets/nested/']) {
      const res = await app.inject({ method: 'GET', url, headers: { accept: 'text/html' } })
      expect(res.statusCode, url).toBe(404)
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/)
      expect(res.json().code, url).toBe('ERR_NOT_FOUND')
    }
  })

  it('answers a malformed percent-escape with a problem 400', async () => {
    const res = await app.inject({ method: 'GET', url: '/verify/keys/%', headers: { accept: 'text/html' } })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json().code).toBe('ERR_BAD_URL')
  })

  it('is alive and ready, and publishes its OpenAPI document', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({
      status: 'ok',
      service: 'frontend',
    })
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.json()).toEqual({ status: 'ready', service: 'frontend', checks: { 'identity-api': true } })
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).json()).toMatchObject({
      info: { title: 'frontend' },
    })
  })
})
