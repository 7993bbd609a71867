// A workload's proxy spans with the OpenTelemetry SDK, exported over OTLP/HTTP
// (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT: one span per request per proxy, as
// Envoy's tracer makes them in Istio: the caller's trace continued from the
// W3C traceparent (a new trace at the edge), kind CLIENT on the outbound side
// and SERVER on the inbound, named after the destination as Istio's route
// decorator names it (`<service host>:<port>/*`, pilot/pkg/networking/core/route/route.go),
// tagged like Istio's (istio.canonical_service, istio.namespace, response_flags, ...;
// istio/istio pilot/pkg/networking/core/tracing.go)
// and, on a policy decision, the policy and rule that made it. Loaded only
// when an endpoint is configured, so tracing costs nothing otherwise.
import type { IncomingMessage } from 'node:http'
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import type { Decision } from '../authz/evaluate.ts'
import type { Peer } from './peer-labels.ts'
import type { ProxySpan, ProxyTracer } from './tracing.ts'

const propagator = new W3CTraceContextPropagator()

export function otelProxyTracer(options: { endpoint: string; self: Peer }): ProxyTracer {
  const { self } = options
  const provider = new TracerProvider({
    // Istio names a proxy's service `<canonical service>.<namespace>` in its traces.
    resource: resourceFromAttributes({ 'service.name': `${self.canonicalService}.${self.namespace}` }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/$/, '')}/v1/traces` }),
      }),
    ],
  })
  const tracer = provider.getTracer('docs-mesh-proxy')
  return {
    start(req: IncomingMessage, direction: 'inbound' | 'outbound'): ProxySpan {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter)
      const host = String(req.headers.host ?? '')
      const span = tracer.startSpan(
        `${host.includes(':') ? host : `${host}:80`}/*`,
        {
          kind: direction === 'inbound' ? SpanKind.SERVER : SpanKind.CLIENT,
          attributes: {
            component: 'proxy',
            'http.method': req.method ?? '',
            'http.url': req.url ?? '',
            'http.protocol': `HTTP/${req.httpVersion}`,
            'guid:x-request-id': String(req.headers['x-request-id'] ?? ''),
            'istio.canonical_service': self.canonicalService,
            'istio.canonical_revision': self.canonicalRevision,
            'istio.namespace': self.namespace,
            'peer.address': req.socket.remoteAddress ?? '',
          },
        },
        parent,
      )
      return {
        decision(decision: Decision) {
          span.setAttributes({
            'istio.authorization.decision': decision.decision,
            'istio.authorization.policy': decision.policy ?? 'none',
            ...(decision.rule === null ? {} : { 'istio.authorization.rule': decision.rule }),
            'istio.authorization.reason': decision.reason,
          })
        },
        traceparent() {
          const c = span.spanContext()
          return `00-${c.traceId}-${c.spanId}-0${(c.traceFlags & 1).toString(16)}`
        },
        end(responseCode, responseFlags, details) {
          span.setAttributes({
            'http.status_code': responseCode,
            response_flags: responseFlags,
            'response.code_details': details,
          })
          // Envoy marks a span an error for a 5xx or no answer (source/common/tracing/http_tracer_impl.cc).
          if (responseCode === 0 || responseCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
          span.end()
        },
      }
    },
    // A collector that is gone (stopped first, or never up) costs the last
    // spans, never the proxy: Envoy's tracer drops spans it cannot send.
    close: () => provider.shutdown().catch(() => undefined),
  }
}
