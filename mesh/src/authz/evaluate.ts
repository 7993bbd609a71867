// The policy engine: pure. The policies in force and one request in; the
// decision and the policy and rule that made it out, with Istio's semantics:
// CUSTOM (refused at compile time), then DENY, then ALLOW; AUDIT never
// changes a decision. A workload no ALLOW policy selects is allowed; one that
// ALLOW policies select but none matches is denied. Each value matches as the
// Envoy matcher Istio generates for it (string-match.ts). Dry-run policies
// are Envoy shadow rules: their result is reported beside the decision and
// never changes it. On a TCP port the rules are the ones Istio builds for the
// network filter (tcp-rules.ts).
import { type CidrSet, inCidrs } from './cidr.ts'
import type {
  CompiledCondition,
  CompiledOperation,
  CompiledPolicy,
  CompiledRule,
  CompiledSource,
  PathMatcher,
} from './compile-policy.ts'
import { ROOT_NAMESPACE } from './compile-policy.ts'
import { normalizePath, splitPathAndQuery } from './normalize-path.ts'
import { matchesIstioHeader, matchesIstioString, matchesNamespace, matchesPrincipal } from './string-match.ts'

export interface AuthzRequest {
  /** The destination workload: its namespace and pod labels. */
  namespace: string
  labels: Record<string, string>
  /** The peer's principal from its certificate (`cluster.local/ns/docs/sa/x`), or null without mTLS. */
  principal: string | null
  sourceIp: string
  /**
   * How the destination port is served: `tcp` evaluates the rules Istio builds
   * for a TCP port (see `portProtocol`); the HTTP fields below are then unused.
   */
  protocol?: 'http' | 'tcp'
  method: string
  /** The request target as sent; it is normalized here, as Envoy does before matching. */
  path: string
  port: number
  /** The `:authority` as sent, port included. */
  host: string
  /** Repeated headers as arrays (Node's `headersDistinct`); Envoy joins them with `,`. */
  headers: Record<string, string | string[] | undefined>
}

export interface ShadowResult {
  /** The action of the dry-run policies this result comes from (one shadow engine per action, as in Envoy). */
  action: 'ALLOW' | 'DENY'
  decision: 'ALLOW' | 'DENY'
  policy: string | null
  rule: number | null
}

export interface Decision {
  decision: 'ALLOW' | 'DENY'
  /** `<namespace>/<name>` of the policy that decided, or null when none did (no ALLOW policy, or none matched). */
  policy: string | null
  rule: number | null
  reason: string
  /** What the dry-run policies that apply would have decided; empty when none applies. */
  shadow: ShadowResult[]
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

/** The request as the matchers see it once Envoy has normalized the path. */
interface Seen {
  r: AuthzRequest
  /** The normalized path without the query (what `paths` match). */
  path: string
  /** The `:path` header after normalization, query included. */
  pathHeader: string
}

/** A field with values must match one; a not-field with values must match none. */
const field = <T>(values: T[], notValues: T[], match: (patterns: T[]) => boolean) =>
  (values.length === 0 || match(values)) && (notValues.length === 0 || !match(notValues))

const cidrField = (values: CidrSet, notValues: CidrSet, ip: string) =>
  (values.values.length === 0 || inCidrs(values, ip)) &&
  (notValues.values.length === 0 || !inCidrs(notValues, ip))

const some = <T>(patterns: T[], match: (p: T) => boolean) => patterns.some(match)

function sourceMatches(s: CompiledSource, r: AuthzRequest): boolean {
  return (
    field(s.principals, s.notPrincipals, (ps) => some(ps, (p) => matchesPrincipal(p, r.principal))) &&
    field(s.namespaces, s.notNamespaces, (ps) => some(ps, (p) => matchesNamespace(p, r.principal))) &&
    cidrField(s.ipBlocks, s.notIpBlocks, r.sourceIp)
  )
}

function pathMatches(matchers: PathMatcher[], path: string): boolean {
  return matchers.some((m) => (m.template ? m.template.test(path) : matchesIstioString(m.pattern, path)))
}

function operationMatches(o: CompiledOperation, seen: Seen): boolean {
  const { r } = seen
  return (
    field(o.hosts, o.notHosts, (ps) =>
      some(ps, (p) => matchesIstioHeader(p, r.host, { ignoreCase: true })),
    ) &&
    field(o.ports, o.notPorts, (ps) => ps.includes(r.port)) &&
    field(o.methods, o.notMethods, (ps) => some(ps, (p) => matchesIstioHeader(p, r.method))) &&
    field(o.paths, o.notPaths, (ps) => pathMatches(ps, seen.path))
  )
}

/** A header as Envoy's header matcher reads it: names ignore case, repeated values joined with `,`. */
function header(seen: Seen, name: string): string | undefined {
  if (name === ':path') return seen.pathHeader
  if (name === ':method') return seen.r.method
  if (name === ':authority') return seen.r.host
  const found: string[] = []
  for (const [k, v] of Object.entries(seen.r.headers)) {
    if (k.toLowerCase() !== name || v === undefined) continue
    found.push(...(Array.isArray(v) ? v : [v]))
  }
  return found.length === 0 ? undefined : found.join(',')
}

function conditionMatches(c: CompiledCondition, seen: Seen): boolean {
  const { r } = seen
  switch (c.kind) {
    case 'header': {
      const value = header(seen, c.header)
      return field(c.values, c.notValues, (ps) => some(ps, (p) => matchesIstioHeader(p, value)))
    }
    case 'source.ip':
      return cidrField(c.values, c.notValues, r.sourceIp)
    case 'source.principal':
      return field(c.values, c.notValues, (ps) => some(ps, (p) => matchesPrincipal(p, r.principal)))
    case 'source.namespace':
      return field(c.values, c.notValues, (ps) => some(ps, (p) => matchesNamespace(p, r.principal)))
    case 'destination.port':
      return field(c.values, c.notValues, (ps) => ps.includes(r.port))
  }
}

function ruleMatchesSeen(rule: CompiledRule, seen: Seen): boolean {
  return (
    (rule.from.length === 0 || rule.from.some((s) => sourceMatches(s, seen.r))) &&
    (rule.to.length === 0 || rule.to.some((o) => operationMatches(o, seen))) &&
    rule.when.every((c) => conditionMatches(c, seen))
  )
}

function see(r: AuthzRequest): Seen | null {
  const path = normalizePath(r.path)
  if (path === null) return null
  return { r, path, pathHeader: path + splitPathAndQuery(r.path).query }
}

/** Whether one rule matches a request (HTTP); false for a path Envoy rejects. */
export function ruleMatches(rule: CompiledRule, r: AuthzRequest): boolean {
  const seen = see(r)
  return seen !== null && ruleMatchesSeen(rule, seen)
}

interface Match {
  policy: CompiledPolicy
  rule: number
}

function firstMatch(policies: CompiledPolicy[], seen: Seen): Match | null {
  const tcp = seen.r.protocol === 'tcp'
  for (const policy of policies) {
    const rules = tcp ? policy.tcpRules : policy.rules
    const rule = rules.findIndex((rule) => rule !== null && ruleMatchesSeen(rule, seen))
    if (rule >= 0) return { policy, rule }
  }
  return null
}

/** One Envoy RBAC engine: DENY denies on a match; ALLOW allows only on a match. */
function engine(action: 'ALLOW' | 'DENY', policies: CompiledPolicy[], seen: Seen): ShadowResult {
  const match = firstMatch(policies, seen)
  const decision = action === 'DENY' ? (match ? 'DENY' : 'ALLOW') : match ? 'ALLOW' : 'DENY'
  return { action, decision, policy: match?.policy.id ?? null, rule: match?.rule ?? null }
}

const decidedBy = (decision: Decision['decision'], match: Match, shadow: ShadowResult[]): Decision => ({
  decision,
  policy: match.policy.id,
  rule: match.rule,
  reason: `${decision === 'DENY' ? 'denied' : 'allowed'} by ${match.policy.id} rule ${match.rule}`,
  shadow,
})

export function evaluate(policies: readonly CompiledPolicy[], r: AuthzRequest): Decision {
  const seen = see(r)
  if (seen === null)
    return {
      decision: 'DENY',
      policy: null,
      rule: null,
      reason: 'the path fails Envoy path normalization (Envoy answers 400)',
      shadow: [],
    }
  const applicable = policies.filter((p) => appliesTo(p, r.namespace, r.labels))
  const of = (action: CompiledPolicy['action'], dryRun: boolean) =>
    applicable.filter((p) => p.action === action && p.dryRun === dryRun)
  // Envoy's filters run DENY then ALLOW; each evaluates its shadow rules before its enforced ones.
  const shadow: ShadowResult[] = []
  const dryDenies = of('DENY', true)
  if (dryDenies.length > 0) shadow.push(engine('DENY', dryDenies, seen))
  const denied = firstMatch(of('DENY', false), seen)
  if (denied) return decidedBy('DENY', denied, shadow)
  const dryAllows = of('ALLOW', true)
  if (dryAllows.length > 0) shadow.push(engine('ALLOW', dryAllows, seen))
  const allows = of('ALLOW', false)
  if (allows.length === 0)
    return {
      decision: 'ALLOW',
      policy: null,
      rule: null,
      reason: 'no ALLOW policy applies to the workload',
      shadow,
    }
  const allowed = firstMatch(allows, seen)
  if (allowed) return decidedBy('ALLOW', allowed, shadow)
  return {
    decision: 'DENY',
    policy: null,
    rule: null,
    reason: `no rule of ${allows.map((p) => p.id).join(', ')} matches`,
    shadow,
  }
}
