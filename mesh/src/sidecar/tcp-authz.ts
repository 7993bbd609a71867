// The policy decision on a TCP port, where Envoy's RBAC runs as a network
// filter and sees a connection, not requests. Istio generates that filter's
// config from the same AuthorizationPolicies (istio/istio
// pilot/pkg/security/authz/builder/builder.go build with forTCP, and
// pilot/pkg/security/authz/model/model.go rule.checkError): an ALLOW rule
// using any HTTP-only field is left out (a smaller allow), a DENY or AUDIT rule
// loses its HTTP-only fields (a wider deny). The mesh's policy engine
// (mesh/src/authz) has no TCP entry point in this copy, so this file makes the
// TCP form of the compiled policies and asks the engine with a request that
// carries only connection attributes.
import type { CompiledOperation, CompiledPolicy, CompiledRule } from '../authz/compile-policy.ts'
import { type AuthzRequest, type Decision, evaluate } from '../authz/evaluate.ts'

/** `when` keys a TCP filter can evaluate (the rest are HTTP-only: request.headers[...]). */
const TCP_CONDITION = /^(source\.(ip|namespace|principal)|destination\.(ip|port)|connection\.sni)$/

const usesHttp = (o: CompiledOperation) =>
  o.hosts.length +
    o.notHosts.length +
    o.methods.length +
    o.notMethods.length +
    o.paths.length +
    o.notPaths.length >
  0

const withoutHttp = (o: CompiledOperation): CompiledOperation => ({
  ...o,
  hosts: [],
  notHosts: [],
  methods: [],
  notMethods: [],
  paths: [],
  notPaths: [],
})

function tcpRule(rule: CompiledRule, action: CompiledPolicy['action']): CompiledRule | null {
  const httpWhen = rule.when.some((c) => !TCP_CONDITION.test(c.key))
  if (action === 'ALLOW') return rule.to.some(usesHttp) || httpWhen ? null : rule
  return { ...rule, to: rule.to.map(withoutHttp), when: rule.when.filter((c) => TCP_CONDITION.test(c.key)) }
}

/** The policies as Istio compiles them for a TCP filter chain. */
export function tcpPolicies(policies: readonly CompiledPolicy[]): CompiledPolicy[] {
  return policies.map((p) => ({
    ...p,
    rules: p.rules.map((r) => tcpRule(r, p.action)).filter((r): r is CompiledRule => r !== null),
  }))
}

export type TcpConnection = Pick<
  AuthzRequest,
  'namespace' | 'labels' | 'principal' | 'sourceIp' | 'port' | 'sni' | 'destinationIp'
>

/** ALLOW or DENY for a whole connection to a TCP port. */
export function evaluateTcpConnection(policies: readonly CompiledPolicy[], c: TcpConnection): Decision {
  return evaluate(tcpPolicies(policies), { ...c, method: '', path: '/', host: '', headers: {} })
}
