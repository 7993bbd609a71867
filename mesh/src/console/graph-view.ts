// The workload graph the console draws: who may call whom, read off the
// AuthorizationPolicies by who-can-call.ts (one edge per ALLOW rule and
// caller), with the network layer's verdict on each edge, and the nodes laid
// out in columns by call depth from the ingress gateway.
import { type Edge, whoCanCall } from '../graph/who-can-call.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'
import { GATEWAY_POD } from '../network/mesh-network.ts'

export interface GraphNode {
  /** The name Istio's metrics use for it (`source_workload`/`destination_workload`), or a caller class. */
  id: string
  label: string
  kind: 'workload' | 'gateway' | 'caller' | 'outside-workload'
  namespace: string | null
  principal: string | null
  /** Column, left to right: callers, the gateway, then by call depth. */
  column: number
}

export interface GraphEdge {
  from: string
  to: string
  operations: string
  /** `<namespace>/<name>` of the ALLOW policy and the rule index that admit it. */
  policy: string | null
  rule: number | null
  network: { verdict: 'ALLOW' | 'DROP'; policy: string | null; direction: 'egress' | 'ingress' | null } | null
}

export interface MeshGraph {
  nodes: GraphNode[]
  edges: GraphEdge[]
}

/** who-can-call names a caller by its workloads (comma-joined when several run as one account) or class. */
function callerIds(name: string): string[] {
  if (name === 'ingress-gateway') return [GATEWAY_POD.name]
  return name.split(', ')
}

function splitPolicy(ref: string): { policy: string | null; rule: number | null } {
  const at = ref.lastIndexOf('#')
  if (at < 0) return { policy: null, rule: null }
  return { policy: ref.slice(0, at), rule: Number(ref.slice(at + 1)) }
}

export function meshGraph(model: MeshModel): MeshGraph {
  const edges: GraphEdge[] = whoCanCall(model).flatMap((e: Edge) =>
    callerIds(e.from).map((from) => ({
      from,
      to: e.to,
      operations: e.operations,
      ...splitPolicy(e.policy),
      network: e.network,
    })),
  )
  const nodes = new Map<string, GraphNode>()
  const add = (node: Omit<GraphNode, 'column'>) => {
    if (!nodes.has(node.id)) nodes.set(node.id, { ...node, column: 0 })
  }
  if (model.gateways.length > 0)
    add({
      id: GATEWAY_POD.name,
      label: 'ingress gateway',
      kind: 'gateway',
      namespace: GATEWAY_POD.namespace,
      principal: `${model.trustDomain}/ns/${GATEWAY_POD.namespace}/sa/istio-ingressgateway-service-account`,
    })
  for (const w of model.workloads)
    add({ id: w.name, label: w.name, kind: 'workload', namespace: w.namespace, principal: w.principal })
  for (const w of model.outsideWorkloads)
    add({ id: w.name, label: w.name, kind: 'outside-workload', namespace: w.namespace, principal: null })
  for (const e of edges)
    if (!nodes.has(e.from))
      add({ id: e.from, label: e.from, kind: 'caller', namespace: null, principal: null })

  // Column = longest chain of named callers in front of a node (cycles cut at the first revisit).
  const callers = new Map<string, string[]>()
  for (const e of edges) callers.set(e.to, [...(callers.get(e.to) ?? []), e.from])
  const depth = new Map<string, number>()
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id)
    if (known !== undefined) return known
    const node = nodes.get(id)
    if (!node || node.kind === 'caller') return 0
    if (node.kind === 'gateway') return 1
    if (seen.has(id)) return 1
    seen.add(id)
    const named = (callers.get(id) ?? []).filter((c) => nodes.get(c)?.kind !== 'caller')
    const d = 1 + Math.max(1, ...named.map((c) => depthOf(c, seen)))
    seen.delete(id)
    depth.set(id, d)
    return d
  }
  for (const node of nodes.values()) node.column = depthOf(node.id, new Set())
  return { nodes: [...nodes.values()], edges }
}
