import { migrateGroup } from '@docs-mesh/platform'
import { createTestDatabase, startHealthStub } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

describe('identity-api health', () => {
  it('is alive, is ready once its dependencies are, and publishes its OpenAPI document', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const signing = await startHealthStub()
    const app = await buildApp(
      loadServiceConfig({ DATABASE_URL: database.url, SIGNING_API_URL: signing.url }),
      { logger: false },
    )

    const alive = await app.inject({ method: 'GET', url: '/health' })
    expect(alive.json()).toEqual({ status: 'ok', service: 'identity-api' })
    const notYet = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(notYet.statusCode).toBe(503)
    expect(notYet.json().detail).toContain('migrations:audit')
    for (const group of ['audit'] as const) await migrateGroup(app.database, group)
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json().checks).toEqual({
      database: true,
      'migrations:identity': true,
      'migrations:audit': true,
      'signing-api': true,
    })
    const openapi = await app.inject({ method: 'GET', url: '/auth/openapi.json' })
    expect(openapi.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'identity-api' } })

    await app.close()
    await signing.close()
    await database.drop()
  })

  it('is not ready while a service it calls is down', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const app = await buildApp(
      loadServiceConfig({
        DATABASE_URL: database.url,
        UPSTREAM_TIMEOUT_MS: '500',
        SIGNING_API_URL: 'http://127.0.0.1:1',
      }),
      { logger: false },
    )
    for (const group of ['audit'] as const) await migrateGroup(app.database, group)
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(res.statusCode).toBe(503)
    expect(res.json().detail).toBe('not ready: signing-api')
    await app.close()
    await database.drop()
  })
})
