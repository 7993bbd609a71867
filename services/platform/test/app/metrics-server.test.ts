// The app's own Prometheus metrics on their own port (what a pod's
// prometheus.io/port names, and the mesh merges into /stats/prometheus):
// each answer counted by method, route template and status, and the process's.
import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { instrumentApp, type MetricsServer, startMetricsServer } from '../../src/app/metrics-server.ts'

let server: MetricsServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

describe('the app’s metrics endpoint', () => {
  it('counts answers by route template, not raw URL, and serves them at /metrics only', async () => {
    const app = Fastify()
    const registry = instrumentApp(app)
    app.get('/keys/:id', async () => ({ ok: true }))
    await app.ready()
    for (const id of ['a', 'b']) await app.inject({ method: 'GET', url: `/keys/${id}` })
    await app.inject({ method: 'GET', url: '/nowhere' })
    server = await startMetricsServer(registry, '127.0.0.1', 0)

    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain(
      'http_server_request_duration_seconds_count{method="GET",route="/keys/:id",status_code="200"} 2',
    )
    expect(text).toContain(
      'http_server_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1',
    )
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
    expect((await fetch(`http://127.0.0.1:${server.port}/keys/a`)).status).toBe(404)
    await app.close()
  })
})
