// The proxies' side of tracing: a span per request per proxy, continuing the
// caller's W3C trace context, as Envoy's tracer does for every proxy a
// request crosses. The OpenTelemetry implementation is in otel-tracer.ts,
// loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
import type { IncomingMessage } from 'node:http'
import type { Decision } from '../authz/evaluate.ts'

export interface ProxySpan {
  /** The policies' decision, with the policy and rule that made it. */
  decision(decision: Decision): void
  /** The traceparent to send upstream (this span as the parent). */
  traceparent(): string
  end(responseCode: number, responseFlags: string, details: string): void
}

export interface ProxyTracer {
  start(req: IncomingMessage, direction: 'inbound' | 'outbound'): ProxySpan
  close(): Promise<void>
}
