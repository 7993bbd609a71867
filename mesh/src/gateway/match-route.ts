// Picks the route for a request as the VirtualService says: the first http
// entry with a matching uri wins (an entry without match takes everything).
// prefix is a string prefix, so `/authx` matches `/auth`; exact and regex
// compare the path without its query, and a regex must match all of it.
import type { HttpRoute, UriMatch, VirtualServiceModel } from '../manifests/mesh-model.ts'

const regexCache = new Map<string, RegExp>()

function uriMatches(match: UriMatch, path: string, pathAndQuery: string): boolean {
  if (match === null) return true
  switch (match.kind) {
    case 'prefix':
      return pathAndQuery.startsWith(match.value)
    case 'exact':
      return path === match.value
    case 'regex': {
      let re = regexCache.get(match.value)
      if (!re) {
        re = new RegExp(`^(?:${match.value})$`)
        regexCache.set(match.value, re)
      }
      return re.test(path)
    }
  }
}

export function matchRoute(virtualService: VirtualServiceModel, path: string, query = ''): HttpRoute | null {
  return matchRoutes(virtualService.http, path, query)
}

export function matchRoutes(routes: readonly HttpRoute[], path: string, query = ''): HttpRoute | null {
  return (
    routes.find(
      (route) => route.matches.length === 0 || route.matches.some((m) => uriMatches(m, path, path + query)),
    ) ?? null
  )
}

/** Istio host matching for Gateway servers and VirtualServices: exact, `*`, or `*.suffix`. */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase()
  const h = host.toLowerCase()
  if (p === '*') return true
  if (p.startsWith('*.')) return h.endsWith(p.slice(1))
  return p === h
}
