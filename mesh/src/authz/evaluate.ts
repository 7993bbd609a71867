// The policy engine: pure. The policies in force and one request in; the
// decision and the policy and rule that made it out, with Istio's semantics:
// CUSTOM (refused at compile time), then DENY, then ALLOW; AUDIT never
// changes a decision. A workload no ALLOW policy selects is allowed; one that
// ALLOW policies select but none matches is denied.
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import type {
  CompiledCondition,
  CompiledOperation,
  CompiledPolicy,
  CompiledRule,
  CompiledSource,
  PathMatcher,
} from './compile-policy.ts'
import { ROOT_NAMESPACE } from './compile-policy.ts'
import { normalizePath } from './normalize-path.ts'
import { matchesIstioString } from './string-match.ts'

export interface AuthzRequest {
  /** The destination workload: its namespace and pod labels. */
  namespace: string
  labels: Record<string, string>
  /** The peer's principal from its certificate (`cluster.local/ns/docs/sa/x`), or null without mTLS. */
  principal: string | null
  sourceIp: string
  destinationIp?: string
  method: string
  /** The request target as sent; it is normalized here, as Istio does before matching. */
  path: string
  port: number
  host: string
  headers: Record<string, string | string[] | undefined>
  sni?: string
}

export interface Decision {
  decision: 'ALLOW' | 'DENY'
  /** `<namespace>/<name>` of the policy that decided, or null when none did (no ALLOW policy, or none matched). */
  policy: string | null
  rule: number | null
  reason: string
}

export function appliesTo(
  policy: CompiledPolicy,
  namespace: string,
  labels: Record<string, string>,
): boolean {
  if (policy.namespace !== namespace && policy.namespace !== ROOT_NAMESPACE) return false
  if (!policy.selector) return true
  return Object.entries(policy.selector).every(([k, v]) => labels[k] === v)
}

const namespaceOf = (principal: string | null): string | undefined =>
  principal ? /\/ns\/([^/]+)\//.exec(principal)?.[1] : undefined

function inBlocks(blocks: string[], ip: string): boolean {
  const list = new BlockList()
  for (const block of blocks) {
    const [address, prefix] = block.split('/') as [string, string | undefined]
    const type = isIPv6(address) ? 'ipv6' : 'ipv4'
    if (!isIPv4(address) && !isIPv6(address)) continue
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(prefix), type)
  }
  const type = isIPv6(ip) ? 'ipv6' : 'ipv4'
  return list.check(ip, type)
}

const anyOf = (patterns: string[], value: string | undefined, caseInsensitive = false) =>
  patterns.some((p) => matchesIstioString(p, value, { caseInsensitive }))

/** A field with values must match one; a not-field with values must match none. */
const field = (values: string[], notValues: string[], match: (patterns: string[]) => boolean) =>
  (values.length === 0 || match(values)) && (notValues.length === 0 || !match(notValues))

function sourceMatches(s: CompiledSource, r: AuthzRequest): boolean {
  const principal = r.principal ?? undefined
  const namespace = namespaceOf(r.principal)
  return (
    field(s.principals, s.notPrincipals, (p) => anyOf(p, principal)) &&
    field(s.namespaces, s.notNamespaces, (p) => anyOf(p, namespace)) &&
    field(s.ipBlocks, s.notIpBlocks, (p) => inBlocks(p, r.sourceIp))
  )
}

function pathMatches(matchers: PathMatcher[], path: string): boolean {
  return matchers.some((m) => (m.template ? m.template.test(path) : matchesIstioString(m.pattern, path)))
}

function hostMatches(patterns: string[], host: string): boolean {
  const withoutPort = host.replace(/:\d+$/, '')
  return anyOf(patterns, host, true) || anyOf(patterns, withoutPort, true)
}

function operationMatches(o: CompiledOperation, r: AuthzRequest, path: string): boolean {
  return (
    field(o.hosts, o.notHosts, (p) => hostMatches(p, r.host)) &&
    field(o.ports, o.notPorts, (p) => p.includes(String(r.port))) &&
    field(o.methods, o.notMethods, (p) => anyOf(p, r.method)) &&
    (o.paths.length === 0 || pathMatches(o.paths, path)) &&
    (o.notPaths.length === 0 || !pathMatches(o.notPaths, path))
  )
}

function header(r: AuthzRequest, name: string): string | undefined {
  const wanted = name.toLowerCase()
  for (const [k, v] of Object.entries(r.headers)) {
    if (k.toLowerCase() === wanted && v !== undefined) return Array.isArray(v) ? v.join(',') : v
  }
  return undefined
}

function attribute(key: string, r: AuthzRequest): string | undefined {
  const headerKey = /^request\.headers\[(.+)\]$/.exec(key)
  if (headerKey) return header(r, headerKey[1] as string)
  switch (key) {
    case 'source.ip':
      return r.sourceIp
    case 'source.namespace':
      return namespaceOf(r.principal)
    case 'source.principal':
      return r.principal ?? undefined
    case 'destination.ip':
      return r.destinationIp
    case 'destination.port':
      return String(r.port)
    case 'connection.sni':
      return r.sni
    default:
      return undefined
  }
}

function conditionMatches(c: CompiledCondition, r: AuthzRequest): boolean {
  if (c.key === 'source.ip' || c.key === 'destination.ip') {
    const ip = attribute(c.key, r)
    return ip !== undefined && field(c.values, c.notValues, (p) => inBlocks(p, ip))
  }
  const value = attribute(c.key, r)
  return field(c.values, c.notValues, (p) => anyOf(p, value))
}

export function ruleMatches(rule: CompiledRule, r: AuthzRequest, path = normalizePath(r.path)): boolean {
  return (
    (rule.from.length === 0 || rule.from.some((s) => sourceMatches(s, r))) &&
    (rule.to.length === 0 || rule.to.some((o) => operationMatches(o, r, path))) &&
    rule.when.every((c) => conditionMatches(c, r))
  )
}

function firstMatch(
  policies: CompiledPolicy[],
  r: AuthzRequest,
  path: string,
): { policy: CompiledPolicy; rule: number } | null {
  for (const policy of policies) {
    const rule = policy.rules.findIndex((rule) => ruleMatches(rule, r, path))
    if (rule >= 0) return { policy, rule }
  }
  return null
}

const decidedBy = (
  decision: Decision['decision'],
  match: { policy: CompiledPolicy; rule: number },
): Decision => ({
  decision,
  policy: match.policy.id,
  rule: match.rule,
  reason: `${decision === 'DENY' ? 'denied' : 'allowed'} by ${match.policy.id} rule ${match.rule}`,
})

export function evaluate(policies: readonly CompiledPolicy[], r: AuthzRequest): Decision {
  const path = normalizePath(r.path)
  const applicable = policies.filter((p) => appliesTo(p, r.namespace, r.labels))
  const denied = firstMatch(
    applicable.filter((p) => p.action === 'DENY'),
    r,
    path,
  )
  if (denied) return decidedBy('DENY', denied)
  const allows = applicable.filter((p) => p.action === 'ALLOW')
  if (allows.length === 0)
    return { decision: 'ALLOW', policy: null, rule: null, reason: 'no ALLOW policy applies to the workload' }
  const allowed = firstMatch(allows, r, path)
  if (allowed) return decidedBy('ALLOW', allowed)
  return {
    decision: 'DENY',
    policy: null,
    rule: null,
    reason: `no rule of ${allows.map((p) => p.id).join(', ')} matches`,
  }
}
