// The ingress gateway: TLS (SIMPLE) for browsers, routing by the
// VirtualServices bound to the Gateway, and calls into the mesh as a mesh
// client with its own SVID (istio-ingressgateway-service-account). Policies
// that select the gateway workload are enforced here too, before routing:
// Envoy's RBAC filter runs before the router, so a denied request never learns
// whether its host or path has a route.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { Duplex } from 'node:stream'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { evaluate } from '../authz/evaluate.ts'
import { normalizePath, splitPathAndQuery } from '../authz/normalize-path.ts'
import type { RotatingCertificate } from '../ca/svid-rotation.ts'
import type { GatewayModel, MeshModel } from '../manifests/mesh-model.ts'
import {
  answerCodecErrors,
  GATEWAY_SERVER,
  MAX_REQUEST_HEADERS_BYTES,
  sendBadRequest,
  sendNoHealthyUpstream,
  sendNoRoute,
  sendNotRelativePath,
  sendRbacDenied,
} from '../sidecar/envoy-responses.ts'
import { DEFAULT_RETRIES, endToEndHeaders, forward } from '../sidecar/forward.ts'
import { listenOnLoopback, type RunningSidecar } from '../sidecar/listen.ts'
import type { MeshClient } from '../sidecar/mesh-client.ts'
import type { Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'
import type { ProxyTelemetry } from '../telemetry/proxy-telemetry.ts'
import { BUILT_IN_INGRESS_GATEWAY, gatewayWorkloadOf, listenPortOf } from './gateway-workload.ts'
import { matchRoutes } from './match-route.ts'
import { gatewayVirtualHosts, selectVirtualHost, type VirtualHost } from './virtual-hosts.ts'

/** Istio's istio-ingressgateway, the gateway workload when the manifests hold none. */
export const GATEWAY_WORKLOAD = BUILT_IN_INGRESS_GATEWAY

export interface IngressGatewayOptions {
  model: MeshModel
  gateway: GatewayModel
  directory: ServiceDirectory
  client: MeshClient
  /** The TLS certificate browsers see, renewed before it expires. */
  certificate: RotatingCertificate
  policies: () => readonly CompiledPolicy[]
  listenPort: number
  /** The address to listen on: 127.0.0.1 by default; 0.0.0.0 where it is published from a container. */
  listenHost?: string
  /**
   * Local host names and the Gateway host each stands in for, e.g.
   * { localhost: 'api.rossmck.dev' }. Tried only when the request's own host
   * has no virtual host: the gateway matches the real :authority first.
   */
  hostAliases: Record<string, string>
  /** The network layer between the gateway's pod and the destination: true when it dropped the connection. */
  networkDrop?: (endpoint: Endpoint, res: ServerResponse) => boolean
  /** Metrics, access log and spans for each request (the gateway reports as `reporter="source"`). */
  telemetry?: ProxyTelemetry
}

/** The virtual host for a request's :authority, or, failing that, for its local alias. */
export function virtualHostFor(
  hosts: readonly VirtualHost[],
  authority: string,
  hostAliases: Record<string, string>,
): VirtualHost | null {
  const own = selectVirtualHost(hosts, authority)
  if (own) return own
  const alias = hostAliases[authority.toLowerCase().replace(/:\d+$/, '')]
  return alias === undefined ? null : selectVirtualHost(hosts, alias)
}

export async function startIngressGateway(options: IngressGatewayOptions): Promise<RunningSidecar> {
  const { model, gateway } = options
  const workload = gatewayWorkloadOf(model, gateway)
  // What the policy sees as destination.port: the pod's port, 8443 for Service port 443.
  const podPort = listenPortOf(workload, gateway.servers[0]?.port ?? 443)
  const virtualHosts = gatewayVirtualHosts(model, gateway)
  const tls = (c: ReturnType<RotatingCertificate['current']>) => ({ key: c.keyPem, cert: c.certPem })
  const server = createServer({
    ...tls(options.certificate.current()),
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60_000,
    maxHeaderSize: MAX_REQUEST_HEADERS_BYTES,
  })
  // New handshakes get the renewed certificate; open connections keep theirs.
  options.certificate.onRotate((c) => server.setSecureContext({ ...tls(c), minVersion: 'TLSv1.2' }))
  server.on('tlsClientError', (_error, socket) => socket.destroy())

  const authorize = (req: IncomingMessage, target: string) =>
    evaluate(options.policies(), {
      namespace: workload.namespace,
      labels: workload.labels,
      // The client's TLS is SIMPLE: no client certificate, no principal.
      principal: null,
      sourceIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      // The engine normalizes the path as Envoy does before it matches.
      path: target,
      port: podPort,
      host: req.headers.host ?? '',
      headers: req.headersDistinct,
    })

  server.on('request', (req, res) => {
    // An edge request always gets a fresh x-request-id (Istio does not set
    // preserve_external_request_id), before the filters and the access log read it
    // (envoyproxy/envoy source/common/http/conn_manager_utility.cc, mutateRequestHeaders).
    req.headers['x-request-id'] = randomUUID()
    const exchange = options.telemetry?.outbound(req, res)
    const target = req.url ?? ''
    if (!target.startsWith('/')) return sendNotRelativePath(res, GATEWAY_SERVER)
    // Envoy answers 400 to a path its normalization rejects (authz/normalize-path.ts).
    const path = normalizePath(target)
    if (path === null) return sendBadRequest(res, GATEWAY_SERVER)
    const { query } = splitPathAndQuery(target)
    const decision = authorize(req, target)
    exchange?.decided(decision)
    if (decision.decision === 'DENY') return sendRbacDenied(res, GATEWAY_SERVER)

    const virtualHost = virtualHostFor(virtualHosts, req.headers.host ?? '', options.hostAliases)
    const route = virtualHost && matchRoutes(virtualHost.routes, path, query)
    if (!route) return sendNoRoute(res, GATEWAY_SERVER)
    const service = options.directory.serviceFor(route.destination.host, 'docs')
    const port = route.destination.port ?? (service?.ports.length === 1 ? service.ports[0]?.port : undefined)
    const endpoint = port === undefined ? null : options.directory.resolve(route.destination.host, port)
    if (!endpoint) return sendNoHealthyUpstream(res, GATEWAY_SERVER)
    exchange?.upstream(
      {
        service: endpoint.service,
        workload: endpoint.workload,
        port: port as number,
        address: `127.0.0.1:${endpoint.port}`,
      },
      // VirtualService http routes here carry no `name`, so Envoy's route has none (`-`).
      '',
    )
    if (options.networkDrop?.(endpoint, res)) return

    const headers = endToEndHeaders(req.headers)
    // SANITIZE_SET, Istio's gateway default (pilot/pkg/networking/core/gateway.go
    // buildGatewayConnectionManager): the client presented no certificate, so
    // nothing is set and whatever the client sent is dropped.
    delete headers['x-forwarded-client-cert']
    const client = req.socket.remoteAddress ?? ''
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${client}`
      : client
    // An edge proxy (use_remote_address) overwrites x-forwarded-proto with the
    // downstream scheme (envoyproxy/envoy source/common/http/conn_manager_utility.cc).
    headers['x-forwarded-proto'] = 'https'
    headers['x-envoy-external-address'] = client
    if (exchange?.span) headers.traceparent = exchange.span.traceparent()
    forward(req, res, {
      dispatcher: options.client.dispatcherFor(endpoint),
      path: path + query,
      headers,
      server: GATEWAY_SERVER,
      retries: DEFAULT_RETRIES,
    })
  })

  answerCodecErrors(server, GATEWAY_SERVER)

  // CONNECT has no :path, so no route of Istio's (prefix, exact and regex
  // matchers) matches it: RBAC first, then the router's 404. The connection is
  // closed after the answer: what follows a refused CONNECT is not HTTP.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const status = authorize(req, '').decision === 'DENY' ? '403 Forbidden' : '404 Not Found'
    const body = status.startsWith('403') ? 'RBAC: access denied' : ''
    socket.end(
      `HTTP/1.1 ${status}\r\n${body ? 'content-type: text/plain\r\n' : ''}content-length: ${Buffer.byteLength(body)}\r\ndate: ${new Date().toUTCString()}\r\nserver: ${GATEWAY_SERVER}\r\nconnection: close\r\n\r\n${body}`,
    )
  })

  return listenOnLoopback(server, options.listenPort, undefined, options.listenHost)
}
