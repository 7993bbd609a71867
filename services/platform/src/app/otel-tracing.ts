// The app's spans, with the OpenTelemetry SDK over OTLP/HTTP, when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (loaded only then): one SERVER span per
// request, child of the traceparent the sidecar in front of the app sent
// (the sidecar's own span), and the request's trace context moved onto it,
// so the calls the app makes (upstream-client.ts) continue the same trace.
import { setTimeout as delay } from 'node:timers/promises'
import { defaultTextMapGetter, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import type { FastifyInstance } from 'fastify'

/** How long closing waits for the last spans to reach the collector. */
const CLOSE_FLUSH_MS = 1_000

export interface AppTracing {
  close(): Promise<void>
}

export function traceApp(
  app: FastifyInstance,
  options: { endpoint: string; serviceName: string },
): AppTracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/$/, '')}/v1/traces` }),
      }),
    ],
  })
  const tracer = provider.getTracer('docs-mesh-app')
  const propagator = new W3CTraceContextPropagator()
  const spans = new WeakMap<object, Span>()
  app.addHook('onRequest', async (request) => {
    const parent = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter)
    const span = tracer.startSpan(
      `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'url.path': request.url.split('?')[0] ?? '' },
      },
      parent,
    )
    spans.set(request, span)
    const c = span.spanContext()
    request.trace = { traceId: c.traceId, spanId: c.spanId, flags: `0${(c.traceFlags & 1).toString(16)}` }
  })
  app.addHook('onResponse', async (request, reply) => {
    const span = spans.get(request)
    if (!span) return
    span.setAttribute('http.response.status_code', reply.statusCode)
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  })
  // A collector that is gone costs the last spans, never the app's clean exit:
  // the exporter retries a refused connection for up to its 10 s timeout, and
  // under pnpm dev the collector (the console, in the supervisor's process) is
  // gone whenever the supervisor is, so an app outlived a SIGKILLed supervisor
  // by that long. The flush gets a second; the process exits after close.
  return {
    close: () =>
      Promise.race([
        provider.shutdown().catch(() => undefined),
        delay(CLOSE_FLUSH_MS, undefined, { ref: false }),
      ]),
  }
}
