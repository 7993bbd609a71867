import { migrateGroup } from '@docs-mesh/platform'
import { createTestDatabase, startHealthStub } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

describe('bucket-api health', () => {
  it('is alive, is ready once its dependencies are, and publishes its OpenAPI document', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const identity = await startHealthStub()
    const signing = await startHealthStub()
    const app = await buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        IDENTITY_API_URL: identity.url,
        SIGNING_API_URL: signing.url,
      }),
      { logger: false },
    )

    const alive = await app.inject({ method: 'GET', url: '/health' })
    expect(alive.json()).toEqual({ status: 'ok', service: 'bucket-api' })
    const notYet = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(notYet.statusCode).toBe(503)
    expect(notYet.json().detail).toContain('migrations:identity')
    for (const group of ['audit', 'identity'] as const) await migrateGroup(app.database, group)
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json().checks).toEqual({
      database: true,
      'migrations:audit': true,
      'migrations:identity': true,
      'identity-api': true,
      'signing-api': true,
    })
    const openapi = await app.inject({ method: 'GET', url: '/buckets/openapi.json' })
    expect(openapi.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'bucket-api' } })

    await app.close()
    await identity.close()
    await signing.close()
    await database.drop()
  })

  it('is not ready while a service it calls is down', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const app = await buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        UPSTREAM_TIMEOUT_MS: '500',
        IDENTITY_API_URL: 'http://127.0.0.1:1',
        SIGNING_API_URL: 'http://127.0.0.1:1',
      }),
      { logger: false },
    )
    for (const group of ['audit', 'identity'] as const) await migrateGroup(app.database, group)
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(res.statusCode).toBe(503)
    expect(res.json().detail).toBe('not ready: identity-api, signing-api')
    await app.close()
    await database.drop()
  })
})
