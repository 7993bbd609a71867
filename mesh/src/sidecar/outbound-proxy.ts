// A workload's outbound sidecar: the app's HTTP_PROXY. A request for a mesh
// host (`<service>.<namespace>.svc.cluster.local:<port>`) leaves over mTLS with
// the workload's SVID to that Service's inbound sidecar, which must present
// the destination's identity. Any other host is refused (REGISTRY_ONLY): apps
// reach the outside world through NO_PROXY, never through the mesh.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Workload } from '../manifests/mesh-model.ts'
import type { ProxyTelemetry } from '../telemetry/proxy-telemetry.ts'
import {
  answerCodecErrors,
  MAX_REQUEST_HEADERS_BYTES,
  OUTBOUND_SERVER,
  sendBadRequest,
  sendUnknownHost,
} from './envoy-responses.ts'
import { DEFAULT_RETRIES, endToEndHeaders, forward } from './forward.ts'
import { listenOnLoopback, type RunningSidecar } from './listen.ts'
import type { MeshClient } from './mesh-client.ts'
import type { Endpoint, ServiceDirectory } from './service-directory.ts'

export interface OutboundProxyOptions {
  workload: Workload
  directory: ServiceDirectory
  client: MeshClient
  listenPort: number
  /** The network layer: true when it dropped the connection (and answered for it). */
  networkDrop?: (endpoint: Endpoint, res: ServerResponse) => boolean
  /** Metrics, access log and spans for each request and tunnel (`reporter="source"`). */
  telemetry?: ProxyTelemetry
}

export async function startOutboundProxy(options: OutboundProxyOptions): Promise<RunningSidecar> {
  const server = createServer(
    { keepAliveTimeout: 60_000, maxHeaderSize: MAX_REQUEST_HEADERS_BYTES },
    (req, res) => {
      // Envoy gives a request without one an x-request-id before its filters run, so its own
      // access log and the destination's carry the same id (envoyproxy/envoy
      // source/common/http/conn_manager_utility.cc, mutateRequestHeaders).
      req.headers['x-request-id'] ||= randomUUID()
      const exchange = options.telemetry?.outbound(req, res)
      let url: URL
      try {
        url = new URL(req.url ?? '')
      } catch {
        return sendBadRequest(res, OUTBOUND_SERVER)
      }
      if (url.protocol !== 'http:') return sendBadRequest(res, OUTBOUND_SERVER)
      const endpoint = options.directory.resolve(
        url.hostname,
        Number(url.port || 80),
        options.workload.namespace,
      )
      exchange?.target(url.pathname + url.search, url.host)
      if (!endpoint) {
        exchange?.unknownHost()
        return sendUnknownHost(res, OUTBOUND_SERVER)
      }
      exchange?.upstream({
        service: endpoint.service,
        workload: endpoint.workload,
        port: Number(url.port || 80),
        address: `127.0.0.1:${endpoint.port}`,
      })
      if (options.networkDrop?.(endpoint, res)) return
      const headers = endToEndHeaders(req.headers)
      headers.host = url.host
      // Envoy's default forward_client_cert_details, SANITIZE (Istio sets none on the
      // outbound listener): an app cannot forge the identity its destination sees.
      delete headers['x-forwarded-client-cert']
      // Set only when absent, from the app's plaintext connection (conn_manager_utility.cc).
      headers['x-forwarded-proto'] ??= 'http'
      if (exchange?.span) headers.traceparent = exchange.span.traceparent()
      forward(req, res, {
        dispatcher: options.client.dispatcherFor(endpoint),
        path: url.pathname + url.search,
        headers,
        server: OUTBOUND_SERVER,
        retries: DEFAULT_RETRIES,
      })
    },
  )
  answerCodecErrors(server, OUTBOUND_SERVER)
  // CONNECT stands in for the iptables capture of a TCP port: a tunnel to a
  // mesh Service port whose protocol is TCP (Service port name or appProtocol),
  // carried over mTLS to its inbound sidecar, which authorizes the connection.
  // Any other tunnel would carry bytes the mesh cannot see or authorize.
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = () =>
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nserver: ${OUTBOUND_SERVER}\r\n\r\n`)
    const match = /^([^:]+):(\d+)$/.exec(req.url ?? '')
    if (!match) return refuse()
    const port = Number(match[2])
    const endpoint = options.directory.resolve(match[1] as string, port, options.workload.namespace)
    if (endpoint?.service.ports.find((p) => p.port === port)?.protocol !== 'tcp') return refuse()
    const upstream = options.client.connect(endpoint)
    options.telemetry
      ?.tcpOutbound(socket as Socket, { service: endpoint.service, workload: endpoint.workload, port })
      .upstream(upstream, `127.0.0.1:${endpoint.port}`)
    const opened = endpoint.spiffeId === null ? 'connect' : 'secureConnect'
    upstream.once(opened, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(socket).pipe(upstream)
    })
    // A refused or closed connection reaches the app as a closed tunnel, as TCP would.
    upstream.on('error', () => socket.destroy())
    upstream.on('close', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
    socket.on('close', () => upstream.destroy())
  })
  return listenOnLoopback(server, options.listenPort)
}
