// One request from a chosen identity into a running local mesh, for people
// (`mesh curl`) and for the e2e matrix. Exit codes follow curl: 0 a response
// came back, 7 connection refused, 28 timed out (a connection the network
// dropped, for a caller without a sidecar), 35 TLS handshake failed, 56 the
// connection closed without a response.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { PeerCertificate, TLSSocket } from 'node:tls'
import { CertificateAuthority, type IssuedCertificate } from '../ca/certificate-authority.ts'
import { spiffeIdOf } from '../ca/spiffe-peer.ts'
import { gatewayWorkloadOf } from '../gateway/gateway-workload.ts'
import { GATEWAY_WORKLOAD } from '../gateway/ingress-gateway.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'
import {
  decideConnection,
  meshNetworkModel,
  type NetworkModel,
  type NetworkSource,
  podNamed,
  sourceForPrincipal,
} from '../network/index.ts'
import type { MeshState } from '../runtime/local-mesh.ts'
import { GATEWAY_SERVER } from '../sidecar/envoy-responses.ts'
import {
  CONNECT_TIMEOUT_BODY,
  DEFAULT_CONNECT_TIMEOUT_MS,
  dropAnswerDelayMs,
} from '../sidecar/network-drop.ts'
import { type Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'

export type CurlSource = string // a workload name, or 'ingress' | 'plaintext' | 'foreign-ca'

export interface CurlRequest {
  method: string
  url: string
  headers?: Record<string, string>
  body?: string
}

export interface CurlResult {
  exitCode: 0 | 7 | 28 | 35 | 56
  status?: number
  headers?: IncomingHttpHeaders
  body?: string
  error?: string
}

export interface CurlContext {
  model: MeshModel
  state: MeshState
  ca: CertificateAuthority
  timeoutMs?: number
}

function classify(error: NodeJS.ErrnoException): CurlResult {
  const code = error.code ?? ''
  if (code === 'ECONNREFUSED') return { exitCode: 7, error: error.message }
  if (/SSL|TLS|CERT|EPROTO|UNABLE_TO_VERIFY|alert/i.test(`${code} ${error.message}`))
    return { exitCode: 35, error: error.message }
  return { exitCode: 56, error: error.message }
}

type Sender = typeof httpRequest | typeof httpsRequest

function send(
  sender: Sender,
  options: Record<string, unknown>,
  body: string | undefined,
  timeoutMs: number,
): Promise<CurlResult> {
  // As curl: a connection of its own for each call (Node's global agent would keep one
  // alive and hand it to the next call, whatever that call's source).
  const fresh = { ...options, agent: false }
  return new Promise((resolve) => {
    // In TLS 1.3 the client's side of the handshake ends before the server has
    // checked the client certificate; the server's session ticket is the first
    // sign it accepted it. A connection that dies before that was refused in
    // the handshake.
    let accepted = false
    const fail = (error: NodeJS.ErrnoException) => {
      const socket = req.socket as TLSSocket | null
      const tls13 = socket && 'getProtocol' in socket && socket.getProtocol?.() === 'TLSv1.3'
      resolve(
        tls13 && !accepted && error.code === 'ECONNRESET'
          ? { exitCode: 35, error: 'the server refused the TLS handshake' }
          : classify(error),
      )
    }
    const req = sender(fresh, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          exitCode: 0,
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      )
      res.on('error', fail)
    })
    req.on('socket', (socket) =>
      socket.once('session', () => {
        accepted = true
      }),
    )
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', fail)
    req.end(body)
  })
}

const OUTSIDE_APP_SOURCES = ['ingress', 'plaintext', 'foreign-ca']
const networks = new WeakMap<MeshModel, NetworkModel>()

/**
 * The network layer for a caller that is not a workload's app: the gateway's
 * identity calls from the gateway's pod, which has its Envoy, so a drop is
 * its 503 after every connect attempt timed out; plaintext and foreign-CA
 * clients come from outside the cluster, without a sidecar, so a drop is
 * silence until the client gives up (curl's exit 28).
 */
async function networkDrop(
  ctx: CurlContext,
  from: CurlSource,
  endpoint: Endpoint,
  timeoutMs: number,
): Promise<CurlResult | null> {
  let network = networks.get(ctx.model)
  if (!network) {
    network = meshNetworkModel(ctx.model)
    networks.set(ctx.model, network)
  }
  const destination = podNamed(network, endpoint.workload, endpoint.service.namespace)
  const gatewayPrincipal = `${ctx.model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`
  const source: NetworkSource =
    from === 'ingress'
      ? sourceForPrincipal(ctx.model, network, gatewayPrincipal)
      : { kind: 'outside', ip: null }
  if (destination && decideConnection(network, source, destination, endpoint.targetPort).verdict === 'ALLOW')
    return null
  if (from === 'ingress') {
    await new Promise((r) =>
      setTimeout(r, dropAnswerDelayMs(ctx.state.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS)),
    )
    return {
      exitCode: 0,
      status: 503,
      headers: { server: GATEWAY_SERVER, 'content-type': 'text/plain' },
      body: CONNECT_TIMEOUT_BODY,
    }
  }
  await new Promise((r) => setTimeout(r, timeoutMs))
  return { exitCode: 28, error: `connection to ${endpoint.service.name} timed out (dropped by the network)` }
}

const foreignCa = CertificateAuthority.create('foreign root')
const svids = new Map<string, Promise<IssuedCertificate>>()
function svidFrom(
  ca: CertificateAuthority | Promise<CertificateAuthority>,
  spiffeId: string,
  key: string,
): Promise<IssuedCertificate> {
  let svid = svids.get(key)
  if (!svid) {
    svid = Promise.resolve(ca).then((c) => c.issueSvid(spiffeId, 3600_000))
    svids.set(key, svid)
  }
  return svid
}

/**
 * The request target exactly as written (like curl --path-as-is): WHATWG URL
 * parsing would resolve `..` and backslashes before the mesh ever saw them.
 */
export function rawTarget(url: string): string {
  const rest = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*(.*)$/i.exec(url)?.[1] ?? ''
  if (rest === '') return '/'
  return rest.startsWith('?') ? `/${rest}` : rest
}

export async function meshCurl(
  ctx: CurlContext,
  from: CurlSource,
  request: CurlRequest,
): Promise<CurlResult> {
  const url = new URL(request.url)
  const timeoutMs = ctx.timeoutMs ?? 10_000
  const headers: Record<string, string> = { ...request.headers }
  if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body))
  const path = rawTarget(request.url)

  const workload = ctx.state.workloads[from]
  if (workload) {
    // As that workload's app: through its outbound sidecar.
    return send(
      httpRequest,
      {
        host: '127.0.0.1',
        port: workload.proxyPort,
        method: request.method,
        path: `${url.protocol}//${url.host}${path}`,
        headers: { host: url.host, ...headers },
      },
      request.body,
      timeoutMs,
    )
  }

  const isGateway = url.protocol === 'https:'
  if (isGateway) {
    if (from !== 'ingress' && from !== 'plaintext')
      return { exitCode: 35, error: `--from ${from} cannot reach the gateway` }
    const port = Number(url.port || 443)
    const options = {
      host: '127.0.0.1',
      port,
      method: request.method,
      path,
      headers: { host: url.host, ...headers },
    }
    if (from === 'plaintext') return send(httpRequest, options, request.body, timeoutMs)
    return send(
      httpsRequest,
      { ...options, ca: ctx.ca.rootPem, servername: url.hostname },
      request.body,
      timeoutMs,
    )
  }

  const directory = new ServiceDirectory(
    ctx.model,
    (name, _ns, port) => ctx.state.workloads[name]?.inbound[port],
  )
  const endpoint = directory.resolve(url.hostname, Number(url.port || 80))
  if (!endpoint) return { exitCode: 7, error: `${url.host} is not a Service of the running mesh` }
  const dropped = OUTSIDE_APP_SOURCES.includes(from)
    ? await networkDrop(ctx, from, endpoint, timeoutMs)
    : null
  if (dropped) return dropped
  const base = {
    host: '127.0.0.1',
    port: endpoint.port,
    method: request.method,
    path,
    headers: { host: url.host, ...headers },
  }

  if (from === 'plaintext') return send(httpRequest, base, request.body, timeoutMs)

  // mTLS straight to the destination's sidecar, as the gateway's identity or
  // with a convincing SVID from a CA the mesh does not trust.
  // The gateway's identity: its Deployment's ServiceAccount in the manifests, or Istio's own.
  const gateway = ctx.model.gateways[0]
    ? gatewayWorkloadOf(ctx.model, ctx.model.gateways[0])
    : GATEWAY_WORKLOAD
  const gatewayPrincipal = `${ctx.model.trustDomain}/ns/${gateway.namespace}/sa/${gateway.serviceAccount}`
  const svid =
    from === 'ingress'
      ? await svidFrom(ctx.ca, `spiffe://${gatewayPrincipal}`, `ingress:${gatewayPrincipal}`)
      : from === 'foreign-ca'
        ? await svidFrom(foreignCa, `spiffe://${ctx.model.trustDomain}/ns/docs/sa/bucket-sa`, 'foreign')
        : null
  if (svid) {
    const checkServerIdentity = (_host: string, cert: PeerCertificate) =>
      spiffeIdOf(cert.raw) === endpoint.spiffeId ? undefined : new Error(`server is not ${endpoint.spiffeId}`)
    const tls = {
      ca: ctx.ca.rootPem,
      cert: svid.certPem,
      key: svid.keyPem,
      checkServerIdentity,
    }
    return send(httpsRequest, { ...base, ...tls }, request.body, timeoutMs)
  }
  return {
    exitCode: 7,
    error: `unknown source ${from}: a workload of the running mesh, ingress, plaintext or foreign-ca`,
  }
}
