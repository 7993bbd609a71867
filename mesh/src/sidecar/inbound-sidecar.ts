// A workload's inbound sidecar: mTLS on the service port (a plaintext client
// or another CA's certificate never gets an HTTP response), the peer's SVID
// checked, the AuthorizationPolicies asked, and an allowed request forwarded
// to the app on loopback with x-forwarded-client-cert as Istio sets it.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { Pool } from 'undici'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { type Decision, evaluate } from '../authz/evaluate.ts'
import { normalizePath, splitPathAndQuery } from '../authz/normalize-path.ts'
import { principalOf, spiffeIdOf } from '../ca/spiffe-peer.ts'
import type { SvidSource } from '../ca/svid-rotation.ts'
import type { Workload } from '../manifests/mesh-model.ts'
import { sendBadRequest, sendRbacDenied } from './envoy-responses.ts'
import { endToEndHeaders, forward } from './forward.ts'
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
  /** The port policies see as destination.port (the container port). */
  servicePort: number
  /** Where to listen; 0 for any free port (tests). */
  listenPort: number
  appPort: number
  onDecision?: DecisionLog
  /** How long to wait for the app's answer (see upstream-timeout.ts). */
  upstreamTimeoutMs?: number
}

interface PeerInfo {
  spiffeId: string
  hash: string
}

export async function startInboundSidecar(options: InboundSidecarOptions): Promise<RunningSidecar> {
  const { workload, svid } = options
  const self = `spiffe://${workload.principal}`
  const peers = new WeakMap<TLSSocket, PeerInfo>()
  const app = new Pool(`http://127.0.0.1:${options.appPort}`, {
    connections: 64,
    keepAliveTimeout: 60_000,
    ...upstreamTimeouts(options.upstreamTimeoutMs),
  })

  const tlsContext = () => ({ key: svid.current().keyPem, cert: svid.current().certPem, ca: options.rootPem })
  const server: Server = createServer({
    ...tlsContext(),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    keepAliveTimeout: 60_000,
  })
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

  server.on('request', (req, res) => {
    const peer = peers.get(req.socket as TLSSocket)
    if (!peer) return req.socket.destroy()
    const target = req.url ?? ''
    if (!target.startsWith('/')) return sendBadRequest(res)
    const path = normalizePath(target)
    const decision = evaluate(options.policies(), {
      namespace: workload.namespace,
      labels: workload.labels,
      principal: principalOf(peer.spiffeId),
      sourceIp: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      path,
      port: options.servicePort,
      host: req.headers.host ?? '',
      headers: req.headers,
      sni: (req.socket as TLSSocket).servername || undefined,
    })
    options.onDecision?.({
      workload: workload.name,
      from: principalOf(peer.spiffeId),
      method: req.method ?? '',
      path,
      decision,
    })
    if (decision.decision === 'DENY') return sendRbacDenied(res)

    const headers = endToEndHeaders(req.headers)
    headers['x-forwarded-client-cert'] = `By=${self};Hash=${peer.hash};Subject="";URI=${peer.spiffeId}`
    headers['x-forwarded-proto'] = 'https'
    void forward(req, res, { dispatcher: app, path: path + splitPathAndQuery(target).query, headers })
  })

  return listenOnLoopback(server, options.listenPort, async () => {
    await app.destroy()
  })
}
