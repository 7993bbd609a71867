// The ingress gateway: TLS (SIMPLE) for browsers, routing by the
// VirtualServices bound to the Gateway, and calls into the mesh as a mesh
// client with its own SVID (istio-ingressgateway-service-account). Policies
// that select the gateway workload are enforced here too.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:https'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { evaluate } from '../authz/evaluate.ts'
import { normalizePath, splitPathAndQuery } from '../authz/normalize-path.ts'
import type { RotatingCertificate } from '../ca/svid-rotation.ts'
import type { GatewayModel, MeshModel, VirtualServiceModel } from '../manifests/mesh-model.ts'
import {
  sendBadRequest,
  sendNoRoute,
  sendRbacDenied,
  sendUpstreamUnavailable,
} from '../sidecar/envoy-responses.ts'
import { endToEndHeaders, forward } from '../sidecar/forward.ts'
import { listenOnLoopback, type RunningSidecar } from '../sidecar/listen.ts'
import type { MeshClient } from '../sidecar/mesh-client.ts'
import type { ServiceDirectory } from '../sidecar/service-directory.ts'
import { hostMatches, matchRoute } from './match-route.ts'

export const GATEWAY_WORKLOAD = {
  namespace: 'istio-system',
  labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  serviceAccount: 'istio-ingressgateway-service-account',
}

export interface IngressGatewayOptions {
  model: MeshModel
  gateway: GatewayModel
  directory: ServiceDirectory
  client: MeshClient
  /** The TLS certificate browsers see, renewed before it expires. */
  certificate: RotatingCertificate
  policies: () => readonly CompiledPolicy[]
  listenPort: number
  /** Local host names and the Gateway host each stands for, e.g. { localhost: 'api.rossmck.dev' }. */
  hostAliases: Record<string, string>
}

export function virtualServiceFor(
  model: MeshModel,
  gateway: GatewayModel,
  host: string,
): VirtualServiceModel | null {
  if (!gateway.servers.some((s) => s.hosts.some((h) => hostMatches(h.replace(/^[^/]+\//, ''), host))))
    return null
  return (
    model.virtualServices.find(
      (vs) => vs.gateways.includes(gateway.id) && vs.hosts.some((h) => hostMatches(h, host)),
    ) ?? null
  )
}

export async function startIngressGateway(options: IngressGatewayOptions): Promise<RunningSidecar> {
  const { model, gateway } = options
  const tls = (c: ReturnType<RotatingCertificate['current']>) => ({ key: c.keyPem, cert: c.certPem })
  const server = createServer({
    ...tls(options.certificate.current()),
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60_000,
  })
  // New handshakes get the renewed certificate; open connections keep theirs.
  options.certificate.onRotate((c) => server.setSecureContext({ ...tls(c), minVersion: 'TLSv1.2' }))
  server.on('tlsClientError', (_error, socket) => socket.destroy())

  server.on('request', (req, res) => {
    const target = req.url ?? ''
    if (!target.startsWith('/')) return sendBadRequest(res)
    const authority = (req.headers.host ?? '').toLowerCase()
    const hostname = authority.replace(/:\d+$/, '')
    const host = options.hostAliases[hostname] ?? hostname
    const virtualService = virtualServiceFor(model, gateway, host)
    if (!virtualService) return sendNoRoute(res)

    const path = normalizePath(target)
    const { query } = splitPathAndQuery(target)
    const decision = evaluate(options.policies(), {
      namespace: GATEWAY_WORKLOAD.namespace,
      labels: GATEWAY_WORKLOAD.labels,
      principal: null,
      sourceIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      path,
      port: gateway.servers[0]?.port ?? 443,
      host: authority,
      headers: req.headers,
    })
    if (decision.decision === 'DENY') return sendRbacDenied(res)

    const route = matchRoute(virtualService, path, query)
    if (!route) return sendNoRoute(res)
    const service = options.directory.serviceFor(route.destination.host, 'docs')
    const port = route.destination.port ?? (service?.ports.length === 1 ? service.ports[0]?.port : undefined)
    const endpoint = port === undefined ? null : options.directory.resolve(route.destination.host, port)
    if (!endpoint) return sendUpstreamUnavailable(res, 'no healthy upstream')

    const headers = endToEndHeaders(req.headers)
    delete headers['x-forwarded-client-cert']
    const client = req.socket.remoteAddress ?? ''
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${client}`
      : client
    headers['x-forwarded-proto'] = 'https'
    headers['x-envoy-external-address'] = client
    headers['x-request-id'] = randomUUID()
    void forward(req, res, {
      dispatcher: options.client.dispatcherFor(endpoint),
      path: path + query,
      headers,
    })
  })

  return listenOnLoopback(server, options.listenPort)
}
