// The whole system on a laptop: the manifests in k8s/base run by the local
// mesh, each workload's app started from its workspace package behind its
// sidecar. `mesh dev` and the e2e tests both start it from here.

import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { CertificateAuthority } from '../ca/certificate-authority.ts'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel, type MeshModel } from '../manifests/mesh-model.ts'
import type { DecisionLog } from '../sidecar/inbound-sidecar.ts'
import { packageDirFor, supervisedScriptOf, watchPathsOf } from './app-processes.ts'
import { type LocalMesh, type MeshState, type NetworkDropLog, startLocalMesh } from './local-mesh.ts'
import { type BackOff, type ProcessSpec, type Supervisor, startSupervisor } from './supervisor.ts'

export interface SystemOptions {
  root: string
  manifests: string
  /** Where the CA root and the running mesh's state live (git-ignored). */
  meshDir: string
  dataDir: string
  /** 'fixed': sidecars on the container ports, apps on port + 10000, the gateway on gatewayPort. 'free': any free ports (tests). */
  ports: 'fixed' | 'free'
  gatewayPort: number
  hostAliases: Record<string, string>
  baseEnv: Record<string, string | undefined>
  /** Extra settings for every app, e.g. LOG_LEVEL in tests. */
  appEnv?: Record<string, string>
  log: (line: string) => void
  onDecision?: DecisionLog
  readyTimeoutMs?: number
  /** The proxies' connect timeout for connections the NetworkPolicies drop. */
  connectTimeoutMs?: number
  onNetworkDrop?: NetworkDropLog
  /** Restart back-off for a crashed app (short defaults; see supervisor.ts). */
  backOff?: BackOff
  /** Lifetime of every SVID and of the gateway's certificate; each is renewed at half of it. */
  svidLifetimeMs?: number
  /** Aborting stops start-up: everything started so far is stopped before startSystem rejects. */
  signal?: AbortSignal
  /**
   * Istio's telemetry (on unless false): every proxy's metrics at its workload's
   * /stats/prometheus, merged with its app's, and access logs in <meshDir>/logs.
   */
  telemetry?: boolean
}

export interface RunningSystem {
  model: MeshModel
  ca: CertificateAuthority
  mesh: LocalMesh
  state: MeshState
  /** Every app's process (and the local OpenID provider's), supervised. */
  processes: Supervisor
  gatewayUrl: string
  /** The local OpenID provider, started outside the mesh (null when the workspace has none). */
  oidcIssuer: string | null
  stop(): Promise<void>
}

export const STATE_FILE = 'state.json'
/** The local OpenID provider's port under pnpm dev. */
export const OIDC_PORT = 9000

/**
 * What a Deployment reads from Secrets, made up locally: a random 32-byte
 * value per Secret key, kept in <meshDir>/secrets/<secret>.json (mode 0600)
 * so it survives restarts, as a cluster's Secret would.
 */
export function localSecretValues(
  meshDir: string,
  refs: Record<string, { secret: string; key: string }>,
): Record<string, string> {
  const values: Record<string, string> = {}
  for (const [name, { secret, key }] of Object.entries(refs)) {
    const file = join(meshDir, 'secrets', `${secret}.json`)
    const stored = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {}
    if (stored[key] === undefined) {
      stored[key] = randomBytes(32).toString('base64url')
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 })
    }
    values[name] = stored[key] as string
  }
  return values
}

/**
 * A free port for an app the system starts later, chosen below Linux's
 * ephemeral range (32768 and up): the sidecars and the gateway listen on port
 * 0 meanwhile, and the kernel could hand them a port picked from that range
 * before the app binds it (it would exit, failing the start).
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const server = createServer()
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => resolve(true))
    })
    if (!bound) continue
    await new Promise<void>((r) => server.close(() => r()))
    return port
  }
  throw new Error('no free port between 20000 and 32000')
}

/** A readiness probe as the kubelet's httpGet: a 2xx within the timeout. */
const httpProbe = (url: string) => async () => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    await res.body?.cancel()
    return res.ok
  } catch {
    return false
  }
}

export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  options.signal?.throwIfAborted()
  const model = buildMeshModel(loadManifests(options.manifests))
  const ca = await CertificateAuthority.loadOrCreate(join(options.meshDir, 'ca'))
  mkdirSync(options.dataDir, { recursive: true })

  const telemetry = options.telemetry !== false
  const appPorts: Record<string, number> = {}
  /** Where each app serves its own metrics (its pod's `prometheus.io/port`), for its workload's merged stats. */
  const metricsPorts: Record<string, number> = {}
  const specs: Array<{
    name: string
    dir: string
    script: string
    workload: (typeof model.workloads)[number]
  }> = []
  for (const workload of model.workloads) {
    const dir = packageDirFor(options.root, workload.name)
    if (!dir)
      throw new Error(
        `no workspace package for Deployment ${workload.name} (looked in services/${workload.name} and ${workload.name})`,
      )
    const containerPort = workload.containerPorts[0]
    if (containerPort === undefined) throw new Error(`Deployment ${workload.name} declares no container port`)
    appPorts[workload.name] = options.ports === 'fixed' ? containerPort + 10_000 : await freePort()
    if (telemetry) metricsPorts[workload.name] = await freePort()
    specs.push({ name: workload.name, dir, script: supervisedScriptOf(dir), workload })
  }

  const mesh = await startLocalMesh({
    model,
    ca,
    appPorts,
    inboundPorts: options.ports === 'fixed' ? 'container' : 'ephemeral',
    gatewayPort: options.ports === 'fixed' ? options.gatewayPort : 0,
    hostAliases: options.hostAliases,
    onDecision: options.onDecision,
    connectTimeoutMs: options.connectTimeoutMs,
    onNetworkDrop: options.onNetworkDrop,
    svidLifetimeMs: options.svidLifetimeMs,
    log: options.log,
    telemetry: telemetry
      ? {
          logDir: join(options.meshDir, 'logs'),
          appMetricsPorts: metricsPorts,
          // The apps read the same variable (their env starts from baseEnv).
          otlpEndpoint: options.baseEnv.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
        }
      : undefined,
  })
  const gatewayUrl = `https://localhost:${mesh.state.gatewayPort}`
  const stateFile = join(options.meshDir, STATE_FILE)
  writeFileSync(
    stateFile,
    JSON.stringify(
      { ...mesh.state, manifests: options.manifests, caDir: join(options.meshDir, 'ca') },
      null,
      2,
    ),
  )

  if (options.signal?.aborted) {
    rmSync(stateFile, { force: true })
    await mesh.close()
    options.signal.throwIfAborted()
  }

  // Outside the mesh, as Google is: the local OpenID provider, when the workspace has it.
  const oidcDir = packageDirFor(options.root, 'oidc')
  const oidcPort = options.ports === 'fixed' ? OIDC_PORT : await freePort()
  const oidcIssuer = `http://localhost:${oidcPort}`
  const pathFor = (dir: string) =>
    [
      join(dir, 'node_modules', '.bin'),
      join(options.root, 'node_modules', '.bin'),
      options.baseEnv.PATH ?? '',
    ].join(delimiter)
  const outside: ProcessSpec[] = oidcDir
    ? [
        {
          name: 'oidc-provider',
          cwd: oidcDir,
          command: supervisedScriptOf(oidcDir),
          watch: watchPathsOf(oidcDir),
          ready: httpProbe(`${oidcIssuer}/.well-known/openid-configuration`),
          env: {
            ...options.baseEnv,
            PATH: pathFor(oidcDir),
            HOST: '127.0.0.1',
            PORT: String(oidcPort),
            OIDC_ISSUER: oidcIssuer,
            // The same local Secret identity-api's Deployment reads its client credentials from.
            ...localSecretValues(options.meshDir, {
              OIDC_CLIENT_ID: { secret: 'oidc-client', key: 'client-id' },
              OIDC_CLIENT_SECRET: { secret: 'oidc-client', key: 'client-secret' },
            }),
            OIDC_REDIRECT_URIS: `${gatewayUrl}/auth/oidc/local/callback`,
          },
        },
      ]
    : []

  const processes = startSupervisor(
    [
      ...outside,
      ...specs.map((s) => ({
        name: s.name,
        cwd: s.dir,
        command: s.script,
        watch: watchPathsOf(s.dir),
        ready: httpProbe(`http://127.0.0.1:${appPorts[s.name]}/health/ready`),
        env: {
          ...options.baseEnv,
          ...localSecretValues(options.meshDir, s.workload.secretEnv),
          ...s.workload.env,
          PATH: pathFor(s.dir),
          HOST: '127.0.0.1',
          // A sidecar fronts every app here: it trusts x-forwarded-client-cert and x-envoy-external-address.
          MESH_SIDECAR: 'true',
          PORT: String(appPorts[s.name]),
          HTTP_PROXY: `http://127.0.0.1:${mesh.state.workloads[s.name]?.proxyPort}`,
          NO_PROXY: 'localhost,127.0.0.1,::1',
          DATABASE_URL: join(options.dataDir, 'docs-mesh.sqlite'),
          SESSION_ISSUER: `${gatewayUrl}/auth`,
          // The manifests' values are the cluster's; on this machine the gateway and provider are here.
          PUBLIC_URL: gatewayUrl,
          BLOB_DIR: join(options.dataDir, 'blobs'),
          // signing-api's witness file beside the database it witnesses, not the pod volume's path.
          WITNESS_FILE: join(options.dataDir, 'signing-api-witness.json'),
          ...(metricsPorts[s.name] === undefined ? {} : { METRICS_PORT: String(metricsPorts[s.name]) }),
          // Its spans name the workload, beside its sidecar's `<workload>.<namespace>`.
          OTEL_SERVICE_NAME: s.name,
          ...(oidcDir ? { OIDC_ISSUER: oidcIssuer } : {}),
          ...options.appEnv,
        },
      })),
    ],
    { log: options.log, backOff: options.backOff },
  )

  let stopped: Promise<void> | null = null
  const stop = () => {
    stopped ??= (async () => {
      // First, so nothing (mesh curl) takes the mesh for running while it stops.
      rmSync(stateFile, { force: true })
      await processes.stop()
      await mesh.close()
    })()
    return stopped
  }

  try {
    await processes.ready({ timeoutMs: options.readyTimeoutMs ?? 180_000, signal: options.signal })
  } catch (error) {
    await stop()
    throw error
  }
  return {
    model,
    ca,
    mesh,
    state: mesh.state,
    processes,
    gatewayUrl,
    oidcIssuer: oidcDir ? oidcIssuer : null,
    stop,
  }
}

/**
 * The whole system as the e2e matrix, the browser tests and the benchmark
 * start it: from the repository's k8s/overlays/local (base plus the
 * components every cluster gets), on free ports, with its own CA,
 * secrets and database in a fresh temporary folder that stop() removes.
 */
export async function startThrowawaySystem(
  options: Pick<
    SystemOptions,
    'root' | 'log' | 'onDecision' | 'connectTimeoutMs' | 'backOff' | 'svidLifetimeMs' | 'signal' | 'telemetry'
  > & {
    appEnv?: Record<string, string>
  },
): Promise<RunningSystem & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'docs-mesh-system-'))
  try {
    const system = await startSystem({
      root: options.root,
      manifests: join(options.root, 'k8s/overlays/local'),
      meshDir: join(dir, 'mesh'),
      dataDir: join(dir, 'data'),
      ports: 'free',
      gatewayPort: 0,
      hostAliases: { localhost: 'api.rossmck.dev' },
      baseEnv: process.env,
      appEnv: { LOG_LEVEL: 'warn', ...options.appEnv },
      log: options.log,
      onDecision: options.onDecision,
      connectTimeoutMs: options.connectTimeoutMs,
      backOff: options.backOff,
      svidLifetimeMs: options.svidLifetimeMs,
      signal: options.signal,
      telemetry: options.telemetry,
    })
    return {
      ...system,
      dir,
      async stop() {
        await system.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
