// The workload graph as SVG: nodes in columns by call depth from the
// gateway, one arrow per caller → callee pair the policies allow (or that
// traffic was seen on), coloured by what happened on it: allowed traffic,
// RBAC 403s, connections the network dropped, or blocked by a NetworkPolicy
// before any request could be made.
import type { EdgeTraffic, GraphEdge, GraphNode, MeshGraph, NetworkVerdict } from './api.ts'
import { s } from './dom.ts'

export interface DrawnEdge {
  key: string
  from: string
  to: string
  /** The ALLOW rules that admit this caller (empty: seen in traffic, no policy allows it). */
  rules: GraphEdge[]
  /** The network's verdict when every rule's is DROP: the policies allow it, the network never lets it connect. */
  blocked: NetworkVerdict | null
  traffic: EdgeTraffic | null
}

export type EdgeState = 'dropped' | 'denied' | 'live' | 'blocked' | 'policy' | 'open'

export const edgeKey = (from: string, to: string) => `${from}->${to}`

export function drawnEdges(graph: MeshGraph, traffic: EdgeTraffic[]): DrawnEdge[] {
  const edges = new Map<string, DrawnEdge>()
  for (const rule of graph.edges) {
    const key = edgeKey(rule.from, rule.to)
    const edge = edges.get(key) ?? {
      key,
      from: rule.from,
      to: rule.to,
      rules: [],
      blocked: null,
      traffic: null,
    }
    edge.rules.push(rule)
    edges.set(key, edge)
  }
  for (const edge of edges.values()) {
    const verdicts = edge.rules.map((r) => r.network)
    if (verdicts.length > 0 && verdicts.every((v) => v?.verdict === 'DROP'))
      edge.blocked = verdicts[0] ?? null
  }
  for (const t of traffic) {
    const key = edgeKey(t.source, t.destination)
    const edge = edges.get(key) ?? {
      key,
      from: t.source,
      to: t.destination,
      rules: [],
      blocked: null,
      traffic: null,
    }
    edge.traffic = t
    edges.set(key, edge)
  }
  return [...edges.values()]
}

export function stateOf(edge: DrawnEdge): EdgeState {
  const t = edge.traffic
  if (t && t.dropped > 0) return 'dropped'
  if (t && t.denied > 0) return 'denied'
  if (t && t.requests > 0) return 'live'
  if (edge.blocked) return 'blocked'
  return edge.from === 'any caller' ? 'open' : 'policy'
}

const NODE_W = 156
const NODE_H = 50
const COLUMN_GAP = 310
const ROW_GAP = 100
const MARGIN = 40

const fmt = (n: number) => (n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2))

/** The one-line summary an edge with traffic carries on the graph. */
export function trafficLabel(t: EdgeTraffic): string {
  const parts = [`${t.ok} ok`]
  if (t.denied > 0) parts.push(`${t.denied} denied`)
  if (t.dropped > 0) parts.push(`${t.dropped} dropped`)
  if (t.errors > 0) parts.push(`${t.errors} err`)
  return parts.join(' · ')
}

export function rateLabel(t: EdgeTraffic): string {
  const p99 = t.p99Ms === null ? '' : ` · p99 ${fmt(t.p99Ms)} ms`
  return `${fmt(t.ratePerSecond)}/s${p99}`
}

interface Layout {
  at: Map<string, { x: number; y: number }>
  nodes: GraphNode[]
  width: number
  height: number
}

function layout(graph: MeshGraph, edges: DrawnEdge[]): Layout {
  const nodes = [...graph.nodes]
  // Callers traffic names that the policies do not (a client without a sidecar reports as "unknown").
  for (const e of edges)
    for (const id of [e.from, e.to])
      if (!nodes.some((n) => n.id === id))
        nodes.push({ id, label: id, kind: 'caller', namespace: null, principal: null, column: 0 })
  const columns = new Map<number, GraphNode[]>()
  for (const n of nodes) columns.set(n.column, [...(columns.get(n.column) ?? []), n])
  const usedColumns = [...columns.keys()].sort((a, b) => a - b)
  const tallest = Math.max(...[...columns.values()].map((c) => c.length))
  const height = MARGIN * 2 + tallest * ROW_GAP
  const width = MARGIN * 2 + (usedColumns.length - 1) * COLUMN_GAP + NODE_W
  const at = new Map<string, { x: number; y: number }>()
  usedColumns.forEach((column, i) => {
    const list = (columns.get(column) ?? []).sort((a, b) => a.label.localeCompare(b.label))
    // A lone node deep in the graph sits off the middle, alternately above and below, so
    // the long edges into the last column pass beside it instead of through it.
    const offset = list.length === 1 && i >= 3 ? (i % 2 === 1 ? -0.8 : 0.8) * ROW_GAP : 0
    const top = (height - list.length * ROW_GAP) / 2 + ROW_GAP / 2 + offset
    list.forEach((n, row) => {
      at.set(n.id, { x: MARGIN + NODE_W / 2 + i * COLUMN_GAP, y: top + row * ROW_GAP })
    })
  })
  return { at, nodes, width, height }
}

type Point = { x: number; y: number }

/** A cubic Bézier from caller to callee: forwards between columns, or a loop below both nodes. */
function edgeCurve(a: Point, b: Point): [Point, Point, Point, Point] {
  const x1 = a.x + NODE_W / 2
  const x2 = b.x - NODE_W / 2
  if (x2 > x1) {
    const dx = Math.max(40, (x2 - x1) / 2)
    return [
      { x: x1, y: a.y },
      { x: x1 + dx, y: a.y },
      { x: x2 - dx, y: b.y },
      { x: x2, y: b.y },
    ]
  }
  const y = Math.max(a.y, b.y) + NODE_H + 40
  return [
    { x: a.x, y: a.y + NODE_H / 2 },
    { x: a.x, y },
    { x: b.x, y },
    { x: b.x, y: b.y + NODE_H / 2 },
  ]
}

const pathOf = (c: Point[]) =>
  `M ${c[0]?.x} ${c[0]?.y} C ${c[1]?.x} ${c[1]?.y}, ${c[2]?.x} ${c[2]?.y}, ${c[3]?.x} ${c[3]?.y}`

function pointAt(c: [Point, Point, Point, Point], t: number): Point {
  const u = 1 - t
  const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t]
  return {
    x: c.reduce((sum, p, i) => sum + p.x * (w[i] ?? 0), 0),
    y: c.reduce((sum, p, i) => sum + p.y * (w[i] ?? 0), 0),
  }
}

type Box = { x: number; y: number; w: number; h: number }
const overlaps = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h

/** Where along its curve a label sits: the first spot from the middle outwards that covers no node and no other label. */
const LABEL_SPOTS = [0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82]

function edgeTitle(edge: DrawnEdge): string {
  return [
    `${edge.from} → ${edge.to}`,
    ...edge.rules.map(
      (r) =>
        `may send ${r.operations} (${r.policy ?? 'no policy'}${r.rule === null ? '' : ` rule ${r.rule}`})`,
    ),
    edge.blocked ? `blocked at the network by ${edge.blocked.policy ?? 'no pod'}` : '',
    edge.rules.length === 0 ? 'no policy allows this caller' : '',
  ]
    .filter(Boolean)
    .join('\n')
}

export interface GraphView {
  element: SVGSVGElement
  /** New traffic and selection: updated in place (what a person hovers or clicks stays put); redrawn only when an edge appears. */
  update(edges: DrawnEdge[], selected: string | null): void
}

export function graphView(
  graph: MeshGraph,
  onSelect: (key: string) => void,
  onSelectNode: (node: GraphNode) => void,
): GraphView {
  const svg = s('svg', {
    class: 'graph',
    role: 'img',
    'aria-label': 'Workload graph: who may call whom, with live traffic',
  })
  let drawnKeys = ''
  let curves = new Map<string, [Point, Point, Point, Point]>()
  let nodeBoxes: Box[] = []

  function redraw(edges: DrawnEdge[]) {
    const { at, nodes, width, height } = layout(graph, edges)
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`)
    const defs = s('defs')
    for (const state of ['policy', 'open', 'live', 'denied', 'dropped', 'blocked', 'selected'])
      defs.append(
        s(
          'marker',
          {
            id: `arrow-${state}`,
            viewBox: '0 0 10 10',
            refX: 9,
            refY: 5,
            markerWidth: 11,
            markerHeight: 11,
            // The same size on thin and thick lines.
            markerUnits: 'userSpaceOnUse',
            orient: 'auto-start-reverse',
            class: `marker marker-${state}`,
          },
          s('path', { d: 'M 0 0 L 10 5 L 0 10 z' }),
        ),
      )
    const edgeLayer = s('g', { class: 'edges' })
    const markLayer = s('g', { class: 'edge-marks' })
    const labelLayer = s('g', { class: 'edge-labels' })
    curves = new Map()
    nodeBoxes = [...at.values()].map((p) => ({
      x: p.x - NODE_W / 2 - 6,
      y: p.y - NODE_H / 2 - 6,
      w: NODE_W + 12,
      h: NODE_H + 12,
    }))
    for (const edge of edges) {
      const a = at.get(edge.from)
      const b = at.get(edge.to)
      if (!a || !b) continue
      const curve = edgeCurve(a, b)
      const d = pathOf(curve)
      const mid = pointAt(curve, 0.5)
      curves.set(edge.key, curve)
      edgeLayer.append(
        s(
          'g',
          {
            class: 'edge',
            'data-edge': edge.key,
            tabindex: 0,
            role: 'button',
            onclick: () => onSelect(edge.key),
            onkeydown: (e: Event) => {
              if ((e as KeyboardEvent).key === 'Enter') onSelect(edge.key)
            },
          },
          s('title', {}, edgeTitle(edge)),
          s('path', { d, class: 'edge-hit' }),
          s('path', { d, class: 'edge-line' }),
        ),
      )
      if (edge.blocked)
        markLayer.append(
          s(
            'text',
            { x: mid.x, y: mid.y + 5, class: 'edge-x', 'data-edge-x': edge.key, 'aria-hidden': 'true' },
            '✕',
          ),
        )
      labelLayer.append(
        s(
          'g',
          { class: 'edge-label', 'data-edge-label': edge.key, onclick: () => onSelect(edge.key) },
          s('rect', { height: 34, rx: 8 }),
          s('text', { y: 14, class: 'counts' }),
          s('text', { y: 27, class: 'rate' }),
        ),
      )
    }
    const nodeLayer = s('g', { class: 'nodes' })
    for (const n of nodes) {
      const p = at.get(n.id)
      if (!p) continue
      nodeLayer.append(
        s(
          'g',
          {
            class: `node node-${n.kind}`,
            'data-node': n.id,
            transform: `translate(${p.x - NODE_W / 2} ${p.y - NODE_H / 2})`,
            onclick: () => onSelectNode(n),
          },
          s('title', {}, n.principal ? `${n.id}\nspiffe://${n.principal}` : n.id),
          s('rect', { width: NODE_W, height: NODE_H, rx: 12 }),
          s('text', { x: NODE_W / 2, y: n.namespace ? 22 : 30, class: 'node-name' }, n.label),
          n.namespace ? s('text', { x: NODE_W / 2, y: 38, class: 'node-ns' }, `ns ${n.namespace}`) : null,
        ),
      )
    }
    svg.replaceChildren(defs, edgeLayer, nodeLayer, markLayer, labelLayer)
  }

  function update(edges: DrawnEdge[], selected: string | null) {
    const keys = edges
      .map((e) => e.key)
      .sort()
      .join('\n')
    if (keys !== drawnKeys) {
      redraw(edges)
      drawnKeys = keys
    }
    const placed: Box[] = []
    for (const edge of [...edges].sort((x, y) => x.key.localeCompare(y.key))) {
      const state = stateOf(edge)
      const isSelected = edge.key === selected
      const group = svg.querySelector(`[data-edge="${CSS.escape(edge.key)}"]`)
      if (!group) continue
      group.setAttribute('class', `edge edge-${state}${isSelected ? ' selected' : ''}`)
      group.setAttribute('data-state', state)
      group.setAttribute('aria-label', `${edge.from} to ${edge.to}: ${state}`)
      group
        .querySelector('.edge-line')
        ?.setAttribute('marker-end', `url(#arrow-${isSelected ? 'selected' : state})`)
      svg
        .querySelector(`[data-edge-x="${CSS.escape(edge.key)}"]`)
        ?.setAttribute('visibility', edge.traffic ? 'hidden' : 'visible')
      const label = svg.querySelector(`[data-edge-label="${CSS.escape(edge.key)}"]`)
      const curve = curves.get(edge.key)
      if (!label || !curve) continue
      const t = edge.traffic
      if (!t || t.requests === 0) {
        label.setAttribute('visibility', 'hidden')
        continue
      }
      const line1 = trafficLabel(t)
      const line2 = rateLabel(t)
      const w = Math.max(line1.length, line2.length) * 6.4 + 16
      const boxAt = (t: number): Box => {
        const p = pointAt(curve, t)
        return { x: p.x - w / 2, y: p.y - 17, w, h: 34 }
      }
      // Fewest collisions wins; covering a node costs more than touching another label.
      const cost = (b: Box) =>
        nodeBoxes.filter((o) => overlaps(b, o)).length * 3 + placed.filter((o) => overlaps(b, o)).length
      const box = LABEL_SPOTS.map(boxAt).reduce((best, b) => (cost(b) < cost(best) ? b : best))
      placed.push(box)
      label.setAttribute('visibility', 'visible')
      label.setAttribute('class', `edge-label edge-label-${state}`)
      label.setAttribute('transform', `translate(${box.x} ${box.y})`)
      label.querySelector('rect')?.setAttribute('width', String(w))
      const [counts, rate] = [...label.querySelectorAll('text')]
      for (const [el, text] of [
        [counts, line1],
        [rate, line2],
      ] as const) {
        if (!el) continue
        el.setAttribute('x', String(w / 2))
        if (el.textContent !== text) el.textContent = text
      }
    }
  }

  return { element: svg, update }
}
