// Static checks of a manifest set, the mistakes that make a mesh quietly
// wrong: policies that select nothing or name identities that do not exist,
// routes to nowhere, workloads nothing can reach, plaintext left allowed,
// and calls a policy allows that a NetworkPolicy makes unreachable.
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { appliesTo } from '../authz/evaluate.ts'
import { GATEWAY_WORKLOAD } from '../gateway/ingress-gateway.ts'
import { type K8sObject, MeshConfigError } from '../manifests/k8s-object.ts'
import { buildMeshModel, type MeshModel, workloadsOf } from '../manifests/mesh-model.ts'
import { meshNetworkModel, reachability } from '../network/mesh-network.ts'

export interface LintFinding {
  level: 'error'
  rule: string
  object: string
  message: string
}

const HTTP_ONLY_OPERATION = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const

function selectsSomething(model: MeshModel, policy: CompiledPolicy): boolean {
  if (!policy.selector) return true
  const gatewaySelected =
    appliesTo(policy, GATEWAY_WORKLOAD.namespace, GATEWAY_WORKLOAD.labels) && model.gateways.length > 0
  return gatewaySelected || model.workloads.some((w) => appliesTo(policy, w.namespace, w.labels))
}

function knownPrincipals(model: MeshModel): Set<string> {
  const known = new Set(model.serviceAccounts)
  if (model.gateways.length > 0)
    known.add(`${model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`)
  return known
}

export function lintModel(model: MeshModel): LintFinding[] {
  const findings: LintFinding[] = []
  const add = (rule: string, object: string, message: string) =>
    findings.push({ level: 'error', rule, object, message })
  const principals = knownPrincipals(model)

  for (const policy of model.policies) {
    const ref = `AuthorizationPolicy ${policy.id}`
    if (!selectsSomething(model, policy))
      add('selector-selects-nothing', ref, `selector ${JSON.stringify(policy.selector)} selects no workload`)
    policy.rules.forEach((rule, i) => {
      for (const source of rule.from) {
        for (const p of [...source.principals, ...source.notPrincipals]) {
          if (!p.includes('*') && !principals.has(p))
            add(
              'unknown-principal',
              ref,
              `rules[${i}] names ${p}, which is no ServiceAccount in the manifests`,
            )
        }
      }
      if (policy.action === 'DENY') {
        const httpOnly =
          rule.to.some((o) => HTTP_ONLY_OPERATION.some((f) => o[f].length > 0)) ||
          rule.when.some((c) => c.key.startsWith('request.'))
        const hasPorts = rule.to.some((o) => o.ports.length > 0)
        if (httpOnly && !hasPorts) {
          add(
            'deny-http-only-without-ports',
            ref,
            `rules[${i}] is a DENY with HTTP-only fields and no ports: on TCP traffic Istio ignores those fields and the rule denies more than it says`,
          )
        }
      }
    })
  }

  // A Service outside the mesh (a namespace without injection) may select a workload there too.
  const everyWorkload = { ...model, workloads: [...model.workloads, ...model.outsideWorkloads] }
  for (const service of model.services) {
    if (workloadsOf(everyWorkload, service).length === 0)
      add('selector-selects-nothing', `Service ${service.namespace}/${service.name}`, 'selects no workload')
  }

  for (const vs of model.virtualServices) {
    vs.http.forEach((route, i) => {
      const [name, namespace] = route.destination.host.split('.')
      const service = model.services.find((s) => s.name === name && s.namespace === namespace)
      if (!service)
        add(
          'route-to-nowhere',
          `VirtualService ${vs.id}`,
          `http[${i}] routes to ${route.destination.host}, which is no Service`,
        )
      else if (
        route.destination.port !== undefined &&
        !service.ports.some((p) => p.port === route.destination.port)
      ) {
        add(
          'route-to-nowhere',
          `VirtualService ${vs.id}`,
          `http[${i}] routes to port ${route.destination.port}, which ${service.name} does not expose`,
        )
      } else if (route.destination.port === undefined && service.ports.length !== 1) {
        add(
          'route-to-nowhere',
          `VirtualService ${vs.id}`,
          `http[${i}] names no port and ${service.name} has ${service.ports.length}`,
        )
      }
    })
    for (const g of vs.gateways) {
      if (g !== 'mesh' && !model.gateways.some((gw) => gw.id === g))
        add('route-to-nowhere', `VirtualService ${vs.id}`, `gateway ${g} is not in the manifests`)
    }
  }

  for (const workload of model.workloads) {
    const ref = `Deployment ${workload.namespace}/${workload.name}`
    const allows = model.policies.filter(
      (p) => p.action === 'ALLOW' && !p.dryRun && appliesTo(p, workload.namespace, workload.labels),
    )
    if (allows.length > 0 && allows.every((p) => p.rules.length === 0)) {
      add(
        'unreachable-workload',
        ref,
        `no ALLOW policy admits anything to it under ${allows.map((p) => p.id).join(', ')}`,
      )
    }
    if (
      !model.strictNamespaces.has(workload.namespace) &&
      !model.strictNamespaces.has(GATEWAY_WORKLOAD.namespace)
    ) {
      add(
        'missing-strict-mtls',
        ref,
        `namespace ${workload.namespace} has no STRICT PeerAuthentication: plaintext would be accepted`,
      )
    }
    if (!principals.has(workload.principal))
      add(
        'unknown-principal',
        ref,
        `runs as ${workload.serviceAccount}, which is no ServiceAccount in the manifests`,
      )
  }
  findings.push(...networkUnreachableEdges(model))
  return findings
}

/** An ALLOW rule naming a caller whose pod the NetworkPolicies never let connect to the workload. */
function networkUnreachableEdges(model: MeshModel): LintFinding[] {
  const network = meshNetworkModel(model)
  if (network.policies.length === 0) return []
  const findings: LintFinding[] = []
  for (const policy of model.policies.filter((p) => p.action === 'ALLOW')) {
    const workloads = model.workloads.filter((w) => appliesTo(policy, w.namespace, w.labels))
    policy.rules.forEach((rule, i) => {
      const ports = rule.to.flatMap((o) => o.ports.map(Number))
      for (const principal of rule.from.flatMap((s) => s.principals)) {
        if (principal.includes('*')) continue
        for (const workload of workloads) {
          const verdict = reachability(model, network, principal, workload, ports)
          if (verdict?.verdict === 'DROP')
            findings.push({
              level: 'error',
              rule: 'network-unreachable-edge',
              object: `AuthorizationPolicy ${policy.id}`,
              message: `rules[${i}] allows ${principal} to call ${workload.name}, but NetworkPolicy ${verdict.policy} drops the connection (${verdict.direction})`,
            })
        }
      }
    })
  }
  return findings
}

/** Lints objects; a field or kind the mesh does not implement is itself a finding. */
export function lintObjects(objects: K8sObject[]): LintFinding[] {
  try {
    return lintModel(buildMeshModel(objects))
  } catch (error) {
    if (error instanceof MeshConfigError)
      return [{ level: 'error', rule: 'unsupported-or-unknown-field', object: '', message: error.message }]
    throw error
  }
}
