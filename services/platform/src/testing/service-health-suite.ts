// The health checks every service must pass, as one suite each service's
// tests run with its own app: alive, ready only once the tables it reads and
// the services it calls are there, and its OpenAPI document published.
import { describe, expect, it } from 'vitest'
import type { ServiceApp } from '../app/create-app.ts'
import type { ServiceDefinition } from '../app/service-definition.ts'
import { migrateGroup } from '../db/migrate.ts'
import { startHealthStub } from './health-stub.ts'
import { createTestDatabase } from './test-databases.ts'

export interface ServiceHealthSuiteOptions {
  service: ServiceDefinition
  /** Builds the app from an environment, as its server would. */
  build(env: Record<string, string>): Promise<ServiceApp>
  /** The services it calls: name → the setting holding its URL. */
  upstreams?: Record<string, string>
}

export function serviceHealthSuite({ service, build, upstreams = {} }: ServiceHealthSuiteOptions): void {
  const expectedChecks = {
    ...(service.database ? { database: true } : {}),
    ...Object.fromEntries([...service.owns, ...service.reads].map((g) => [`migrations:${g}`, true])),
    ...Object.fromEntries(Object.keys(upstreams).map((name) => [name, true])),
  }

  describe(`${service.name} health`, () => {
    it('is alive, is ready once its dependencies are, and publishes its OpenAPI document', async () => {
      const database = await createTestDatabase('sqlite', process.env)
      const stubs = await Promise.all(Object.keys(upstreams).map(() => startHealthStub()))
      const env: Record<string, string> = { DATABASE_URL: database.url }
      Object.values(upstreams).forEach((setting, i) => {
        env[setting] = stubs[i]?.url as string
      })
      const app = await build(env)
      try {
        expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({
          status: 'ok',
          service: service.name,
        })
        if (service.reads.length > 0) {
          const notYet = await app.inject({ method: 'GET', url: '/health/ready' })
          expect(notYet.statusCode).toBe(503)
          expect(notYet.json().code).toBe('ERR_NOT_READY')
          for (const group of service.reads) await migrateGroup(app.database, group)
        }
        const ready = await app.inject({ method: 'GET', url: '/health/ready' })
        expect(ready.statusCode).toBe(200)
        expect(ready.json().checks).toEqual(expectedChecks)
        const openapi = await app.inject({ method: 'GET', url: `${service.routePrefix}/openapi.json` })
        expect(openapi.json()).toMatchObject({ openapi: '3.1.0', info: { title: service.name } })
      } finally {
        await app.close()
        await Promise.all(stubs.map((s) => s.close()))
        await database.drop()
      }
    })

    if (Object.keys(upstreams).length === 0) return
    it('is not ready while a service it calls is down, and names it', async () => {
      const database = await createTestDatabase('sqlite', process.env)
      const env: Record<string, string> = { DATABASE_URL: database.url, UPSTREAM_TIMEOUT_MS: '500' }
      for (const setting of Object.values(upstreams)) env[setting] = 'http://127.0.0.1:1'
      const app = await build(env)
      try {
        if (service.database) for (const group of service.reads) await migrateGroup(app.database, group)
        const res = await app.inject({ method: 'GET', url: '/health/ready' })
        expect(res.statusCode).toBe(503)
        expect(res.json().detail).toBe(`not ready: ${Object.keys(upstreams).join(', ')}`)
      } finally {
        await app.close()
        await database.drop()
      }
    })
  })
}
