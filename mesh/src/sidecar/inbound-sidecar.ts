// A workload's inbound sidecar: mTLS on the service port (under STRICT a
// plaintext client or another CA's certificate never gets an HTTP response;
// under PERMISSIVE plaintext is served without a principal), the peer's SVID
// checked, the AuthorizationPolicies asked, and an allowed request forwarded
// to the app on loopback with x-forwarded-client-cert as Istio sets it.
import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { Pool } from 'undici'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { type Decision, evaluate } from '../authz/evaluate.ts'
import { normalizePath, splitPathAndQuery } from '../authz/normalize-path.ts'
import { principalOf, spiffeIdOf } from '../ca/spiffe-peer.ts'
import type { SvidSource } from '../ca/svid-rotation.ts'
import type { MtlsMode, Workload } from '../manifests/mesh-model.ts'
import type { ProxyTelemetry } from '../telemetry/proxy-telemetry.ts'
import {
  answerCodecErrors,
  INBOUND_SERVER,
  MAX_REQUEST_HEADERS_BYTES,
  sendBadRequest,
  sendNotRelativePath,
  sendRbacDenied,
} from './envoy-responses.ts'
import { DEFAULT_RETRIES, endToEndHeaders, forward } from './forward.ts'
import { listenOnLoopback, type RunningSidecar } from './listen.ts'
import { upstreamTimeouts } from './upstream-timeout.ts'

export type { RunningSidecar }

export type DecisionLog = (entry: {
  workload: string
  from: string | null
  method: string
  path: string
  decision: Decision
}) => void

export interface InboundSidecarOptions {
  workload: Workload
  svid: SvidSource
  rootPem: string
  /** Read on every request, so a policy reload takes effect at once. */
  policies: () => readonly CompiledPolicy[]
  /** STRICT: mTLS only; PERMISSIVE: plaintext accepted too, without a principal. */
  mtlsMode?: MtlsMode
  /** The port policies see as destination.port (the container port). */
  servicePort: number
  /** Where to listen; 0 for any free port (tests). */
  listenPort: number
  /** The address to listen on: 127.0.0.1 by default (all proxies share loopback under pnpm dev). */
  listenHost?: string
  /** Read on every request: `mesh sidecar` moves it when the app restarts on another port. */
  appPort: number
  onDecision?: DecisionLog
  /** How long to wait for the app's answer (see upstream-timeout.ts). */
  upstreamTimeoutMs?: number
  /** Metrics, access log and spans for each request (`reporter="destination"`). */
  telemetry?: ProxyTelemetry
}

interface PeerInfo {
  spiffeId: string
  hash: string
}

export async function startInboundSidecar(options: InboundSidecarOptions): Promise<RunningSidecar> {
  const { workload, svid } = options
  const self = `spiffe://${workload.principal}`
  const peers = new WeakMap<TLSSocket, PeerInfo>()
  const appPool = (port: number) =>
    new Pool(`http://127.0.0.1:${port}`, {
      connections: 64,
      keepAliveTimeout: 60_000,
      ...upstreamTimeouts(options.upstreamTimeoutMs),
    })
  let appPort = options.appPort
  let app = appPool(appPort)
  /** The pool to the app's port now; the old pool finishes what it carries and closes. */
  const appNow = () => {
    if (options.appPort !== appPort) {
      void app.close()
      appPort = options.appPort
      app = appPool(appPort)
    }
    return app
  }

  const tlsContext = () => ({ key: svid.current().keyPem, cert: svid.current().certPem, ca: options.rootPem })
  const server: Server = createServer({
    ...tlsContext(),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60_000,
    maxHeaderSize: MAX_REQUEST_HEADERS_BYTES,
  })
  answerCodecErrors(server, INBOUND_SERVER)
  svid.onRotate(() => server.setSecureContext(tlsContext()))

  server.on('secureConnection', (socket: TLSSocket) => {
    try {
      const cert = socket.getPeerX509Certificate()
      if (!cert) throw new Error('no peer certificate')
      peers.set(socket, {
        spiffeId: spiffeIdOf(cert.raw),
        hash: createHash('sha256').update(cert.raw).digest('hex'),
      })
    } catch {
      socket.destroy()
    }
  })
  // A failed handshake gets no HTTP response. A client that spoke TLS hears the
  // alert (unknown CA, no certificate) before the close; plaintext is just closed.
  server.on('tlsClientError', (error, socket) => {
    if (
      /HTTP_REQUEST|WRONG_VERSION_NUMBER|UNEXPECTED_MESSAGE/i.test(
        String((error as NodeJS.ErrnoException).code ?? error.message),
      )
    )
      socket.destroy()
    else socket.end()
  })

  const handle = (req: IncomingMessage, res: ServerResponse, peer: PeerInfo | null) => {
    const principal = peer ? principalOf(peer.spiffeId) : null
    // A caller's sidecar sent one; a plaintext caller (PERMISSIVE) may not, and Envoy generates it then.
    req.headers['x-request-id'] ||= randomUUID()
    const exchange = options.telemetry?.inbound(req, res, options.servicePort, principal)
    const target = req.url ?? ''
    if (!target.startsWith('/')) return sendNotRelativePath(res, INBOUND_SERVER)
    // Envoy answers 400 to a path its normalization rejects (authz/normalize-path.ts).
    const path = normalizePath(target)
    if (path === null) return sendBadRequest(res, INBOUND_SERVER)
    const decision = evaluate(options.policies(), {
      namespace: workload.namespace,
      labels: workload.labels,
      principal,
      sourceIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      path: target,
      port: options.servicePort,
      host: req.headers.host ?? '',
      headers: req.headersDistinct,
    })
    options.onDecision?.({
      workload: workload.name,
      from: principal,
      method: req.method ?? '',
      path,
      decision,
    })
    exchange?.decided(decision)
    if (decision.decision === 'DENY') return sendRbacDenied(res, INBOUND_SERVER)

    const headers = endToEndHeaders(req.headers)
    if (peer) {
      // APPEND_FORWARD with Subject, URI and DNS (istio/istio pilot/pkg/networking/core/
      // listener_inbound.go buildSidecarInboundHTTPOpts): this hop's element is appended
      // to what the caller's proxy forwarded. Callers' sidecars strip what apps set
      // (Envoy's default SANITIZE on the outbound listener), so one element reaches the app.
      const current = `By=${self};Hash=${peer.hash};Subject="";URI=${peer.spiffeId}`
      const forwarded = req.headers['x-forwarded-client-cert']
      headers['x-forwarded-client-cert'] = forwarded ? `${forwarded},${current}` : current
    } else {
      // Without mutual TLS Envoy removes the header whatever the mode
      // (envoyproxy/envoy source/common/http/conn_manager_utility.cc mutateXfccRequestHeader).
      delete headers['x-forwarded-client-cert']
    }
    // Not an edge proxy (use_remote_address false): x-forwarded-proto is set only when
    // absent (envoyproxy/envoy source/common/http/conn_manager_utility.cc
    // mutateRequestHeaders), so a mesh call keeps the `http` its caller's sidecar set.
    headers['x-forwarded-proto'] ??= peer ? 'https' : 'http'
    if (exchange) {
      exchange.app(`127.0.0.1:${options.appPort}`)
      // Envoy's tracer continues the trace: the app's span is this proxy's child.
      if (exchange.span) headers.traceparent = exchange.span.traceparent()
    }
    forward(req, res, {
      dispatcher: appNow(),
      path: path + splitPathAndQuery(target).query,
      headers,
      server: INBOUND_SERVER,
      // Inbound routes: `reset-before-request`, 2 retries (retry.go defaultInboundRetryOn).
      retries: DEFAULT_RETRIES,
    })
  }

  server.on('request', (req, res) => {
    const peer = peers.get(req.socket as TLSSocket)
    if (!peer) return req.socket.destroy()
    handle(req, res, peer)
  })

  if (options.mtlsMode === 'PERMISSIVE') {
    // PERMISSIVE: one port takes both, told apart by the first byte as Envoy's
    // tls_inspector does (0x16 opens a TLS handshake).
    const plain = createHttpServer(
      { keepAliveTimeout: 60_000, maxHeaderSize: MAX_REQUEST_HEADERS_BYTES },
      (req, res) => handle(req, res, null),
    )
    answerCodecErrors(plain, INBOUND_SERVER)
    const sockets = new Set<Socket>()
    const front = createTcpServer((socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      socket.once('readable', () => {
        const first = socket.read(1) as Buffer | null
        if (first === null) return socket.destroy()
        socket.unshift(first)
        ;(first[0] === 0x16 ? server : plain).emit('connection', socket)
      })
    })
    front.listen(options.listenPort, options.listenHost ?? '127.0.0.1')
    await once(front, 'listening')
    return {
      port: (front.address() as AddressInfo).port,
      async close() {
        for (const socket of sockets) socket.destroy()
        await new Promise<void>((resolve) => front.close(() => resolve()))
        await app.destroy()
      },
    }
  }

  return listenOnLoopback(
    server,
    options.listenPort,
    async () => {
      await app.destroy()
    },
    options.listenHost,
  )
}
