// Who can call what, read off the AuthorizationPolicies: one edge per ALLOW
// rule, as a table for people and a Mermaid diagram for the README.
import type { CompiledOperation, CompiledRule } from '../authz/compile-policy.ts'
import { appliesTo } from '../authz/evaluate.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'

export interface Edge {
  from: string
  to: string
  operations: string
  policy: string
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

function sourcesOf(model: MeshModel, rule: CompiledRule): string[] {
  if (rule.from.length === 0) return ['any caller']
  return rule.from.flatMap((s) => {
    const names = s.principals.map((p) => sourceName(model, p))
    if (s.namespaces.length > 0) names.push(...s.namespaces.map((n) => `namespace ${n}`))
    return names.length > 0 ? names : ['any caller']
  })
}

export function whoCanCall(model: MeshModel): Edge[] {
  const edges: Edge[] = []
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
      })
      continue
    }
    for (const policy of allows) {
      policy.rules.forEach((rule, i) => {
        const operations =
          describeOperations(rule.to) +
          (rule.when.length > 0 ? ` when ${rule.when.map((c) => c.key).join(', ')}` : '')
        for (const from of sourcesOf(model, rule))
          edges.push({ from, to: workload.name, operations, policy: `${policy.id}#${i}` })
      })
    }
  }
  return edges
}

export function edgesAsTable(edges: Edge[]): string {
  const rows = [
    ['from', 'to', 'may send', 'policy rule'],
    ...edges.map((e) => [e.from, e.to, e.operations, e.policy]),
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
    const arrow = e.from === 'any caller' ? '-.->' : '-->'
    lines.push(
      `  ${id(e.from)}["${e.from}"] ${arrow}|"${e.operations.replaceAll('"', "'")}"| ${id(e.to)}["${e.to}"]`,
    )
  }
  return lines.join('\n')
}
