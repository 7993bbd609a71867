// Traffic per edge (source workload → destination workload) from Istio's
// standard metrics as every proxy exposes them
// (https://istio.io/latest/docs/reference/config/metrics/): request counts
// by outcome from `istio_requests_total`, latency quantiles from
// `istio_request_duration_milliseconds` and TCP connections from
// `istio_tcp_connections_opened_total`. Both ends of a hop report the same
// request (reporter="source" on the caller's proxy, "destination" on the
// callee's), so each count is taken once: per edge, code and flags, the
// larger of the two reporters' counts. A request only one end saw (a
// connection the network dropped never reaches the callee; a caller without
// a sidecar never reports) is counted from the end that saw it.
import type { Sample } from './prometheus-text.ts'

export interface EdgeTraffic {
  source: string
  destination: string
  requests: number
  /** Response code → requests (code "0": no response, as Envoy reports a reset). */
  responses: Record<string, number>
  /** 1xx-3xx. */
  ok: number
  /** 403s: Envoy's RBAC filter answers a denied request with 403 (its access log names the policy). */
  denied: number
  /** Requests whose upstream connection failed (response flag UF): what a NetworkPolicy drop looks like to the caller. */
  dropped: number
  /** Any other 4xx or 5xx. */
  errors: number
  p50Ms: number | null
  p99Ms: number | null
  tcpConnections: number
  /** Requests per second over the console's recent window; 0 until two scrapes exist. */
  ratePerSecond: number
}

const key = (source: string, destination: string) => `${source}\u0000${destination}`

/** Envoy's flags are comma-joined (e.g. `UF,URX`); UF is "upstream connection failure". */
export const isConnectFailure = (flags: string) => flags.split(',').includes('UF')

interface Bucket {
  le: number
  count: number
}

/**
 * Prometheus' histogram_quantile over cumulative buckets: linear
 * interpolation inside the bucket the rank falls in; a rank in the +Inf
 * bucket answers the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le)
  const total = sorted.at(-1)?.count ?? 0
  if (total === 0) return null
  const rank = q * total
  let previous: Bucket = { le: 0, count: 0 }
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return previous.le
      const inBucket = bucket.count - previous.count
      if (inBucket === 0) return bucket.le
      return previous.le + ((bucket.le - previous.le) * (rank - previous.count)) / inBucket
    }
    previous = bucket
  }
  return previous.le
}

function emptyEdge(source: string, destination: string): EdgeTraffic {
  return {
    source,
    destination,
    requests: 0,
    responses: {},
    ok: 0,
    denied: 0,
    dropped: 0,
    errors: 0,
    p50Ms: null,
    p99Ms: null,
    tcpConnections: 0,
    ratePerSecond: 0,
  }
}

export function aggregateIstioTraffic(samples: Sample[]): EdgeTraffic[] {
  // (edge, code, flags) → reporter → count
  const counts = new Map<
    string,
    { source: string; destination: string; code: string; flags: string; by: Map<string, number> }
  >()
  // edge → reporter → le → count
  const buckets = new Map<string, Map<string, Map<number, number>>>()
  const tcp = new Map<string, Map<string, number>>()
  const edges = new Map<string, EdgeTraffic>()
  const edgeOf = (l: Record<string, string>) => {
    const source = l.source_workload || 'unknown'
    const destination = l.destination_workload || 'unknown'
    const k = key(source, destination)
    if (!edges.has(k)) edges.set(k, emptyEdge(source, destination))
    return k
  }
  const add = <K>(map: Map<K, number>, k: K, v: number) => map.set(k, (map.get(k) ?? 0) + v)
  const inner = <K, V>(map: Map<K, Map<string, V>>, k: K): Map<string, V> => {
    let found = map.get(k)
    if (!found) {
      found = new Map()
      map.set(k, found)
    }
    return found
  }

  for (const { name, labels, value } of samples) {
    if (!Number.isFinite(value)) continue
    const reporter = labels.reporter ?? 'destination'
    if (name === 'istio_requests_total') {
      const edge = edgeOf(labels)
      const code = labels.response_code ?? '0'
      // UF at the destination is its sidecar failing to reach its own app (an app not up yet):
      // the caller's proxy logged that same request as a 503 with no flag, so it is one request
      // and an error, never a network drop (a dropped connection never reaches the destination).
      const reported = labels.response_flags ?? '-'
      const flags = reporter === 'destination' && isConnectFailure(reported) ? '-' : reported
      const k = `${edge}\u0000${code}\u0000${flags}`
      let entry = counts.get(k)
      if (!entry) {
        const e = edges.get(edge) as EdgeTraffic
        entry = { source: e.source, destination: e.destination, code, flags, by: new Map() }
        counts.set(k, entry)
      }
      add(entry.by, reporter, value)
    } else if (name === 'istio_request_duration_milliseconds_bucket') {
      const edge = edgeOf(labels)
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le)
      if (Number.isNaN(le)) continue
      const byReporter = inner(buckets, edge)
      let byLe = byReporter.get(reporter)
      if (!byLe) {
        byLe = new Map()
        byReporter.set(reporter, byLe)
      }
      add(byLe, le, value)
    } else if (name === 'istio_tcp_connections_opened_total') {
      const edge = edgeOf(labels)
      add(inner(tcp, edge), reporter, value)
    }
  }

  for (const entry of counts.values()) {
    const edge = edges.get(key(entry.source, entry.destination)) as EdgeTraffic
    const n = Math.max(...entry.by.values())
    edge.requests += n
    edge.responses[entry.code] = (edge.responses[entry.code] ?? 0) + n
    const code = Number(entry.code)
    if (isConnectFailure(entry.flags)) edge.dropped += n
    else if (code === 403) edge.denied += n
    else if (code > 0 && code < 400) edge.ok += n
    else edge.errors += n
  }
  for (const [k, byReporter] of buckets) {
    const edge = edges.get(k) as EdgeTraffic
    // The callee's view is the request's own latency; the caller's includes the hop (and any drop's timeouts).
    const chosen = byReporter.get('destination') ?? byReporter.get('source')
    if (!chosen) continue
    const list = [...chosen].map(([le, count]) => ({ le, count }))
    edge.p50Ms = histogramQuantile(0.5, list)
    edge.p99Ms = histogramQuantile(0.99, list)
  }
  for (const [k, byReporter] of tcp) {
    const edge = edges.get(k) as EdgeTraffic
    edge.tcpConnections = Math.max(...byReporter.values())
  }
  return [...edges.values()].sort(
    (a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination),
  )
}

/**
 * Request rates from successive scrapes: each edge's count now against its
 * count at the oldest scrape kept within the window (counters only grow; a
 * proxy restart resets them, and a negative difference counts as zero).
 */
export class TrafficWindow {
  private readonly snapshots: Array<{ at: number; totals: Map<string, number> }> = []

  private readonly windowMs: number

  constructor(windowMs: number) {
    this.windowMs = windowMs
  }

  record(at: number, edges: EdgeTraffic[]): EdgeTraffic[] {
    const totals = new Map(edges.map((e) => [key(e.source, e.destination), e.requests]))
    while (this.snapshots.length > 1 && at - (this.snapshots[1]?.at ?? at) >= this.windowMs)
      this.snapshots.shift()
    const base = this.snapshots[0]
    this.snapshots.push({ at, totals })
    if (!base || at <= base.at) return edges
    const seconds = (at - base.at) / 1000
    return edges.map((e) => {
      const before = base.totals.get(key(e.source, e.destination)) ?? 0
      return { ...e, ratePerSecond: Math.max(0, e.requests - before) / seconds }
    })
  }
}
