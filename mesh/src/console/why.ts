// The console's "why" box: one request (source, destination, method, path)
// answered offline by the same pure engines the proxies ask, both layers:
// the NetworkPolicies for the caller's pod (L3/L4, first on the wire), then
// the AuthorizationPolicies (L7), each with the policy text and the rule
// that decided highlighted.
import { appliesTo } from '../authz/evaluate.ts'
import { checkRequest } from '../cli/authz-check-command.ts'
import { GATEWAY_WORKLOAD } from '../gateway/ingress-gateway.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'
import type { NetworkVerdict } from '../network/decide-connection.ts'
import { GATEWAY_POD } from '../network/mesh-network.ts'
import type { NetworkModel } from '../network/network-model.ts'
import { ConsoleProblem } from './console-problem.ts'
import { type PolicyText, policyText } from './policy-text.ts'

/** Callers the box offers besides the workloads: the ingress gateway's identity, and a client with no mesh identity. */
export const GATEWAY_SOURCE = GATEWAY_POD.name
export const OUTSIDE_SOURCE = 'outside'

export interface WhyRequest {
  from: string
  to: string
  method: string
  path: string
  port?: number
}

export interface WhyAnswer {
  request: Required<WhyRequest> & { principal: string | null }
  /** What the caller sees: the network drops first; then the L7 decision. */
  outcome: 'allowed' | 'denied' | 'dropped'
  summary: string
  network: (NetworkVerdict & { text: PolicyText | null }) | null
  l7: {
    decision: 'ALLOW' | 'DENY'
    policy: string | null
    rule: number | null
    reason: string
    /** The deciding policy, its rule highlighted; when no one policy decided, every ALLOW policy that applies (none matched). */
    policies: PolicyText[]
  }
}

const METHOD = /^[A-Z]{1,16}$/

export function principalOf(model: MeshModel, from: string): string | null {
  if (from === OUTSIDE_SOURCE) return null
  if (from === GATEWAY_SOURCE)
    return `${model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`
  const workload = [...model.workloads, ...model.outsideWorkloads].find((w) => w.name === from)
  if (!workload) throw new ConsoleProblem(400, 'ERR_UNKNOWN_SOURCE', `no workload ${from} in the manifests`)
  // A workload without a sidecar has no certificate: it reaches others as plaintext, with no principal.
  return model.workloads.includes(workload) ? workload.principal : null
}

export function explainRequest(model: MeshModel, network: NetworkModel, request: WhyRequest): WhyAnswer {
  const destination = model.workloads.find((w) => w.name === request.to)
  if (!destination)
    throw new ConsoleProblem(400, 'ERR_UNKNOWN_DESTINATION', `no workload with a sidecar named ${request.to}`)
  const method = request.method.toUpperCase()
  if (!METHOD.test(method))
    throw new ConsoleProblem(400, 'ERR_BAD_METHOD', `${request.method} is not an HTTP method`)
  if (!request.path.startsWith('/'))
    throw new ConsoleProblem(400, 'ERR_BAD_PATH', 'the path must start with /')
  const port = request.port ?? destination.containerPorts[0] ?? 0
  if (!destination.containerPorts.includes(port))
    throw new ConsoleProblem(
      400,
      'ERR_BAD_PORT',
      `${request.to} listens on ${destination.containerPorts.join(', ')}, not ${port}`,
    )
  const principal = principalOf(model, request.from)
  const checked = checkRequest(model, network, {
    to: destination.name,
    namespace: destination.namespace,
    from: principal,
    method,
    path: request.path,
    port,
  })
  const { decision } = checked
  const reached = checked.network
  const networkText = reached?.policy != null ? policyText(model, 'NetworkPolicy', reached.policy) : null
  const policies: PolicyText[] = []
  if (decision.policy !== null) {
    const rules = decision.rule === null ? null : { list: 'rules', index: decision.rule }
    const text = policyText(model, 'AuthorizationPolicy', decision.policy, rules)
    if (text) policies.push(text)
  } else {
    for (const p of model.policies)
      if (p.action === 'ALLOW' && appliesTo(p, destination.namespace, destination.labels)) {
        const text = policyText(model, 'AuthorizationPolicy', p.id)
        if (text) policies.push(text)
      }
  }
  const dropped = reached !== null && reached.verdict === 'DROP'
  const outcome = dropped ? 'dropped' : decision.decision === 'ALLOW' ? 'allowed' : 'denied'
  const who = request.from === OUTSIDE_SOURCE ? 'a client without a mesh identity' : request.from
  const summary = dropped
    ? `The network drops ${who}'s connection to ${request.to}:${port}: the ${reached.direction} side is isolated by NetworkPolicy ${reached.policy ?? '(no pod)'}, so no request reaches the sidecar. (Were it let through, the policies would ${decision.decision === 'ALLOW' ? 'allow' : 'deny'} it: ${decision.reason}.)`
    : decision.decision === 'ALLOW'
      ? `${request.to}'s sidecar allows ${method} ${request.path} from ${who}: ${decision.reason}.`
      : `${request.to}'s sidecar answers 403 "RBAC: access denied" to ${method} ${request.path} from ${who}: ${decision.reason}.`
  return {
    request: { from: request.from, to: request.to, method, path: request.path, port, principal },
    outcome,
    summary,
    network: reached ? { ...reached, text: networkText } : null,
    l7: {
      decision: decision.decision,
      policy: decision.policy,
      rule: decision.rule,
      reason: decision.reason,
      policies,
    },
  }
}
