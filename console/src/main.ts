// The mesh console: the workload graph from the policies, live traffic from
// Istio's metrics over it, and for any edge or request the policy that
// decided. Polls the console API; builds DOM nodes, never HTML strings.
import './style.css'
import { api, type GraphNode, type MeshGraph, type Traffic } from './api.ts'
import { edgeDetails, nodeDetails, trafficTable } from './details.ts'
import { h } from './dom.ts'
import { type DrawnEdge, drawnEdges, graphView } from './graph.ts'
import { whyBox } from './why.ts'

const POLL_MS = 2_000

function legend(): HTMLElement {
  const item = (state: string, text: string) =>
    h('li', {}, h('span', { class: `swatch swatch-${state}`, 'aria-hidden': 'true' }), text)
  return h(
    'ul',
    { class: 'legend' },
    item('policy', 'allowed by an AuthorizationPolicy'),
    item('live', 'allowed traffic seen'),
    item('denied', 'denied: 403 RBAC'),
    item('dropped', 'dropped: the network refused the connection'),
    item('blocked', 'allowed at L7, blocked by a NetworkPolicy'),
    item('open', 'open to any caller (health checks)'),
  )
}

async function start(root: HTMLElement) {
  const graph: MeshGraph = await api.graph()
  let traffic: Traffic = { at: 0, edges: [], targets: [] }
  let selected: string | null = null

  const status = h('p', { class: 'scrape-status', role: 'status' }, 'Reading the metrics…')
  const graphSlot = h('div', { class: 'graph-slot' })
  const aside = h(
    'aside',
    { class: 'card side', 'aria-live': 'polite' },
    h('h2', {}, 'Pick an edge'),
    h(
      'p',
      { class: 'muted' },
      'Click an arrow to see the rule that admits the caller, the traffic on it, its access-log lines and traces; a denied call is explained with the policy text that decided.',
    ),
  )
  const why = whyBox(graph)
  const ask = (q: { from: string; to: string; method: string; path: string }) => {
    void why.ask(q)
    why.element.scrollIntoView({ behavior: 'smooth', block: 'start' })
  }

  let edges: DrawnEdge[] = drawnEdges(graph, [])
  const selectEdge = async (key: string) => {
    const edge = edges.find((e) => e.key === key)
    if (!edge) return
    selected = key
    draw()
    aside.replaceChildren(h('p', { class: 'muted' }, `Loading ${edge.from} → ${edge.to}…`))
    aside.replaceChildren(await edgeDetails(edge, ask))
  }
  const selectNode = async (node: GraphNode) => {
    selected = null
    draw()
    aside.replaceChildren(await nodeDetails(node))
  }
  const view = graphView(
    graph,
    (key) => void selectEdge(key),
    (n) => void selectNode(n),
  )
  graphSlot.append(view.element)
  function draw() {
    edges = drawnEdges(graph, traffic.edges)
    view.update(edges, selected)
    // Keep the open panel's numbers live without reloading its logs.
    const open = edges.find((e) => e.key === selected)
    const slot = aside.querySelector('.traffic-slot')
    if (open && slot) slot.replaceChildren(trafficTable(open.traffic))
  }

  async function poll() {
    try {
      traffic = await api.traffic()
      const up = traffic.targets.filter((t) => t.ok).length
      const total = traffic.edges.reduce((n, e) => n + e.requests, 0)
      status.textContent =
        traffic.targets.length === 0
          ? 'No proxy publishes metrics yet (state.json lists no statsUrl): the graph shows the policies only.'
          : `Metrics from ${up} of ${traffic.targets.length} proxies · ${total} requests seen · updated ${new Date(traffic.at).toLocaleTimeString()}`
      status.dataset.kind = up < traffic.targets.length ? 'warn' : 'ok'
    } catch (error) {
      status.textContent = `Cannot read the metrics: ${(error as Error).message}`
      status.dataset.kind = 'warn'
    }
    draw()
    setTimeout(poll, POLL_MS)
  }

  root.replaceChildren(
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'docs-mesh ', h('span', {}, 'console')),
      h(
        'p',
        { class: 'lede' },
        'Zero trust, seen: every arrow is a caller an AuthorizationPolicy allows. Nothing else gets through: the network drops what the NetworkPolicies do not allow, and each sidecar answers 403 to any request no rule names.',
      ),
      status,
    ),
    h(
      'main',
      {},
      h(
        'section',
        { class: 'card graph-card' },
        h('h2', {}, 'Who may call whom, and what happened'),
        graphSlot,
        legend(),
      ),
      h('div', { class: 'panels' }, aside, why.element),
    ),
    h(
      'footer',
      {},
      'Policies from the manifests the mesh runs; traffic from each proxy’s /stats/prometheus (Istio’s standard metrics); logs in Istio’s default access-log format.',
    ),
  )
  draw()
  void poll()
}

const root = document.getElementById('app')
if (root)
  start(root).catch((error: unknown) => {
    root.replaceChildren(
      h(
        'p',
        { class: 'error', role: 'alert' },
        `The console API did not answer: ${(error as Error).message}`,
      ),
    )
  })
