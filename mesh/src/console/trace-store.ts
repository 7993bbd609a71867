// Recent spans in memory, as an OTLP/HTTP receiver with JSON encoding takes
// them (https://opentelemetry.io/docs/specs/otlp/#otlphttp-request): the
// apps and proxies export to `<console>/v1/traces` when `pnpm dev` points
// OTEL_EXPORTER_OTLP_ENDPOINT here. A bounded ring: the oldest spans go first.
import { ConsoleProblem } from './console-problem.ts'

export interface StoredSpan {
  traceId: string
  spanId: string
  parentSpanId: string | null
  name: string
  service: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number
  startMs: number
  durationMs: number
  /** OTLP status code 2 is ERROR. */
  error: boolean
  statusMessage: string
  attributes: Record<string, string | number | boolean>
}

export interface TraceSummary {
  traceId: string
  name: string
  services: string[]
  startMs: number
  durationMs: number
  spans: number
  error: boolean
}

type AnyValue = {
  stringValue?: string
  intValue?: string | number
  doubleValue?: number
  boolValue?: boolean
}
type KeyValue = { key?: unknown; value?: AnyValue }

const HEX_TRACE = /^[0-9a-f]{32}$/
const HEX_SPAN = /^[0-9a-f]{16}$/

function attributesOf(list: unknown): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  if (!Array.isArray(list)) return out
  for (const kv of list as KeyValue[]) {
    if (typeof kv?.key !== 'string' || !kv.value) continue
    const v = kv.value
    if (typeof v.stringValue === 'string') out[kv.key] = v.stringValue
    else if (v.intValue !== undefined) out[kv.key] = Number(v.intValue)
    else if (typeof v.doubleValue === 'number') out[kv.key] = v.doubleValue
    else if (typeof v.boolValue === 'boolean') out[kv.key] = v.boolValue
  }
  return out
}

/** OTLP/JSON encodes 64-bit nanosecond times as strings (or numbers): milliseconds, to the microsecond. */
const nanosToMs = (value: unknown): number => {
  if (typeof value !== 'string' && typeof value !== 'number') return Number.NaN
  try {
    return Number(BigInt(value) / 1000n) / 1000
  } catch {
    return Number.NaN
  }
}

const bad = (detail: string): never => {
  throw new ConsoleProblem(400, 'ERR_BAD_OTLP', detail)
}

export class TraceStore {
  private spans: StoredSpan[] = []

  private readonly capacity: number

  constructor(capacity = 10_000) {
    this.capacity = capacity
  }

  /** Takes an ExportTraceServiceRequest in OTLP's JSON encoding; a malformed span refuses the whole request. */
  ingest(body: unknown): number {
    const resourceSpans = (body as { resourceSpans?: unknown })?.resourceSpans
    if (!Array.isArray(resourceSpans)) bad('expected { resourceSpans: [...] }')
    const taken: StoredSpan[] = []
    for (const rs of resourceSpans as Array<Record<string, unknown>>) {
      const resource = attributesOf((rs?.resource as { attributes?: unknown } | undefined)?.attributes)
      const service = String(resource['service.name'] ?? 'unknown_service')
      const scopeSpans = rs?.scopeSpans ?? []
      if (!Array.isArray(scopeSpans)) bad('scopeSpans must be a list')
      for (const ss of scopeSpans as Array<Record<string, unknown>>) {
        const spans = ss?.spans ?? []
        if (!Array.isArray(spans)) bad('spans must be a list')
        for (const s of spans as Array<Record<string, unknown>>) {
          const traceId = String(s?.traceId ?? '').toLowerCase()
          const spanId = String(s?.spanId ?? '').toLowerCase()
          if (!HEX_TRACE.test(traceId)) bad('traceId must be 32 hex digits')
          if (!HEX_SPAN.test(spanId)) bad('spanId must be 16 hex digits')
          const parent = String(s.parentSpanId ?? '').toLowerCase()
          const startMs = nanosToMs(s.startTimeUnixNano)
          const endMs = nanosToMs(s.endTimeUnixNano)
          if (Number.isNaN(startMs) || Number.isNaN(endMs))
            bad('startTimeUnixNano and endTimeUnixNano are required')
          const status = (s.status ?? {}) as { code?: unknown; message?: unknown }
          taken.push({
            traceId,
            spanId,
            parentSpanId: HEX_SPAN.test(parent) && parent !== '0000000000000000' ? parent : null,
            name: typeof s.name === 'string' ? s.name : '',
            service,
            kind: typeof s.kind === 'number' ? s.kind : 0,
            startMs,
            durationMs: Math.max(0, endMs - startMs),
            error: status.code === 2 || status.code === 'STATUS_CODE_ERROR',
            statusMessage: typeof status.message === 'string' ? status.message : '',
            attributes: attributesOf(s.attributes),
          })
        }
      }
    }
    this.spans.push(...taken)
    if (this.spans.length > this.capacity) this.spans = this.spans.slice(-this.capacity)
    return taken.length
  }

  trace(traceId: string): StoredSpan[] {
    return this.spans.filter((s) => s.traceId === traceId).sort((a, b) => a.startMs - b.startMs)
  }

  /** The newest traces first, each named by its root span (the earliest span without a parent here). */
  recent(limit: number): TraceSummary[] {
    const byTrace = new Map<string, StoredSpan[]>()
    for (const s of this.spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s])
    const summaries = [...byTrace].map(([traceId, spans]): TraceSummary => {
      const ids = new Set(spans.map((s) => s.spanId))
      const sorted = [...spans].sort((a, b) => a.startMs - b.startMs)
      const root = sorted.find((s) => s.parentSpanId === null || !ids.has(s.parentSpanId)) ?? sorted[0]
      const startMs = sorted[0]?.startMs ?? 0
      const endMs = Math.max(...spans.map((s) => s.startMs + s.durationMs))
      return {
        traceId,
        name: root ? `${root.service}: ${root.name}` : traceId,
        services: [...new Set(spans.map((s) => s.service))],
        startMs,
        durationMs: endMs - startMs,
        spans: spans.length,
        error: spans.some((s) => s.error),
      }
    })
    return summaries.sort((a, b) => b.startMs - a.startMs).slice(0, limit)
  }
}
