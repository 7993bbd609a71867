// A workload's inbound sidecar on a TCP port (Service port named `tcp-…`,
// appProtocol `tcp`, `tls`, …): mTLS terminated, the policies asked once per
// connection in their TCP form, and the bytes piped to the app unparsed. A
// denied connection is closed without a byte, as Envoy's RBAC network filter does.
import { type Socket, connect as tcpConnect } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { principalOf, spiffeIdOf } from '../ca/spiffe-peer.ts'
import type { SvidSource } from '../ca/svid-rotation.ts'
import type { Workload } from '../manifests/mesh-model.ts'
import type { ProxyTelemetry } from '../telemetry/proxy-telemetry.ts'
import type { DecisionLog } from './inbound-sidecar.ts'
import type { RunningSidecar } from './listen.ts'
import { evaluateTcpConnection } from './tcp-authz.ts'

export interface InboundTcpSidecarOptions {
  workload: Workload
  svid: SvidSource
  rootPem: string
  policies: () => readonly CompiledPolicy[]
  servicePort: number
  listenPort: number
  /** The address to listen on: 127.0.0.1 by default. */
  listenHost?: string
  appPort: number
  onDecision?: DecisionLog
  /** The istio_tcp_* metrics and an access-log line per connection (`reporter="destination"`). */
  telemetry?: ProxyTelemetry
}

export async function startInboundTcpSidecar(options: InboundTcpSidecarOptions): Promise<RunningSidecar> {
  const { workload, svid } = options
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const context = () => ({ key: svid.current().keyPem, cert: svid.current().certPem, ca: options.rootPem })
  const server = createTlsServer({
    ...context(),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  })
  svid.onRotate(() => server.setSecureContext(context()))
  server.on('tlsClientError', (_error, socket) => socket.destroy())
  server.on('secureConnection', (socket: TLSSocket) => {
    track(socket)
    socket.on('error', () => socket.destroy())
    let principal: string
    try {
      const cert = socket.getPeerX509Certificate()
      if (!cert) throw new Error('no peer certificate')
      principal = principalOf(spiffeIdOf(cert.raw))
    } catch {
      return socket.destroy()
    }
    const decision = evaluateTcpConnection(options.policies(), {
      namespace: workload.namespace,
      labels: workload.labels,
      principal,
      sourceIp: socket.remoteAddress ?? '',
      port: options.servicePort,
    })
    options.onDecision?.({ workload: workload.name, from: principal, method: 'TCP', path: '', decision })
    const connection = options.telemetry?.tcpInbound(socket, options.servicePort, principal)
    if (decision.decision === 'DENY') {
      connection?.denied(decision)
      return socket.destroy()
    }
    const app = tcpConnect(options.appPort, '127.0.0.1')
    connection?.upstream(app, `127.0.0.1:${options.appPort}`)
    track(app)
    app.on('error', () => socket.destroy())
    socket.on('close', () => app.destroy())
    app.on('close', () => socket.destroy())
    socket.pipe(app).pipe(socket)
  })
  server.listen(options.listenPort, options.listenHost ?? '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
