import { migrateGroup } from '@docs-mesh/platform'
import { createTestDatabase } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.ts'
import { loadServiceConfig } from '../src/config.ts'

describe('admin-api health', () => {
  it('is alive, is ready once its dependencies are, and publishes its OpenAPI document', async () => {
    const database = await createTestDatabase('sqlite', process.env)
    const app = await buildApp(loadServiceConfig({ DATABASE_URL: database.url }), { logger: false })

    const alive = await app.inject({ method: 'GET', url: '/health' })
    expect(alive.json()).toEqual({ status: 'ok', service: 'admin-api' })
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
    })
    const openapi = await app.inject({ method: 'GET', url: '/admin/openapi.json' })
    expect(openapi.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'admin-api' } })

    await app.close()
    await database.drop()
  })
})
