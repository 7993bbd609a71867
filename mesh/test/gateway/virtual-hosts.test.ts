import { describe, expect, it } from 'vitest'
import { virtualHostFor } from '../../src/gateway/ingress-gateway.ts'
import { matchRoutes } from '../../src/gateway/match-route.ts'
import { gatewayVirtualHosts, intersectHosts, selectVirtualHost } from '../../src/gateway/virtual-hosts.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

const gateway = (hosts: string[]): K8sObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'docs' },
  spec: {
    selector: { istio: 'ingressgateway' },
    servers: [
      {
        port: { number: 443, name: 'https', protocol: 'HTTPS' },
        hosts,
        tls: { mode: 'SIMPLE', credentialName: 'c' },
      },
    ],
  },
})
const virtualService = (name: string, hosts: string[], http: unknown[], gateways = ['gw']): K8sObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'docs' },
  spec: { hosts, gateways, http },
})
const to = (host: string, prefix?: string) => ({
  ...(prefix === undefined ? {} : { match: [{ uri: { prefix } }] }),
  route: [{ destination: { host } }],
})

describe('gateway virtual hosts, as Istio builds them', () => {
  // istio/istio pilot/pkg/networking/core/gateway.go buildGatewayHTTPRouteConfig appends the
  // routes of every VirtualService for a host to one virtual host, in creation order;
  // route.go SortVHostRoutes then moves catch-all routes to the end.
  it('merges the routes of VirtualServices for one host in manifest order, catch-alls last', () => {
    const model = buildMeshModel([
      gateway(['api.example']),
      virtualService('first', ['api.example'], [to('a', '/a'), to('frontend')]),
      virtualService('second', ['api.example'], [to('b', '/b'), to('a2', '/a')]),
    ])
    const [host] = gatewayVirtualHosts(model, model.gateways[0] as never)
    const route = (path: string) => matchRoutes(host?.routes ?? [], path)?.destination.host
    expect(route('/a')).toBe('a.docs.svc.cluster.local')
    expect(route('/b')).toBe('b.docs.svc.cluster.local')
    expect(route('/c')).toBe('frontend.docs.svc.cluster.local')
  })

  // Envoy picks the virtual host with the most specific domain: exact, then the
  // longest suffix wildcard, then `*`.
  it('sends a host to the most specific VirtualService host only', () => {
    const model = buildMeshModel([
      gateway(['*.example']),
      virtualService('wild', ['*.example'], [to('wild')]),
      virtualService('api', ['api.example'], [to('api', '/api')]),
    ])
    const hosts = gatewayVirtualHosts(model, model.gateways[0] as never)
    expect(hosts.map((h) => h.domain).sort()).toEqual(['*.example', 'api.example'])
    const api = selectVirtualHost(hosts, 'api.example:443')
    expect(api?.domain).toBe('api.example')
    // The wildcard's catch-all does not leak into the exact host.
    expect(matchRoutes(api?.routes ?? [], '/other')).toBeNull()
    expect(selectVirtualHost(hosts, 'www.example')?.domain).toBe('*.example')
    expect(selectVirtualHost(hosts, 'example')).toBeNull()
  })

  it('intersects Gateway and VirtualService hosts to the narrower one', () => {
    expect(intersectHosts('*.example', 'api.example')).toBe('api.example')
    expect(intersectHosts('API.example', '*')).toBe('api.example')
    expect(intersectHosts('*.a.example', '*.example')).toBe('*.a.example')
    expect(intersectHosts('api.example', 'www.example')).toBeNull()
  })

  it('tries a local alias only when the real host has no virtual host', () => {
    const model = buildMeshModel([
      gateway(['api.example', 'localhost']),
      virtualService('api', ['api.example'], [to('api')]),
      virtualService('local', ['localhost'], [to('local')]),
    ])
    const hosts = gatewayVirtualHosts(model, model.gateways[0] as never)
    const aliases = { localhost: 'api.example', other: 'api.example' }
    expect(virtualHostFor(hosts, 'localhost:8443', aliases)?.domain).toBe('localhost')
    expect(virtualHostFor(hosts, 'other:8443', aliases)?.domain).toBe('api.example')
    expect(virtualHostFor(hosts, 'nope', aliases)).toBeNull()
  })

  // istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService-gateways:
  // no gateways, or `mesh`, applies the routes to every sidecar.
  it('refuses a VirtualService bound to sidecars instead of ignoring it', () => {
    expect(() => buildMeshModel([virtualService('m', ['x'], [to('x')], [])])).toThrow(
      /applies to sidecar traffic/,
    )
    expect(() => buildMeshModel([virtualService('m', ['x'], [to('x')], ['gw', 'mesh'])])).toThrow(
      /gateways includes "mesh"/,
    )
  })
})
