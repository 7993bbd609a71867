// A dependency that accepts the call and never answers must not hold the
// service's request: the outbound client gives up after UPSTREAM_TIMEOUT_MS
// and the caller gets a 503 problem, with the call made once (never retried).
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createServiceApp, type ServiceApp } from '../../src/app/create-app.ts'
import { loadConfig } from '../../src/config/load-config.ts'
import { createTestDatabase, type TestDatabase, testDatabaseKinds } from '../../src/testing/test-databases.ts'

const service = {
  name: 'bucket-api',
  serviceAccount: 'bucket-sa',
  routePrefix: '/buckets',
  database: true,
  owns: ['audit'],
  reads: [],
} as const

describe.each(testDatabaseKinds(process.env))('a hung dependency on %s', (kind) => {
  let database: TestDatabase
  let hung: Server
  let received: IncomingMessage[]
  let app: ServiceApp

  beforeEach(async () => {
    received = []
    hung = createServer((req) => {
      received.push(req)
      req.resume()
    })
    hung.listen(0, '127.0.0.1')
    await once(hung, 'listening')
    database = await createTestDatabase(kind, process.env)
    const config = loadConfig({ DATABASE_URL: database.url, UPSTREAM_TIMEOUT_MS: '300' }, { defaultPort: 0 })
    app = await createServiceApp({ service, config, logger: false })
    const target = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/sign`
    app.post('/buckets/relay', async (request) =>
      app.upstream.call({
        method: 'POST',
        url: target,
        body: {},
        context: { requestId: request.id, trace: request.trace },
      }),
    )
  })
  afterEach(async () => {
    await app.close()
    hung.closeAllConnections()
    hung.close()
    await database.drop()
  })

  it('turns into a 503 problem once the upstream timeout passes, the call made once', async () => {
    // The test's own timeout (30 s) is far above the bound; undici's default would wait 5 minutes.
    const res = await app.inject({ method: 'POST', url: '/buckets/relay' })
    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toMatch(/problem\+json/)
    expect(res.json()).toMatchObject({ status: 503, code: 'ERR_UPSTREAM_UNAVAILABLE' })
    expect(received).toHaveLength(1)
  })
})
