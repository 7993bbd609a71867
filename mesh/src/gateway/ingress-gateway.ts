// The ingress gateway: TLS (SIMPLE) for browsers, routing by the
// VirtualServices bound to the Gateway, and calls into the mesh as a mesh
// client with its own SVID (istio-ingressgateway-service-account). Policies
// that select the gateway workload are enforced here too.
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { evaluate } from '../authz/evaluate.ts'
import { normalizePath, splitPathAndQuery } from '../authz/normalize-path.ts'
import type { IssuedCertificate } from '../ca/certificate-authority.ts'
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
import type { Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'
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
  certificate: IssuedCertificate
  policies: () => readonly CompiledPolicy[]
  listenPort: number
  /** Local host names and the Gateway host each stands for, e.g. { localhost: 'api.rossmck.dev' }. */
  hostAliases: Record<string, string>
  /** The network layer between the gateway's pod and the destination: true when it dropped the connection. */
  networkDrop?: (endpoint: Endpoint, res: ServerResponse) => boolean
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
  const server = createServer({
    key: options.certificate.keyPem,
    cert: options.certificate.certPem,
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60_000,
  })
  server.on('tlsClientError', (_error, socket) => socket.destroy())

  server.on('request', (req, res) => {
    const target = req.url ?? ''
    if (!target.startsWith('/')) return sendBadRequest(res)
    const authority = (req.headers.host ?? '').toLowerCase()
    const hostname = authority.replace(/:\d+$/, '')
    const host = options.hostAliases[hostname] ?? hostname
    const virtualService = virtualServiceFor(model, gateway, host)
    if (!virtualService) return sendNoRoute(res)

    // Envoy answers 400 to a path its normalization rejects (authz/normalize-path.ts).
    const path = normalizePath(target)
    if (path === null) return sendBadRequest(res)
    const { query } = splitPathAndQuery(target)
    const decision = evaluate(options.policies(), {
      namespace: GATEWAY_WORKLOAD.namespace,
      labels: GATEWAY_WORKLOAD.labels,
      principal: null,
      sourceIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      path: target,
      port: gateway.servers[0]?.port ?? 443,
      host: req.headers.host ?? '',
      headers: req.headersDistinct,
    })
    if (decision.decision === 'DENY') return sendRbacDenied(res)

    const route = matchRoute(virtualService, path, query)
    if (!route) return sendNoRoute(res)
    const service = options.directory.serviceFor(route.destination.host, 'docs')
    const port = route.destination.port ?? (service?.ports.length === 1 ? service.ports[0]?.port : undefined)
    const endpoint = port === undefined ? null : options.directory.resolve(route.destination.host, port)
    if (!endpoint) return sendUpstreamUnavailable(res, 'no healthy upstream')
    if (options.networkDrop?.(endpoint, res)) return

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
