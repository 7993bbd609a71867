// W3C Trace Context: keep the caller's trace id, or start a trace, and give
// each outbound call its own parent id so the hops line up in a tracer.
// https://www.w3.org/TR/trace-context/#traceparent-header
import { randomHex } from './random-ids.ts'

export interface TraceContext {
  traceId: string
  spanId: string
  flags: string
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function parseTraceparent(header: string | undefined): TraceContext | null {
  const match = header ? TRACEPARENT.exec(header.trim()) : null
  if (!match) return null
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string]
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null
  return { traceId, spanId, flags }
}

export function continueTrace(incoming: string | undefined): TraceContext {
  const parent = parseTraceparent(incoming)
  return {
    traceId: parent?.traceId ?? randomHex(16),
    spanId: randomHex(8),
    flags: parent?.flags ?? '01',
  }
}

/** The traceparent for a call made from within `context`: same trace, new parent id. */
export function childTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${randomHex(8)}-${context.flags}`
}
