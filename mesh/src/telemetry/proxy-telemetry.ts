// One workload's (or the gateway's) telemetry, handed to its proxies: each
// request is recorded once per reporting proxy, when its response closes, as
// Istio's stats filter and Envoy's access log do it: `reporter="destination"`
// on the inbound sidecar, `reporter="source"` on the caller's outbound proxy
// and on the gateway (istio.io/latest/docs/reference/config/metrics/).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Decision } from '../authz/evaluate.ts'
import type { MeshService } from '../manifests/mesh-model.ts'
import { type AccessLogSink, formatAccessLogLine, formatTcpAccessLogLine } from './access-log.ts'
import type { HttpLabels, IstioMetrics, TcpLabels } from './istio-metrics.ts'
import type { PeerDirectory } from './peer-directory.ts'
import {
  DEFAULT_CLUSTER,
  type Peer,
  type ServiceLabels,
  serviceLabelsOf,
  UNKNOWN_PEER,
} from './peer-labels.ts'
import { formatFlags, noteResponse, type ResponseInfo, watchResponse } from './response-info.ts'
import type { ProxySpan, ProxyTracer } from './tracing.ts'

export interface ProxyTelemetryOptions {
  /** The workload these proxies run in. */
  self: Peer
  peers: PeerDirectory
  metrics: IstioMetrics
  accessLog: AccessLogSink | null
  /** The Service an inbound container port serves (destination_service on the inbound side). */
  serviceOfPort?: (containerPort: number) => MeshService | undefined
  tracer?: ProxyTracer | null
}

/** Where a proxy sends a request it forwards. */
export interface UpstreamTarget {
  service: MeshService
  /** The destination workload's name, in the Service's namespace. */
  workload: string
  /** The Service port called. */
  port: number
  /** host:port the proxy connected to. */
  address: string
}

/**
 * The policy id Envoy's RBAC filter names in its response code details: Istio
 * names each rule `ns[<ns>]-policy[<name>]-rule[<index>]` (istio/istio
 * pilot/pkg/security/authz/builder/builder.go), and an ALLOW policy none of
 * whose rules matched is `none`; the details text is envoyproxy/envoy
 * source/extensions/filters/common/rbac/utility.cc responseDetail.
 */
export function rbacDeniedDetails(decision: Decision): string {
  if (!decision.policy) return 'rbac_access_denied_matched_policy[none]'
  const [namespace, name] = decision.policy.split('/')
  return `rbac_access_denied_matched_policy[ns[${namespace}]-policy[${name}]-rule[${decision.rule ?? 0}]]`
}

/** istio/istio pilot/pkg/networking/core/route/route.go DefaultRouteName: a route no VirtualService named. */
const DEFAULT_ROUTE = 'default'

const header = (req: IncomingMessage, name: string): string => {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(',') : (v ?? '')
}

const address = (host: string | undefined, port: number | undefined) =>
  host === undefined || port === undefined ? '' : `${host.replace(/^::ffff:/, '')}:${port}`

/** One HTTP request through one proxy. */
export class Exchange {
  readonly info: ResponseInfo
  readonly #started = new Date()
  readonly #t0 = performance.now()
  #destination: Peer = UNKNOWN_PEER
  #service: ServiceLabels = serviceLabelsOf(undefined)
  #cluster = ''
  #upstreamHost = ''
  #route = ''
  #path: string
  #authority: string
  readonly span: ProxySpan | null
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly telemetry: ProxyTelemetry
  readonly reporter: 'source' | 'destination'
  readonly source: Peer
  readonly securityPolicy: string

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    telemetry: ProxyTelemetry,
    reporter: 'source' | 'destination',
    source: Peer,
    securityPolicy: string,
  ) {
    this.req = req
    this.res = res
    this.telemetry = telemetry
    this.reporter = reporter
    this.source = source
    this.securityPolicy = securityPolicy
    this.info = watchResponse(res)
    this.#path = req.url ?? ''
    this.#authority = header(req, 'host')
    this.span = telemetry.tracer?.start(req, reporter === 'destination' ? 'inbound' : 'outbound') ?? null
    res.once('close', () => this.#finish())
  }

  /** The request line's path and authority when they are not the request target's (a proxy-form URL). */
  target(path: string, authority: string): this {
    this.#path = path
    this.#authority = authority
    return this
  }

  destination(peer: Peer, service: ServiceLabels, cluster: string, route = ''): this {
    this.#destination = peer
    this.#service = service
    this.#cluster = cluster
    this.#route = route
    return this
  }

  /** The upstream the proxy chose (outbound and gateway). */
  upstream(target: UpstreamTarget, route = DEFAULT_ROUTE): this {
    const peer = this.telemetry.peers.byWorkload(target.workload, target.service.namespace)
    const service = serviceLabelsOf(target.service)
    this.destination(peer ?? UNKNOWN_PEER, service, `outbound|${target.port}||${service.host}`, route)
    this.#upstreamHost = target.address
    return this
  }

  /** REGISTRY_ONLY: a host the mesh does not know goes to Istio's BlackHoleCluster by its `block_all` route. */
  unknownHost(): this {
    this.#cluster = 'BlackHoleCluster'
    this.#route = 'block_all'
    return this
  }

  /** Where the inbound sidecar forwards: the app. */
  app(address: string): this {
    this.#upstreamHost = address
    return this
  }

  /** The policies' answer; a denial is noted as Envoy's RBAC filter notes it. */
  decided(decision: Decision): this {
    this.span?.decision(decision)
    if (decision.decision === 'DENY') noteResponse(this.res, { details: rbacDeniedDetails(decision) })
    return this
  }

  #finish(): void {
    const { req, res, info } = this
    const durationMs = performance.now() - this.#t0
    const answered = res.headersSent
    // Closed before an answer: Envoy's DC (downstream connection termination), code 0.
    if (!res.writableFinished) info.flags.add('DC')
    const code = answered ? res.statusCode : 0
    const flags = formatFlags(info.flags)
    const bytesReceived = info.bytesReceived ?? (Number(req.headers['content-length']) || 0)
    const bytesSent = info.bytesSent || Number(res.getHeader('content-length') ?? 0) || 0
    const telemetry = this.telemetry
    const source = this.source
    const destination = this.#destination
    const labels: HttpLabels = {
      ...edgeLabels(this.reporter, source, destination, this.#service),
      request_protocol: 'http',
      response_code: String(code),
      grpc_response_status: '',
      response_flags: flags,
      connection_security_policy: this.securityPolicy,
    }
    telemetry.metrics.recordRequest(labels, durationMs, bytesReceived, bytesSent)
    telemetry.accessLog?.write(
      formatAccessLogLine({
        startTime: this.#started,
        method: req.method ?? '',
        path: this.#path,
        protocol: `HTTP/${req.httpVersion}`,
        responseCode: code,
        responseFlags: flags,
        responseCodeDetails: info.details || (answered ? '' : 'downstream_remote_disconnect'),
        connectionTerminationDetails: '',
        upstreamTransportFailureReason: info.transportFailure,
        bytesReceived,
        bytesSent,
        durationMs,
        upstreamServiceTime: String(res.getHeader('x-envoy-upstream-service-time') ?? ''),
        forwardedFor: header(req, 'x-forwarded-for'),
        userAgent: header(req, 'user-agent'),
        requestId: header(req, 'x-request-id'),
        authority: this.#authority,
        upstreamHost: this.#upstreamHost,
        upstreamCluster: this.#cluster,
        upstreamLocalAddress: '',
        downstreamLocalAddress: address(req.socket.localAddress, req.socket.localPort),
        downstreamRemoteAddress: address(req.socket.remoteAddress, req.socket.remotePort),
        requestedServerName: '',
        routeName: this.#route,
      }),
    )
    this.span?.end(code, flags, info.details)
  }
}

/** One TCP connection through one proxy. */
export class TcpConnection {
  readonly #started = new Date()
  readonly #t0 = performance.now()
  #details = ''
  #upstream: Socket | null = null
  #upstreamHost = ''

  readonly downstream: Socket
  readonly telemetry: ProxyTelemetry
  readonly labels: TcpLabels
  readonly cluster: string

  constructor(downstream: Socket, telemetry: ProxyTelemetry, labels: TcpLabels, cluster: string) {
    this.downstream = downstream
    this.telemetry = telemetry
    this.labels = labels
    this.cluster = cluster
    telemetry.metrics.tcpOpened.inc(labels)
    downstream.once('close', () => this.#finish())
  }

  /** The connection the proxy opened for it (bytes are counted on it, in the clear). */
  upstream(socket: Socket, host: string): this {
    this.#upstream = socket
    this.#upstreamHost = host
    return this
  }

  denied(decision: Decision): this {
    this.#details = rbacDeniedDetails(decision)
    return this
  }

  #finish(): void {
    const { telemetry, labels } = this
    const received = this.#upstream?.bytesWritten ?? 0
    const sent = this.#upstream?.bytesRead ?? 0
    telemetry.metrics.tcpReceived.inc(labels, received)
    telemetry.metrics.tcpSent.inc(labels, sent)
    telemetry.metrics.tcpClosed.inc(labels)
    telemetry.accessLog?.write(
      formatTcpAccessLogLine({
        startTime: this.#started,
        responseFlags: '',
        connectionTerminationDetails: this.#details,
        bytesReceived: received,
        bytesSent: sent,
        durationMs: performance.now() - this.#t0,
        upstreamHost: this.#upstreamHost,
        upstreamCluster: this.cluster,
        downstreamLocalAddress: address(this.downstream.localAddress, this.downstream.localPort),
        downstreamRemoteAddress: address(this.downstream.remoteAddress, this.downstream.remotePort),
      }),
    )
  }
}

export class ProxyTelemetry {
  readonly self: Peer
  readonly peers: PeerDirectory
  readonly metrics: IstioMetrics
  readonly accessLog: AccessLogSink | null
  readonly tracer: ProxyTracer | null
  readonly #serviceOfPort: (containerPort: number) => MeshService | undefined

  constructor(options: ProxyTelemetryOptions) {
    this.self = options.self
    this.peers = options.peers
    this.metrics = options.metrics
    this.accessLog = options.accessLog
    this.tracer = options.tracer ?? null
    this.#serviceOfPort = options.serviceOfPort ?? (() => undefined)
  }

  #peerOf(principal: string | null): Peer {
    return (principal === null ? undefined : this.peers.byPrincipal(principal)) ?? UNKNOWN_PEER
  }

  /** A request the inbound sidecar received on a container port (`reporter="destination"`). */
  inbound(
    req: IncomingMessage,
    res: ServerResponse,
    servicePort: number,
    principal: string | null,
  ): Exchange {
    return new Exchange(
      req,
      res,
      this,
      'destination',
      this.#peerOf(principal),
      principal === null ? 'none' : 'mutual_tls',
    ).destination(
      this.self,
      serviceLabelsOf(this.#serviceOfPort(servicePort)),
      `inbound|${servicePort}||`,
      // The route Istio builds when no VirtualService applies (pilot/pkg/networking/core/route/route.go DefaultRouteName).
      DEFAULT_ROUTE,
    )
  }

  /** A request the app sent through its outbound proxy, or a client through the gateway (`reporter="source"`). */
  outbound(req: IncomingMessage, res: ServerResponse): Exchange {
    return new Exchange(req, res, this, 'source', this.self, 'unknown')
  }

  /** A connection the inbound sidecar accepted on a TCP port. */
  tcpInbound(socket: Socket, servicePort: number, principal: string): TcpConnection {
    const source = this.#peerOf(principal)
    return new TcpConnection(
      socket,
      this,
      tcpLabels(
        'destination',
        source,
        this.self,
        serviceLabelsOf(this.#serviceOfPort(servicePort)),
        'mutual_tls',
      ),
      `inbound|${servicePort}||`,
    )
  }

  /** A tunnel the app opened through its outbound proxy to a TCP port of a Service. */
  tcpOutbound(socket: Socket, target: Omit<UpstreamTarget, 'address'>): TcpConnection {
    const service = serviceLabelsOf(target.service)
    const destination = this.peers.byWorkload(target.workload, target.service.namespace) ?? UNKNOWN_PEER
    return new TcpConnection(
      socket,
      this,
      tcpLabels('source', this.self, destination, service, 'unknown'),
      `outbound|${target.port}||${service.host}`,
    )
  }
}

/** The labels every Istio metric carries: who reported, the two peers and the destination Service. */
function edgeLabels(
  reporter: 'source' | 'destination',
  source: Peer,
  destination: Peer,
  service: ServiceLabels,
) {
  return {
    reporter,
    source_workload: source.workload,
    source_canonical_service: source.canonicalService,
    source_canonical_revision: source.canonicalRevision,
    source_workload_namespace: source.namespace,
    source_principal: source.principal,
    source_app: source.app,
    source_version: source.version,
    source_cluster: source === UNKNOWN_PEER ? 'unknown' : DEFAULT_CLUSTER,
    destination_workload: destination.workload,
    destination_workload_namespace: destination.namespace,
    destination_principal: destination.principal,
    destination_app: destination.app,
    destination_version: destination.version,
    destination_service: service.host,
    destination_canonical_service: destination.canonicalService,
    destination_canonical_revision: destination.canonicalRevision,
    destination_service_name: service.name,
    destination_service_namespace: service.namespace,
    destination_cluster: destination === UNKNOWN_PEER ? 'unknown' : DEFAULT_CLUSTER,
  }
}

function tcpLabels(
  reporter: 'source' | 'destination',
  source: Peer,
  destination: Peer,
  service: ServiceLabels,
  securityPolicy: string,
): TcpLabels {
  return {
    ...edgeLabels(reporter, source, destination, service),
    request_protocol: 'tcp',
    response_flags: '-',
    connection_security_policy: securityPolicy,
  }
}
