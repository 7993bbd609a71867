// What a rule becomes on a TCP port. Istio builds the network RBAC filter from
// the same rules with forTCP set: the generators of HTTP-only fields (hosts,
// methods, paths, request.headers) fail, and model.go's checkError turns that
// failure into "skip the rule" for ALLOW and "drop the field" for DENY and
// AUDIT, so a DENY rule that named only HTTP fields denies every connection
// (pilot/pkg/security/authz/model/model.go, generator.go; golden files in
// pilot/pkg/security/authz/builder/testdata/tcp, istio/istio).
import type { CompiledOperation, CompiledRule, PolicyAction } from './compile-policy.ts'

const hasHttpOperation = (o: CompiledOperation): boolean =>
  o.hosts.length +
    o.notHosts.length +
    o.methods.length +
    o.notMethods.length +
    o.paths.length +
    o.notPaths.length >
  0

export function tcpRuleOf(rule: CompiledRule, action: PolicyAction): CompiledRule | null {
  const httpOnly = rule.to.some(hasHttpOperation) || rule.when.some((c) => c.kind === 'header')
  if (!httpOnly) return rule
  if (action === 'ALLOW') return null
  return {
    from: rule.from,
    to: rule.to.map((o) => ({
      ...o,
      hosts: [],
      notHosts: [],
      methods: [],
      notMethods: [],
      paths: [],
      notPaths: [],
    })),
    when: rule.when.filter((c) => c.kind !== 'header'),
  }
}
