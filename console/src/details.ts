// The side panel: for a selected edge, the policy rules that admit the
// caller, the traffic seen, the newest denied call explained (policy text
// highlighted), its access-log lines and traces; for a node, its identity
// and its proxy's recent log lines.
import { type AccessLogEntry, api, type EdgeTraffic, type GraphNode, type TraceSummary } from './api.ts'
import { h } from './dom.ts'
import { type DrawnEdge, stateOf } from './graph.ts'
import { whyAnswerView } from './why.ts'

type Ask = (q: { from: string; to: string; method: string; path: string }) => void

const STATE_TEXT = {
  dropped: 'network drops seen',
  denied: 'RBAC denials seen',
  live: 'allowed traffic',
  blocked: 'blocked by a NetworkPolicy',
  policy: 'allowed by policy, no traffic yet',
  open: 'open to any caller',
}

export function trafficTable(t: EdgeTraffic | null): HTMLElement {
  if (!t || t.requests === 0)
    return h(
      'p',
      { class: 'muted traffic-none' },
      'No requests seen on this edge yet (Istio metrics, polled every 2 s).',
    )
  const row = (k: string, v: string, cls = '') => h('tr', { class: cls }, h('th', {}, k), h('td', {}, v))
  const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)} ms`)
  return h(
    'table',
    { class: 'traffic' },
    h(
      'tbody',
      {},
      row('requests', String(t.requests)),
      row('allowed (1xx–3xx)', String(t.ok), 'ok'),
      row('denied (403: RBAC, or the app)', String(t.denied), t.denied > 0 ? 'denied' : ''),
      row('dropped (connect failure, UF)', String(t.dropped), t.dropped > 0 ? 'dropped' : ''),
      row('other errors', String(t.errors)),
      row('rate', `${t.ratePerSecond.toFixed(2)} req/s (last 10 s)`),
      row('p50 / p99', `${ms(t.p50Ms)} / ${ms(t.p99Ms)}`),
      row(
        'response codes',
        Object.entries(t.responses)
          .map(([code, n]) => `${code === '0' ? 'no response' : code}×${n}`)
          .join(', '),
      ),
    ),
  )
}

function logList(entries: AccessLogEntry[], ask: Ask | null, from: string | null): HTMLElement {
  if (entries.length === 0) return h('p', { class: 'muted' }, 'No lines.')
  return h(
    'ul',
    { class: 'log-lines' },
    ...entries.map((e) =>
      h(
        'li',
        { class: e.rbac || e.responseFlags.includes('UF') ? 'denied-line' : '' },
        h('code', {}, e.line),
        ask && from
          ? h(
              'button',
              {
                type: 'button',
                class: 'link',
                onclick: () =>
                  ask({ from, to: e.workload, method: e.method, path: e.path.split('?')[0] ?? e.path }),
              },
              'why?',
            )
          : null,
      ),
    ),
  )
}

function traceList(traces: TraceSummary[]): HTMLElement {
  if (traces.length === 0)
    return h(
      'p',
      { class: 'muted' },
      'No traces kept (apps export them when OTEL_EXPORTER_OTLP_ENDPOINT points here).',
    )
  const detail = h('div', { class: 'trace-detail' })
  return h(
    'div',
    {},
    h(
      'ul',
      { class: 'traces' },
      ...traces.map((t) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'link',
              onclick: async () => {
                const { spans } = await api.trace(t.traceId)
                const start = Math.min(...spans.map((s) => s.startMs))
                const total = Math.max(1, ...spans.map((s) => s.startMs + s.durationMs - start))
                detail.replaceChildren(
                  ...spans.map((s) =>
                    h(
                      'div',
                      { class: `span${s.error ? ' error' : ''}` },
                      h(
                        'span',
                        { class: 'span-name' },
                        `${s.service}: ${s.name} (${s.durationMs.toFixed(1)} ms)`,
                      ),
                      h('span', {
                        class: 'span-bar',
                        style: `margin-left:${((s.startMs - start) / total) * 100}%;width:${Math.max(0.5, (s.durationMs / total) * 100)}%`,
                      }),
                    ),
                  ),
                )
              },
            },
            `${t.name}`,
          ),
          ` ${t.spans} spans, ${t.durationMs.toFixed(1)} ms${t.error ? ', error' : ''}`,
        ),
      ),
    ),
    detail,
  )
}

export async function edgeDetails(edge: DrawnEdge, ask: Ask): Promise<HTMLElement> {
  const state = stateOf(edge)
  const callerIsWorkload = edge.from !== 'any caller' && edge.from !== 'unknown'
  const [outbound, inbound, traces] = await Promise.all([
    callerIsWorkload ? api.logs({ workload: edge.from, authority: edge.to, limit: 50 }) : { entries: [] },
    api.logs({ workload: edge.to, limit: 200 }),
    api.traces(100),
  ])
  // Istio's default format does not name the caller on the callee's side: a
  // callee line belongs to this edge when its x-request-id is one the
  // caller's proxy logged for a request to this callee.
  const ids = new Set(outbound.entries.map((e) => e.requestId).filter(Boolean))
  const tied = inbound.entries.filter((e) => ids.has(e.requestId))
  const denial =
    state === 'dropped'
      ? outbound.entries.find((e) => e.responseFlags.split(',').includes('UF'))
      : tied.find((e) => e.rbac !== null)
  const explained =
    denial && (state === 'denied' || state === 'dropped')
      ? await api
          .why({
            from: edge.from,
            to: edge.to,
            method: denial.method,
            path: denial.path.split('?')[0] ?? denial.path,
          })
          .then(whyAnswerView)
          .catch(() => null)
      : null
  const untiedDenials = inbound.entries.filter((e) => e.rbac !== null && !ids.has(e.requestId)).slice(0, 5)
  return h(
    'div',
    { class: 'details', 'data-details-edge': edge.key },
    h('h2', {}, `${edge.from} → ${edge.to}`),
    h('p', {}, h('span', { class: `badge badge-${state}` }, STATE_TEXT[state])),
    h('h3', {}, 'What the policies allow'),
    edge.rules.length === 0
      ? h(
          'p',
          {},
          'No ALLOW rule names this caller: with allow-nothing in force, every request it makes is denied.',
        )
      : h(
          'ul',
          { class: 'rules' },
          ...edge.rules.map((r) =>
            h(
              'li',
              {},
              h('strong', {}, r.operations),
              ` — ${r.policy ?? 'no policy'}${r.rule === null ? '' : ` rule ${r.rule}`}`,
              r.network
                ? h(
                    'span',
                    { class: r.network.verdict === 'DROP' ? 'net-drop' : 'net-allow' },
                    r.network.verdict === 'DROP'
                      ? ` · network: DROP (${r.network.policy ?? 'no pod'}, ${r.network.direction})`
                      : ` · network: ALLOW${r.network.policy ? ` (${r.network.policy})` : ''}`,
                  )
                : null,
            ),
          ),
        ),
    h('h3', {}, 'Traffic'),
    h('div', { class: 'traffic-slot' }, trafficTable(edge.traffic)),
    explained
      ? h('h3', {}, `The newest ${state === 'dropped' ? 'dropped' : 'denied'} call, explained`)
      : null,
    explained,
    h('h3', {}, 'Access log'),
    callerIsWorkload ? h('h4', {}, `${edge.from}'s proxy: requests to ${edge.to}`) : null,
    callerIsWorkload ? logList(outbound.entries.slice(0, 10), ask, edge.from) : null,
    h('h4', {}, `${edge.to}'s sidecar: the same requests (joined by x-request-id)`),
    logList(tied.slice(0, 10), ask, edge.from),
    untiedDenials.length > 0
      ? h(
          'h4',
          {},
          `${edge.to}'s sidecar: other recent denials (their caller's proxy logged nothing, so the log cannot say who sent them; "why?" asks as ${edge.from})`,
        )
      : null,
    untiedDenials.length > 0 ? logList(untiedDenials, callerIsWorkload ? ask : null, edge.from) : null,
    h('h3', {}, 'Traces'),
    traceList(
      traces.traces.filter(
        (t) => t.services.includes(edge.to) && (!callerIsWorkload || t.services.includes(edge.from)),
      ),
    ),
  )
}

export async function nodeDetails(node: GraphNode): Promise<HTMLElement> {
  const logs = node.kind === 'caller' ? { entries: [] } : await api.logs({ workload: node.id, limit: 15 })
  return h(
    'div',
    { class: 'details', 'data-details-node': node.id },
    h('h2', {}, node.label),
    node.principal ? h('p', {}, 'Identity: ', h('code', {}, `spiffe://${node.principal}`)) : null,
    node.kind === 'caller' ? h('p', {}, 'A class of callers named by the policies, not one workload.') : null,
    h('h3', {}, 'Its proxy’s access log'),
    logList(logs.entries, null, null),
  )
}
