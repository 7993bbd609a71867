// The virtual hosts a gateway serves, built as Istio builds them for a Gateway
// (istio/istio pilot/pkg/networking/core/gateway.go buildGatewayHTTPRouteConfig):
// each VirtualService bound to the Gateway adds its routes to one virtual host
// per host it shares with a Gateway server, in the order the VirtualServices
// were created (the manifests' order, as `kubectl apply` creates them), so the
// routes of several VirtualServices for one host merge; catch-all routes then
// move to the end (pilot/pkg/networking/core/route/route.go SortVHostRoutes).
// A request picks its virtual host as Envoy does: exact domain first, then the
// longest `*.suffix`, then `*`; the port in :authority is ignored
// (Istio sets ignore_port_in_host_matching on gateway route configurations).
import type { GatewayModel, HttpRoute, MeshModel } from '../manifests/mesh-model.ts'

export interface VirtualHost {
  /** Lower case: an exact host, `*.suffix` or `*`. */
  domain: string
  routes: HttpRoute[]
}

/** Whether `pattern` (exact, `*.suffix` or `*`) covers `host`, itself possibly a wildcard. */
const covers = (pattern: string, host: string): boolean =>
  pattern === '*' || pattern === host || (pattern.startsWith('*.') && host.endsWith(pattern.slice(1)))

/** The narrower of two hosts when one covers the other (Istio's host intersection), else null. */
export function intersectHosts(a: string, b: string): string | null {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (covers(x, y)) return y
  if (covers(y, x)) return x
  return null
}

/** Istio's catch-all test: no match, prefix `/` or regex `.*` (route.go IsCatchAllRoute). */
const isCatchAll = (route: HttpRoute): boolean => {
  const [match] = route.matches
  return (
    match === undefined ||
    match === null ||
    (match.kind === 'prefix' && match.value === '/') ||
    (match.kind === 'regex' && match.value === '.*')
  )
}

export function gatewayVirtualHosts(model: MeshModel, gateway: GatewayModel): VirtualHost[] {
  const serverHosts = gateway.servers.flatMap((s) => s.hosts.map((h) => h.replace(/^[^/]+\//, '')))
  const byDomain = new Map<string, HttpRoute[]>()
  for (const vs of model.virtualServices) {
    if (!vs.gateways.includes(gateway.id)) continue
    // Istio builds one Envoy route per match; each is sorted on its own.
    const routes = vs.http.flatMap((r) =>
      r.matches.length <= 1 ? [r] : r.matches.map((m) => ({ ...r, matches: [m] })),
    )
    const domains = new Set(
      vs.hosts.flatMap((h) => serverHosts.map((s) => intersectHosts(h, s)).filter((d) => d !== null)),
    )
    for (const domain of domains) byDomain.set(domain, [...(byDomain.get(domain) ?? []), ...routes])
  }
  return [...byDomain].map(([domain, routes]) => ({
    domain,
    routes: [...routes.filter((r) => !isCatchAll(r)), ...routes.filter(isCatchAll)],
  }))
}

/** `host:port`, `[v6]:port` or a bare host → the host, lower case. */
export function hostOfAuthority(authority: string): string {
  const a = authority.toLowerCase()
  const v6 = /^(\[[^\]]*\])(:\d+)?$/.exec(a)
  if (v6) return v6[1] as string
  return a.replace(/:\d+$/, '')
}

/** Envoy's virtual host selection: exact, then the longest `*.suffix` wildcard, then `*`. */
export function selectVirtualHost(hosts: readonly VirtualHost[], authority: string): VirtualHost | null {
  const host = hostOfAuthority(authority)
  const exact = hosts.find((v) => v.domain === host)
  if (exact) return exact
  const suffix = hosts
    .filter((v) => v.domain.startsWith('*.') && host.endsWith(v.domain.slice(1)))
    .sort((a, b) => b.domain.length - a.domain.length)[0]
  return suffix ?? hosts.find((v) => v.domain === '*') ?? null
}
