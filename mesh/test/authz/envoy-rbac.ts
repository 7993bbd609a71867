// A test oracle: Envoy's RBAC filter evaluated over the config Istio generates
// (the golden files in fixtures/istio-rbac, or istio-rbac-builder.ts). It
// follows envoyproxy/envoy source/extensions/filters/common/rbac/matchers.cc
// and engine_impl.cc: a policy matches when any permission and any principal
// match; an ALLOW engine allows on a match, a DENY engine denies on one, LOG
// changes nothing; each filter evaluates its shadow rules, then its rules.
// Kept apart from src/ on purpose: it reads Envoy's config, not policies.
import { BlockList, isIP } from 'node:net'

export interface StringMatcher {
  exact?: string
  prefix?: string
  suffix?: string
  contains?: string
  safeRegex?: { regex: string }
  ignoreCase?: boolean
}

interface HeaderMatcher {
  name: string
  presentMatch?: boolean
  stringMatch?: StringMatcher
  safeRegexMatch?: { regex: string }
  invertMatch?: boolean
}

interface Cidr {
  addressPrefix: string
  prefixLen?: number
}

export interface Permission {
  any?: boolean
  andRules?: { rules: Permission[] }
  orRules?: { rules: Permission[] }
  notRule?: Permission
  header?: HeaderMatcher
  urlPath?: { path: StringMatcher }
  uriTemplate?: { typedConfig: { pathTemplate: string } }
  destinationPort?: number
}

export interface Principal {
  any?: boolean
  andIds?: { ids: Principal[] }
  orIds?: { ids: Principal[] }
  notId?: Principal
  authenticated?: { principalName?: StringMatcher }
  directRemoteIp?: Cidr
  header?: HeaderMatcher
}

export interface Rbac {
  action?: 'ALLOW' | 'DENY' | 'LOG'
  policies?: Record<string, { permissions: Permission[]; principals: Principal[] }>
}

export interface RbacFilter {
  rules?: Rbac
  shadowRules?: Rbac
}

/** What Envoy's RBAC filter sees of a request, after the connection manager normalized `:path`. */
export interface EnvoyRequest {
  /** The URI SAN of the peer certificate, or null without TLS. */
  peerUri: string | null
  directRemoteIp: string
  destinationPort: number
  /** Lower-case names; `:path` with its query, `:method`, `:authority`; repeated values joined with `,`. */
  headers: Record<string, string>
}

/** RE2 full match; a leading `(?i)` becomes the `i` flag (JavaScript has no inline global flags). */
function fullMatch(regex: string, value: string): boolean {
  const insensitive = regex.startsWith('(?i)')
  return new RegExp(`^(?:${insensitive ? regex.slice(4) : regex})$`, insensitive ? 'i' : '').test(value)
}

export function stringMatches(m: StringMatcher, value: string): boolean {
  if (m.safeRegex) return fullMatch(m.safeRegex.regex, value)
  const v = m.ignoreCase ? value.toLowerCase() : value
  const low = (s: string) => (m.ignoreCase ? s.toLowerCase() : s)
  if (m.exact !== undefined) return v === low(m.exact)
  if (m.prefix !== undefined) return v.startsWith(low(m.prefix))
  if (m.suffix !== undefined) return v.endsWith(low(m.suffix))
  if (m.contains !== undefined) return v.includes(low(m.contains))
  throw new Error(`unsupported string matcher ${JSON.stringify(m)}`)
}

function headerMatches(h: HeaderMatcher, r: EnvoyRequest): boolean {
  if (h.invertMatch) throw new Error('invert_match is not used by Istio')
  const value = r.headers[h.name.toLowerCase()]
  if (value === undefined) return false
  if (h.presentMatch !== undefined) return h.presentMatch
  if (h.stringMatch) return stringMatches(h.stringMatch, value)
  if (h.safeRegexMatch) return fullMatch(h.safeRegexMatch.regex, value)
  throw new Error(`unsupported header matcher ${JSON.stringify(h)}`)
}

/** Envoy's URI template (uri_template_internal.cc): `*` one segment of pchar without `*=`, `**` any of those or `/`. */
function uriTemplateMatches(template: string, path: string): boolean {
  const literal = "a-zA-Z0-9\\-._~%!$&'()+,;:@"
  let body = template.slice(1)
  const trailing = body.endsWith('/')
  if (trailing) body = body.slice(0, -1)
  const parts = body.split('/').map((s) => {
    if (s === '**') return `[${literal}/]*`
    if (s === '*') return `[${literal}]+`
    return s.replace(/[$()+.]/g, '\\$&')
  })
  return new RegExp(`^/${parts.join('/')}${trailing ? '/' : ''}$`).test(path)
}

function inCidr(c: Cidr, ip: string): boolean {
  const family = isIP(ip)
  const cidrFamily = isIP(c.addressPrefix)
  if (family === 0 || family !== cidrFamily) return false
  const list = new BlockList()
  const type = family === 6 ? 'ipv6' : 'ipv4'
  list.addSubnet(c.addressPrefix, c.prefixLen ?? (family === 6 ? 128 : 32), type)
  return list.check(ip, type)
}

export function permissionMatches(p: Permission, r: EnvoyRequest): boolean {
  if (p.any) return true
  if (p.andRules) return p.andRules.rules.every((x) => permissionMatches(x, r))
  if (p.orRules) return p.orRules.rules.some((x) => permissionMatches(x, r))
  if (p.notRule) return !permissionMatches(p.notRule, r)
  if (p.header) return headerMatches(p.header, r)
  if (p.urlPath) {
    const path = (r.headers[':path'] ?? '').replace(/[?#].*$/, '')
    return stringMatches(p.urlPath.path, path)
  }
  if (p.uriTemplate)
    return uriTemplateMatches(
      p.uriTemplate.typedConfig.pathTemplate,
      (r.headers[':path'] ?? '').replace(/[?#].*$/, ''),
    )
  if (p.destinationPort !== undefined) return p.destinationPort === r.destinationPort
  throw new Error(`unsupported permission ${JSON.stringify(p)}`)
}

export function principalMatches(p: Principal, r: EnvoyRequest): boolean {
  if (p.any) return true
  if (p.andIds) return p.andIds.ids.every((x) => principalMatches(x, r))
  if (p.orIds) return p.orIds.ids.some((x) => principalMatches(x, r))
  if (p.notId) return !principalMatches(p.notId, r)
  if (p.authenticated) {
    if (r.peerUri === null) return false
    const name = p.authenticated.principalName
    return name === undefined || stringMatches(name, r.peerUri)
  }
  if (p.directRemoteIp) return inCidr(p.directRemoteIp, r.directRemoteIp)
  if (p.header) return headerMatches(p.header, r)
  throw new Error(`unsupported principal ${JSON.stringify(p)}`)
}

function matches(rbac: Rbac, r: EnvoyRequest): boolean {
  return Object.values(rbac.policies ?? {}).some(
    (policy) =>
      policy.permissions.some((p) => permissionMatches(p, r)) &&
      policy.principals.some((p) => principalMatches(p, r)),
  )
}

/** One engine's verdict: ALLOW allows on a match, DENY denies on one, LOG always allows. */
function verdict(rbac: Rbac, r: EnvoyRequest): 'ALLOW' | 'DENY' {
  const action = rbac.action ?? 'ALLOW'
  if (action === 'LOG') return 'ALLOW'
  const hit = matches(rbac, r)
  return action === 'ALLOW' ? (hit ? 'ALLOW' : 'DENY') : hit ? 'DENY' : 'ALLOW'
}

export interface EnvoyDecision {
  decision: 'ALLOW' | 'DENY'
  shadow: Array<{ action: 'ALLOW' | 'DENY'; decision: 'ALLOW' | 'DENY' }>
}

/** The RBAC filters of one filter chain, in order, over one request. */
export function evaluateFilters(filters: RbacFilter[], r: EnvoyRequest): EnvoyDecision {
  const shadow: EnvoyDecision['shadow'] = []
  for (const filter of filters) {
    if (filter.shadowRules) {
      const action = filter.shadowRules.action ?? 'ALLOW'
      if (action !== 'LOG') shadow.push({ action, decision: verdict(filter.shadowRules, r) })
    }
    if (filter.rules && verdict(filter.rules, r) === 'DENY') return { decision: 'DENY', shadow }
  }
  return { decision: 'ALLOW', shadow }
}
