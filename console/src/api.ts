// The console API's answers (mesh/src/console), as the page reads them.
export interface GraphNode {
  id: string
  label: string
  kind: 'workload' | 'gateway' | 'caller' | 'outside-workload'
  namespace: string | null
  principal: string | null
  column: number
}

export interface NetworkVerdict {
  verdict: 'ALLOW' | 'DROP'
  policy: string | null
  direction: 'egress' | 'ingress' | null
}

export interface GraphEdge {
  from: string
  to: string
  operations: string
  policy: string | null
  rule: number | null
  network: NetworkVerdict | null
}

export interface MeshGraph {
  nodes: GraphNode[]
  edges: GraphEdge[]
  sources: string[]
  destinations: Array<{ name: string; ports: number[] }>
}

export interface EdgeTraffic {
  source: string
  destination: string
  requests: number
  responses: Record<string, number>
  ok: number
  denied: number
  dropped: number
  errors: number
  p50Ms: number | null
  p99Ms: number | null
  tcpConnections: number
  ratePerSecond: number
}

export interface Traffic {
  at: number
  edges: EdgeTraffic[]
  targets: Array<{ workload: string; url: string; ok: boolean; error: string | null }>
}

export interface PolicyText {
  kind: string
  id: string
  yaml: string
  highlight: { from: number; to: number } | null
}

export interface WhyAnswer {
  request: { from: string; to: string; method: string; path: string; port: number; principal: string | null }
  outcome: 'allowed' | 'denied' | 'dropped'
  summary: string
  network: (NetworkVerdict & { text: PolicyText | null }) | null
  l7: {
    decision: 'ALLOW' | 'DENY'
    policy: string | null
    rule: number | null
    reason: string
    policies: PolicyText[]
  }
}

export interface AccessLogEntry {
  workload: string
  startTime: string
  method: string
  path: string
  responseCode: number
  responseFlags: string
  responseCodeDetails: string
  durationMs: number
  requestId: string
  authority: string
  upstreamCluster: string
  rbac: { policy: string | null; rule: number | null } | null
  line: string
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

export interface Span {
  traceId: string
  spanId: string
  parentSpanId: string | null
  name: string
  service: string
  startMs: number
  durationMs: number
  error: boolean
  attributes: Record<string, string | number | boolean>
}

export class ProblemError extends Error {
  constructor(
    readonly code: string,
    detail: string,
  ) {
    super(detail)
  }
}

async function get<T>(
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
): Promise<T> {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v))
  const qs = params.toString()
  const res = await fetch(qs ? `${path}?${qs}` : path, { headers: { accept: 'application/json' } })
  const body = (await res.json()) as T & { code?: string; detail?: string }
  if (!res.ok) throw new ProblemError(body.code ?? 'ERR_UNKNOWN', body.detail ?? res.statusText)
  return body
}

export const api = {
  graph: () => get<MeshGraph>('/api/graph'),
  traffic: () => get<Traffic>('/api/traffic'),
  why: (q: { from: string; to: string; method: string; path: string }) => get<WhyAnswer>('/api/why', q),
  logs: (q: { workload?: string; authority?: string; denied?: boolean; limit?: number }) =>
    get<{ entries: AccessLogEntry[] }>('/api/logs', q),
  traces: (limit = 50) => get<{ traces: TraceSummary[] }>('/api/traces', { limit }),
  trace: (traceId: string) => get<{ spans: Span[] }>(`/api/traces/${traceId}`),
}
