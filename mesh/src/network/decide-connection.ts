// The network layer's decision, pure: a connection from a pod (or from
// outside the cluster) to a pod's port, and the NetworkPolicies in force, in;
// ALLOW or DROP and the policy that decided out. Kubernetes semantics
// (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
// - A pod is isolated for a direction once any policy selecting it lists that
//   direction in policyTypes; an isolated pod accepts only what some rule of
//   those policies allows (allow-lists add up, order never matters); a pod no
//   policy selects for a direction is open in it.
// - A connection needs both ends: the source's egress and the destination's
//   ingress must each allow it.
// - A peer with podSelector alone picks pods of the policy's namespace; with
//   namespaceSelector alone, every pod of the namespaces it picks; with both,
//   the pods podSelector picks in those namespaces. An empty from/to means any
//   peer, empty ports any port.
// - A named port is the destination pod's container port of that name and
//   protocol; endPort makes a numeric port a range.
// - ipBlock is for addresses outside the cluster: local pods have no IPs, so
//   an ipBlock never matches a pod here (on a cluster, whether it matches pod
//   IPs is left to the network plugin); it matches an outside caller whose
//   address is known.
import { type LabelSelector, selectorMatches } from './label-selector.ts'
import { labelsOfNamespace, type NetworkModel, type NetworkPod } from './network-model.ts'
import type { CompiledNetworkPolicy, PolicyPeer, PolicyPort, PolicyRule, Protocol } from './network-policy.ts'

/** Who opens the connection: a pod of the model, or a client outside the cluster (its address if known). */
export type NetworkSource = { kind: 'pod'; pod: NetworkPod } | { kind: 'outside'; ip: string | null }

export interface NetworkVerdict {
  verdict: 'ALLOW' | 'DROP'
  /** `<namespace>/<name>`: for DROP a policy isolating the end that refused (a deny-all one if any); for ALLOW the policy whose rule admitted it (ingress side first); null when neither end is isolated. */
  policy: string | null
  /** Which end refused, for DROP. */
  direction: 'egress' | 'ingress' | null
}

const selects = (policy: CompiledNetworkPolicy, pod: NetworkPod) =>
  policy.namespace === pod.namespace && selectorMatches(policy.podSelector, pod.labels)

function peerMatches(
  model: NetworkModel,
  policy: CompiledNetworkPolicy,
  peer: PolicyPeer,
  other: NetworkSource,
): boolean {
  if (peer.kind === 'ipBlock') return other.kind === 'outside' && other.ip !== null && peer.matches(other.ip)
  if (other.kind !== 'pod') return false
  const inNamespace =
    peer.namespaces === 'own'
      ? other.pod.namespace === policy.namespace
      : selectorMatches(peer.namespaces as LabelSelector, labelsOfNamespace(model, other.pod.namespace))
  return inNamespace && selectorMatches(peer.pods, other.pod.labels)
}

function portMatches(
  rulePort: PolicyPort,
  destination: NetworkPod,
  port: number,
  protocol: Protocol,
): boolean {
  if (rulePort.protocol !== protocol) return false
  if (rulePort.port === null) return true
  if (typeof rulePort.port === 'string')
    return destination.ports.some(
      (p) => p.name === rulePort.port && p.protocol === protocol && p.containerPort === port,
    )
  return rulePort.endPort === null
    ? rulePort.port === port
    : port >= rulePort.port && port <= rulePort.endPort
}

const ruleAllows = (
  model: NetworkModel,
  policy: CompiledNetworkPolicy,
  rule: PolicyRule,
  peer: NetworkSource,
  destination: NetworkPod,
  port: number,
  protocol: Protocol,
) =>
  (rule.peers === null || rule.peers.some((p) => peerMatches(model, policy, p, peer))) &&
  (rule.ports === null || rule.ports.some((p) => portMatches(p, destination, port, protocol)))

type Side = { isolated: false } | { isolated: true; allowedBy: string | null; isolatedBy: string }

function decideSide(
  model: NetworkModel,
  direction: 'ingress' | 'egress',
  pod: NetworkPod,
  peer: NetworkSource,
  destination: NetworkPod,
  port: number,
  protocol: Protocol,
): Side {
  const policies = model.policies.filter((p) => p[direction] !== null && selects(p, pod))
  const first = policies[0]
  if (!first) return { isolated: false }
  const allowing = policies.find((p) =>
    p[direction]?.some((rule) => ruleAllows(model, p, rule, peer, destination, port, protocol)),
  )
  // Name the deny-all policy when there is one: it is what a reader looks for.
  const denyAll = policies.find((p) => p[direction]?.length === 0) ?? first
  return { isolated: true, allowedBy: allowing?.id ?? null, isolatedBy: denyAll.id }
}

export function decideConnection(
  model: NetworkModel,
  source: NetworkSource,
  destination: NetworkPod,
  port: number,
  protocol: Protocol = 'TCP',
): NetworkVerdict {
  let egressAllowedBy: string | null = null
  if (source.kind === 'pod') {
    const egress = decideSide(
      model,
      'egress',
      source.pod,
      { kind: 'pod', pod: destination },
      destination,
      port,
      protocol,
    )
    if (egress.isolated && egress.allowedBy === null)
      return { verdict: 'DROP', policy: egress.isolatedBy, direction: 'egress' }
    if (egress.isolated) egressAllowedBy = egress.allowedBy
  }
  const ingress = decideSide(model, 'ingress', destination, source, destination, port, protocol)
  if (ingress.isolated && ingress.allowedBy === null)
    return { verdict: 'DROP', policy: ingress.isolatedBy, direction: 'ingress' }
  return {
    verdict: 'ALLOW',
    policy: (ingress.isolated ? ingress.allowedBy : null) ?? egressAllowedBy,
    direction: null,
  }
}

/** The pod a workload name stands for in the model. */
export const podNamed = (model: NetworkModel, name: string, namespace: string): NetworkPod | undefined =>
  model.pods.find((p) => p.name === name && p.namespace === namespace)
