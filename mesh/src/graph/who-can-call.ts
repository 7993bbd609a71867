// Who can call what, read off the AuthorizationPolicies: one edge per ALLOW
// rule, as a table for people and a Mermaid diagram for the README. When the
// manifests have NetworkPolicies, an edge whose caller's pod cannot connect
// to the workload is marked blocked at the network, with the policy.
import type { CompiledOperation, CompiledRule } from '../authz/compile-policy.ts'
import { appliesTo } from '../authz/evaluate.ts'
import type { MeshModel, Workload } from '../manifests/mesh-model.ts'
import type { NetworkVerdict } from '../network/decide-connection.ts'
import { meshNetworkModel, reachability } from '../network/mesh-network.ts'

export interface Edge {
  from: string
  to: string
  operations: string
  policy: string
  /** The network layer's verdict for a caller with a pod; null without NetworkPolicies or for callers that are no one pod. */
  network: NetworkVerdict | null
}

function describeOperations(to: CompiledOperation[]): string {
  if (to.length === 0) return 'any request'
  return to
    .map((o) => {
      const methods = o.methods.length > 0 ? o.methods.join('|') : 'any'
      const paths = o.paths.length > 0 ? o.paths.map((p) => p.pattern).join(', ') : '*'
      const not = [...o.notMethods.map((m) => `not ${m}`), ...o.notPaths.map((p) => `not ${p.pattern}`)]
      const ports = o.ports.length > 0 ? ` on port ${o.ports.join('|')}` : ''
      return [`${methods} ${paths}${ports}`, ...not].join(' ')
    })
    .join('; ')
}

/** A principal as the workload that runs as it (bucket-sa is bucket-api), or its service account. */
function sourceName(model: MeshModel, principal: string): string {
  if (principal.endsWith('/sa/istio-ingressgateway-service-account')) return 'ingress-gateway'
  const workloads = model.workloads.filter((w) => w.principal === principal).map((w) => w.name)
  return workloads.length > 0 ? workloads.join(', ') : principal.replace(/^.*\/sa\//, 'sa ')
}

type Source = { name: string; principal: string | null }

function sourcesOf(model: MeshModel, rule: CompiledRule): Source[] {
  if (rule.from.length === 0) return [{ name: 'any caller', principal: null }]
  return rule.from.flatMap((s): Source[] => {
    const names: Source[] = s.principals.map((p) => ({ name: sourceName(model, p), principal: p }))
    if (s.namespaces.length > 0)
      names.push(...s.namespaces.map((n) => ({ name: `namespace ${n}`, principal: null })))
    return names.length > 0 ? names : [{ name: 'any caller', principal: null }]
  })
}

export function whoCanCall(model: MeshModel): Edge[] {
  const edges: Edge[] = []
  const network = meshNetworkModel(model)
  const verdictFor = (principal: string | null, workload: Workload, ports: number[]) =>
    network.policies.length === 0 || principal === null || principal.includes('*')
      ? null
      : reachability(model, network, principal, workload, ports)
  for (const workload of model.workloads) {
    const allows = model.policies.filter(
      // Dry-run policies are shadow rules: they admit nothing.
      (p) => p.action === 'ALLOW' && !p.dryRun && appliesTo(p, workload.namespace, workload.labels),
    )
    if (allows.length === 0) {
      edges.push({
        from: 'any caller',
        to: workload.name,
        operations: 'any request (no ALLOW policy)',
        policy: '-',
        network: null,
      })
      continue
    }
    for (const policy of allows) {
      policy.rules.forEach((rule, i) => {
        const operations =
          describeOperations(rule.to) +
          (rule.when.length > 0 ? ` when ${rule.when.map((c) => c.key).join(', ')}` : '')
        const ports = rule.to.flatMap((o) => o.ports.map(Number))
        for (const { name, principal } of sourcesOf(model, rule))
          edges.push({
            from: name,
            to: workload.name,
            operations,
            policy: `${policy.id}#${i}`,
            network: verdictFor(principal, workload, ports),
          })
      })
    }
  }
  return edges
}

const blocked = (e: Edge) => e.network?.verdict === 'DROP'

export function edgesAsTable(edges: Edge[]): string {
  const withNetwork = edges.some((e) => e.network !== null)
  const networkCell = (e: Edge) =>
    e.network === null ? '-' : blocked(e) ? `DROP (${e.network.policy ?? 'no pod'})` : 'ALLOW'
  const rows = [
    ['from', 'to', 'may send', 'policy rule', ...(withNetwork ? ['network'] : [])],
    ...edges.map((e) => [e.from, e.to, e.operations, e.policy, ...(withNetwork ? [networkCell(e)] : [])]),
  ]
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? []
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ')} |`
  return [
    line(rows[0] ?? []),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n')
}

export function edgesAsMermaid(edges: Edge[]): string {
  const id = (name: string) => name.replace(/[^A-Za-z0-9]/g, '_')
  const lines = ['flowchart LR']
  for (const e of edges) {
    // A cross-ended link: the policy allows it, the network drops it.
    const arrow = blocked(e) ? '--x' : e.from === 'any caller' ? '-.->' : '-->'
    const label = blocked(e) ? `blocked by ${e.network?.policy}: ${e.operations}` : e.operations
    lines.push(
      `  ${id(e.from)}["${e.from}"] ${arrow}|"${label.replaceAll('"', "'")}"| ${id(e.to)}["${e.to}"]`,
    )
  }
  return lines.join('\n')
}
