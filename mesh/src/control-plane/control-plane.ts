// `mesh control-plane`: the local istiod. It holds the CA and the compiled
// configuration, and serves over HTTPS (a certificate from the mesh CA):
//   POST /v1/certificates   a CSR signed for the identity the caller's token names
//   GET  /v1/config         the validated manifests a proxy builds its model from
//   GET  /v1/config/watch   server-sent events: the config and the endpoints, now and on each change
//   POST /v1/endpoints      a sidecar says where its inbound listeners are
//   GET  /v1/endpoints      every registered workload's endpoints
//   GET  /healthz/ready     200 once it serves
// Every /v1 route needs `Authorization: Bearer <workload token>`.
// Upstream: istiod's CA answers CreateCertificate with the SPIFFE identity of
// the authenticated caller, never the CSR's (istio/istio
// security/pkg/server/ca/server.go), and pushes configuration to connected
// proxies on change (pilot/pkg/xds/discovery.go ConfigUpdate, ads.go).
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import Type from 'typebox'
import { CertificateAuthority, CsrError } from '../ca/certificate-authority.ts'
import { startRotation } from '../ca/svid-rotation.ts'
import { ManifestConfig } from './manifest-config.ts'
import {
  type CertificateResponse,
  type ConfigSnapshot,
  ENDPOINTS_FILE,
  type EndpointTable,
  type WatchEvent,
} from './protocol.ts'
import { identitiesOf, type TokenIdentity, WorkloadTokens } from './tokens.ts'

export interface ControlPlaneOptions {
  manifests: string
  meshDir: string
  /** 127.0.0.1 by default. */
  host?: string
  /** 15012 (istiod's xDS and CA port) by default; 0 for any free port. */
  port: number
  /** The lifetime of each certificate it signs (a day by default, istiod's DEFAULT_WORKLOAD_CERT_TTL). */
  svidLifetimeMs?: number
  /** Reload and push when the manifests change (on by default). */
  watch?: boolean
  log: (line: string) => void
}

export interface RunningControlPlane {
  url: string
  port: number
  ca: CertificateAuthority
  config: ManifestConfig
  close(): Promise<void>
}

const DAY_MS = 24 * 3600_000
/** The names its own certificate carries: Istio's service name, this process's, and loopback. */
const SERVING_NAMES = ['istiod', 'control-plane', 'localhost', '127.0.0.1']
/** Names the gateway may ask a serving certificate for besides its Gateways' hosts (mesh dev's host aliases). */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1'])

class ControlPlaneError extends Error {
  readonly statusCode: number
  readonly code: string
  constructor(statusCode: number, code: string, detail: string) {
    super(detail)
    this.statusCode = statusCode
    this.code = code
  }
}

function problem(reply: FastifyReply, status: number, code: string, detail: string) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: `urn:docs-mesh:problem:${code}`, title: code, status, detail, code })
}

const Registration = Type.Object(
  {
    workload: Type.String({ minLength: 1, maxLength: 253 }),
    address: Type.String({ minLength: 1, maxLength: 253 }),
    ports: Type.Record(
      Type.String({ pattern: '^[0-9]{1,5}$' }),
      Type.Integer({ minimum: 1, maximum: 65535 }),
    ),
  },
  { additionalProperties: false },
)
const CertificateRequest = Type.Object(
  {
    csr: Type.String({ minLength: 1, maxLength: 16_384 }),
    hosts: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 32 }),
    ),
  },
  { additionalProperties: false },
)
const WorkloadQuery = Type.Object({ workload: Type.String({ minLength: 1, maxLength: 253 }) })

function readEndpoints(file: string): EndpointTable {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return {}
  }
  const table: EndpointTable = {}
  if (typeof parsed !== 'object' || parsed === null) return table
  for (const [workload, entry] of Object.entries(parsed)) {
    const { address, ports } = (entry ?? {}) as { address?: unknown; ports?: unknown }
    if (typeof address !== 'string' || typeof ports !== 'object' || ports === null) continue
    const valid = Object.entries(ports).filter(([, port]) => Number.isInteger(port))
    table[workload] = { address, ports: Object.fromEntries(valid) as Record<string, number> }
  }
  return table
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const { log } = options
  const lifetimeMs = options.svidLifetimeMs ?? DAY_MS
  const config = new ManifestConfig(options.manifests, log)
  const ca = await CertificateAuthority.loadOrCreate(join(options.meshDir, 'ca'))
  // The trust bundle proxies are given (--root-cert), as istiod publishes istio-ca-root-cert.
  writeFileSync(join(options.meshDir, 'ca', 'root.pem'), ca.rootPem)
  const tokens = new WorkloadTokens(options.meshDir)
  for (const identity of identitiesOf(config.model)) tokens.ensure(identity)
  // Where the sidecars registered, kept on disk across restarts of the control plane, as
  // Kubernetes keeps a Service's EndpointSlices whatever happens to istiod: a restarted
  // control plane pushes every endpoint it knew, not a table that fills up only as the
  // sidecars reconnect (the gateway answered "no healthy upstream" meanwhile).
  const endpointsFile = join(options.meshDir, ENDPOINTS_FILE)
  const endpoints: EndpointTable = readEndpoints(endpointsFile)
  const streams = new Set<ServerResponse>()

  const serving = await startRotation(() => ca.issueServerCertificate(SERVING_NAMES, lifetimeMs))
  const app = Fastify({
    https: { key: serving.current().keyPem, cert: serving.current().certPem },
    bodyLimit: 64 * 1024,
  })
  serving.onRotate((c) => app.server.setSecureContext({ key: c.keyPem, cert: c.certPem }))

  const push = (event: WatchEvent) => {
    const frame = `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`
    for (const stream of streams) stream.write(frame)
  }
  config.onChange((snapshot, model) => {
    for (const identity of identitiesOf(model)) tokens.ensure(identity)
    push({ event: 'config', data: snapshot })
  })

  const identityOf = (req: FastifyRequest): TokenIdentity => {
    const header = req.headers.authorization ?? ''
    const match = /^Bearer ([A-Za-z0-9_-]{16,256})$/.exec(header)
    const identity = match ? tokens.identify(match[1] as string) : null
    if (!identity)
      throw new ControlPlaneError(
        401,
        'ERR_TOKEN_INVALID',
        'a valid workload token is required (Authorization: Bearer)',
      )
    return identity
  }
  const requireSelf = (identity: TokenIdentity, workload: string) => {
    if (identity.name !== workload)
      throw new ControlPlaneError(
        403,
        'ERR_WORKLOAD_FORBIDDEN',
        `the token names ${identity.name}, not ${workload}`,
      )
  }

  app.setErrorHandler(
    (error: Error & { statusCode?: number; code?: string; validation?: unknown }, _req, reply) => {
      if (error instanceof ControlPlaneError)
        return problem(reply, error.statusCode, error.code, error.message)
      if (error instanceof CsrError) return problem(reply, 400, error.code, error.message)
      if (error.validation) return problem(reply, 400, 'ERR_BAD_REQUEST', error.message)
      const status =
        error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
      if (status === 500) log(`error: ${error.stack ?? error.message}`)
      return problem(
        reply,
        status,
        status === 500 ? 'ERR_INTERNAL' : (error.code ?? 'ERR_BAD_REQUEST'),
        status === 500 ? 'internal error' : error.message,
      )
    },
  )
  app.setNotFoundHandler((req, reply) =>
    problem(reply, 404, 'ERR_NOT_FOUND', `no route ${req.method} ${req.url}`),
  )

  app.get('/healthz/ready', async () => ({ status: 'ready', version: config.snapshot.version }))

  app.post(
    '/v1/certificates',
    { schema: { body: CertificateRequest } },
    async (req): Promise<CertificateResponse> => {
      const identity = identityOf(req)
      const body = req.body as { csr: string; hosts?: string[] }
      if (body.hosts) {
        // A serving certificate for browsers: only the gateway, only for its Gateways' hosts (and loopback names).
        if (!identity.gateway)
          throw new ControlPlaneError(
            403,
            'ERR_HOSTS_FORBIDDEN',
            'only the gateway gets a serving certificate',
          )
        const allowed = new Set(config.model.gateways.flatMap((g) => g.servers.flatMap((s) => s.hosts)))
        const refused = body.hosts.filter((h) => !allowed.has(h) && !LOOPBACK_NAMES.has(h))
        if (refused.length > 0)
          throw new ControlPlaneError(
            403,
            'ERR_HOSTS_FORBIDDEN',
            `not a host of the Gateways: ${refused.join(', ')}`,
          )
        const signed = await ca.signCsr(body.csr, { hosts: body.hosts }, lifetimeMs)
        return { certificateChain: [signed.certPem], rootPem: ca.rootPem }
      }
      const signed = await ca.signCsr(body.csr, { spiffeId: `spiffe://${identity.principal}` }, lifetimeMs)
      log(`signed an SVID for spiffe://${identity.principal}, valid until ${signed.notAfter.toISOString()}`)
      return { certificateChain: [signed.certPem], rootPem: ca.rootPem }
    },
  )

  app.get('/v1/config', { schema: { querystring: WorkloadQuery } }, async (req): Promise<ConfigSnapshot> => {
    requireSelf(identityOf(req), (req.query as { workload: string }).workload)
    return config.snapshot
  })

  app.get('/v1/config/watch', { schema: { querystring: WorkloadQuery } }, async (req, reply) => {
    requireSelf(identityOf(req), (req.query as { workload: string }).workload)
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    raw.write(`event: config\ndata: ${JSON.stringify(config.snapshot)}\n\n`)
    raw.write(`event: endpoints\ndata: ${JSON.stringify(endpoints)}\n\n`)
    streams.add(raw)
    // A comment now and then keeps idle-timeouts in between from closing the stream.
    const keepAlive = setInterval(() => raw.write(':\n\n'), 15_000)
    raw.on('close', () => {
      clearInterval(keepAlive)
      streams.delete(raw)
    })
  })

  app.post('/v1/endpoints', { schema: { body: Registration } }, async (req, reply) => {
    const body = req.body as { workload: string; address: string; ports: Record<string, number> }
    requireSelf(identityOf(req), body.workload)
    endpoints[body.workload] = { address: body.address, ports: body.ports }
    // Written whole and renamed: a control plane starting meanwhile never reads half a file.
    writeFileSync(`${endpointsFile}.tmp`, JSON.stringify(endpoints))
    renameSync(`${endpointsFile}.tmp`, endpointsFile)
    push({ event: 'endpoints', data: endpoints })
    return reply.code(204).send()
  })

  app.get('/v1/endpoints', async (req): Promise<EndpointTable> => {
    identityOf(req)
    return endpoints
  })

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port })
  const { port } = app.server.address() as AddressInfo
  if (options.watch ?? true) config.watch()
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    ca,
    config,
    async close() {
      config.close()
      serving.stop()
      for (const stream of streams) stream.destroy()
      await app.close()
    },
  }
}
