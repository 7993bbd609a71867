// The matchers Istio generates for AuthorizationPolicy values, evaluated as
// Envoy evaluates them. Istio turns each value into an Envoy matcher in
// pilot/pkg/security/authz/matcher/{string,header}.go and
// pilot/pkg/security/authz/model/generator.go (istio/istio): `*` alone first,
// then a leading `*` (suffix), then a trailing `*` (prefix), else exact. A `*`
// anywhere else is a literal character, except in namespaces, where every `*`
// becomes `.*` in a regex over the whole SPIFFE URI.

/** Envoy's StringMatcher as Istio's `StringMatcher(v)` builds it: `*` is the regex `.+`. */
export function matchesIstioString(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false
  if (pattern === '*') return value !== ''
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1))
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1))
  return value === pattern
}

/**
 * Envoy's HeaderMatcher as Istio's `HeaderMatcher`/`HostMatcher` build it: `*`
 * is `present_match`, so a header sent with an empty value matches it; an
 * absent header matches nothing. Hosts compare ignoring case.
 */
export function matchesIstioHeader(
  pattern: string,
  value: string | undefined,
  options: { ignoreCase?: boolean } = {},
): boolean {
  if (value === undefined) return false
  if (pattern === '*') return true
  const p = options.ignoreCase ? pattern.toLowerCase() : pattern
  const v = options.ignoreCase ? value.toLowerCase() : value
  if (p.startsWith('*')) return v.endsWith(p.slice(1))
  if (p.endsWith('*')) return v.startsWith(p.slice(0, -1))
  return v === p
}

const SPIFFE = 'spiffe://'

/**
 * `principals` and `source.principal`: `StringMatcherWithPrefix(v, "spiffe://")`
 * against the peer certificate's URI SAN. A caller without a certificate has
 * no authenticated identity and matches nothing (Envoy's `authenticated`).
 */
export function matchesPrincipal(pattern: string, principal: string | null): boolean {
  if (principal === null) return false
  const uri = SPIFFE + principal
  if (pattern === '*') return uri !== ''
  if (pattern.startsWith('*')) return uri.startsWith(SPIFFE) && uri.endsWith(pattern.slice(1))
  if (pattern.endsWith('*')) return uri.startsWith(SPIFFE + pattern.slice(0, -1))
  return uri === SPIFFE + pattern
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const namespaceRegexes = new Map<string, RegExp>()

/**
 * `namespaces` and `source.namespace`: the regex `.*\/ns/<value>/.*` over the
 * whole SPIFFE URI, every `*` in the value becoming `.*`
 * (srcNamespaceGenerator in generator.go).
 */
export function matchesNamespace(pattern: string, principal: string | null): boolean {
  if (principal === null) return false
  let regex = namespaceRegexes.get(pattern)
  if (!regex) {
    const body = pattern.split('*').map(escapeRegex).join('.*')
    regex = new RegExp(`^.*/ns/${body}/.*$`)
    namespaceRegexes.set(pattern, regex)
  }
  return regex.test(SPIFFE + principal)
}
