// The app's spans: one SERVER span per request, child of the sidecar's span
// the traceparent names, exported over OTLP/HTTP; the request's trace context
// moves onto it, so the app's own calls continue the same trace.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { traceApp } from '../../src/app/otel-tracing.ts'
import { requestContextPlugin } from '../../src/app/request-context.ts'
import { childTraceparent } from '../../src/tracing/trace-context.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SIDECAR_SPAN = '00f067aa0ba902b7'

describe('app spans', () => {
  it('continues the sidecar’s span and hands the trace to the app’s own calls', async () => {
    const received: Array<{
      traceId: string
      spanId: string
      parentSpanId?: string
      name: string
      kind: number
    }> = []
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: typeof received }> }>
        }
        for (const r of body.resourceSpans) for (const s of r.scopeSpans) received.push(...s.spans)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    collector.listen(0, '127.0.0.1')
    await once(collector, 'listening')

    const app = Fastify()
    await app.register(requestContextPlugin)
    const tracing = traceApp(app, {
      endpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      serviceName: 'signing-api',
    })
    app.get('/keys/:id', async (request) => ({ outbound: childTraceparent(request.trace) }))
    const res = await app.inject({
      method: 'GET',
      url: '/keys/k1',
      headers: { traceparent: `00-${TRACE}-${SIDECAR_SPAN}-01` },
    })
    await tracing.close()
    await app.close()
    collector.closeAllConnections()
    collector.close()

    expect(received).toHaveLength(1)
    const span = received[0]
    expect(span).toMatchObject({ traceId: TRACE, parentSpanId: SIDECAR_SPAN, name: 'GET /keys/:id', kind: 2 })
    expect((res.json() as { outbound: string }).outbound).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`))
  })
})
