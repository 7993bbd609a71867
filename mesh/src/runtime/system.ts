// The whole system on a laptop, shaped as Istio runs it: a control plane
// (CA and configuration), one sidecar process per workload, the ingress
// gateway, and each workload's app from its workspace package, all under one
// supervisor. Every process binds its own port (0 under tests) and reports it;
// a workload's app starts once its sidecar is ready. `mesh dev` and the e2e
// tests both start it from here.

import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { Agent, type Dispatcher, request } from 'undici'
import { CertificateAuthority } from '../ca/certificate-authority.ts'
import { ENDPOINTS_FILE } from '../control-plane/protocol.ts'
import { GATEWAY_TOKEN_NAME, identitiesOf, tokenFile, WorkloadTokens } from '../control-plane/tokens.ts'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel, type MeshModel, type Workload } from '../manifests/mesh-model.ts'
import type { DecisionLog } from '../sidecar/inbound-sidecar.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../sidecar/network-drop.ts'
import {
  buildDevBundles,
  DEV_RUN,
  devEntryOf,
  freshBundleEnv,
  packageDirFor,
  supervisedScriptOf,
  watchPathsOf,
} from './app-processes.ts'
import type { MeshState, NetworkDropLog, WorkloadState } from './local-mesh.ts'
import { DECISION_LINE, DROP_LINE, type DropReport, FLUSHED_LINE, PORTS_LINE } from './proxy-agent.ts'
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
  /** Where each process listens now (updated as processes restart and report again). */
  state: MeshState
  /** The control plane, the gateway, every sidecar and app (and the local OpenID provider), supervised. */
  processes: Supervisor
  controlPlaneUrl: string
  /**
   * Resolves once every proxy process has handed over the decisions and drops it
   * logged so far (bounded); after a response, its decision is among them.
   */
  reportsSettled(): Promise<void>
  gatewayUrl: string
  /** The local OpenID provider, started outside the mesh (null when the workspace has none). */
  oidcIssuer: string | null
  stop(): Promise<void>
}

export const STATE_FILE = 'state.json'
/** The local OpenID provider's port under pnpm dev. */
export const OIDC_PORT = 9000
/** The control plane's port under pnpm dev: istiod's xDS and CA port. */
export const CONTROL_PLANE_PORT = 15012

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
 * A readiness probe as the kubelet's httpGet: a 2xx within the timeout. (undici's
 * request rather than fetch: fifteen processes probed four times a second while they
 * start, and fetch's WHATWG streams cost the supervisor most of its start-up CPU.)
 */
const httpProbe = (url: () => string | null, dispatcher?: Dispatcher) => async () => {
  const target = url()
  if (!target) return false
  try {
    const res = await request(target, { signal: AbortSignal.timeout(2_000), dispatcher })
    await res.body.dump()
    return res.statusCode >= 200 && res.statusCode < 300
  } catch {
    return false
  }
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`

/** A report line (`<prefix>{json}`) parsed, or null when the line is something else. */
function report<T>(line: string, prefix: string): T | null {
  if (!line.startsWith(prefix)) return null
  try {
    return JSON.parse(line.slice(prefix.length)) as T
  } catch {
    return null
  }
}

const LISTENING_LINE = 'listening '
/** The control plane's process name, and the gateway's (its Deployment's name in Istio). */
export const CONTROL_PLANE = 'control-plane'
export const GATEWAY = 'istio-ingressgateway'
/** The supervised process that runs a workload's sidecar. */
export const sidecarProcessName = (workload: string) => `${workload}-proxy`

export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  options.signal?.throwIfAborted()
  // Validated here as well, so a bad manifest fails before any process starts.
  const model = buildMeshModel(loadManifests(options.manifests))
  const caDir = join(options.meshDir, 'ca')
  // Made (or loaded) before the control plane starts, which then loads the same root.
  const ca = await CertificateAuthority.loadOrCreate(caDir)
  // The trust bundle and the workload tokens exist before any proxy starts (with fixed ports
  // the proxies start beside the control plane, which would otherwise be first to write them).
  writeFileSync(join(caDir, 'root.pem'), ca.rootPem)
  const tokens = new WorkloadTokens(options.meshDir)
  for (const identity of identitiesOf(model)) tokens.ensure(identity)
  // The control plane keeps the endpoints its sidecars registered across its own restarts;
  // a new system's sidecars are not the last run's, so it starts without them.
  rmSync(join(options.meshDir, ENDPOINTS_FILE), { force: true })
  mkdirSync(options.dataDir, { recursive: true })
  const fixed = options.ports === 'fixed'
  /** A sidecar's outbound port: with fixed ports the container port + 20000 (Istio's 15001 is per pod; here all share loopback). */
  /** An app's port: with fixed ports the container port + 10000; 0 (reported back) otherwise. */
  const appPortOf = (workload: Workload) => (fixed ? (workload.containerPorts[0] as number) + 10_000 : 0)
  const outboundPortOf = (workload: Workload) => (fixed ? (workload.containerPorts[0] as number) + 20_000 : 0)
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const trusting = new Agent({ connect: { ca: ca.rootPem } })
  const telemetry = options.telemetry !== false
  const logDir = join(options.meshDir, 'logs')
  /** Each proxy's access log, as `mesh sidecar --access-log` and `mesh gateway --access-log` are told. */
  const accessLogOf = (name: string) => (telemetry ? join(logDir, `${name}.log`) : null)

  const specs: Array<{ name: string; dir: string; script: string; workload: Workload }> = []
  for (const workload of model.workloads) {
    const dir = packageDirFor(options.root, workload.name)
    if (!dir)
      throw new Error(
        `no workspace package for Deployment ${workload.name} (looked in services/${workload.name} and ${workload.name})`,
      )
    if (workload.containerPorts[0] === undefined)
      throw new Error(`Deployment ${workload.name} declares no container port`)
    specs.push({ name: workload.name, dir, script: supervisedScriptOf(dir), workload })
  }

  // Every port is reported by the process that bound it (a `mesh-ports` or `listening` line).
  const state: MeshState & { controlPlaneUrl: string | null } = {
    gatewayPort: null,
    connectTimeoutMs,
    controlPlaneUrl: null,
    workloads: Object.fromEntries(
      model.workloads.map((w) => [
        w.name,
        {
          namespace: w.namespace,
          principal: w.principal,
          sidecar: true,
          appPort: 0,
          proxyPort: 0,
          inbound: {},
          accessLog: accessLogOf(w.name),
        },
      ]),
    ),
  }
  const health: Record<string, number> = {}
  /** Where each app serves its own metrics (its `listening` line's metricsPort), for its sidecar's merged stats. */
  const appMetricsPorts: Record<string, number> = {}
  let oidcPort: number | null = null
  const stateFile = join(options.meshDir, STATE_FILE)
  let stopping = false
  const statsUrl = (port: number) => `http://127.0.0.1:${port}/stats/prometheus`
  const saveState = () => {
    if (stopping) return
    // The console adds its consoleUrl to this file (recordInState): a rewrite keeps it.
    let consoleUrl: unknown = null
    try {
      consoleUrl =
        (JSON.parse(readFileSync(stateFile, 'utf8')) as { consoleUrl?: unknown }).consoleUrl ?? null
    } catch {
      // No file yet.
    }
    const text = JSON.stringify({ ...state, consoleUrl, manifests: options.manifests, caDir }, null, 2)
    // Written whole and renamed, so a reader (the console, mesh curl) never sees half a file.
    writeFileSync(`${stateFile}.tmp`, text)
    renameSync(`${stateFile}.tmp`, stateFile)
  }

  // Every process runs from a bundle of its entry point (scripts/dev-run.ts): the mesh's
  // eight as the apps' start:dev scripts do. The stale bundles are built here, in one
  // esbuild run, before any process starts, rather than by each process on its own; a
  // process's first start then skips its own check (firstStartEnv), its restarts do not.
  const meshEntry = join(options.root, 'mesh/src/cli/main.ts')
  const oidcDir = packageDirFor(options.root, 'oidc')
  const freshBundles = await buildDevBundles(options.root, [
    meshEntry,
    ...[...specs, ...(oidcDir ? [{ dir: oidcDir, script: supervisedScriptOf(oidcDir) }] : [])].flatMap((s) =>
      devEntryOf(s.dir, s.script),
    ),
  ])
  options.signal?.throwIfAborted()
  const mesh = (args: string[]) =>
    `exec ${quote(process.execPath)} ${quote(join(options.root, DEV_RUN))} ${quote(meshEntry)} ${args.map(quote).join(' ')}`
  // V8 keeps each process's compiled code on disk for the next start (Node's own default folder).
  const baseEnv = { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'), ...options.baseEnv }
  const meshEnv = { ...baseEnv, EXIT_ON_STDIN_CLOSE: 'true' }
  const meshFirstStartEnv = freshBundleEnv(freshBundles, meshEntry)
  const gatewayUrl = () => `https://localhost:${state.gatewayPort ?? options.gatewayPort}`
  const oidcIssuer = () => `http://localhost:${oidcPort ?? OIDC_PORT}`
  const pathFor = (dir: string) =>
    [
      join(dir, 'node_modules', '.bin'),
      join(options.root, 'node_modules', '.bin'),
      options.baseEnv.PATH ?? '',
    ].join(delimiter)
  const reportOptions = ['--connect-timeout', String(connectTimeoutMs), '--report-decisions']
  const flushes = new Map<string, () => void>()
  let flushCount = 0
  /** Drops and decisions the proxies report, handed to the caller's callbacks. */
  const onProxyLine = (line: string) => {
    if (line.startsWith(FLUSHED_LINE)) {
      flushes.get(line.slice(FLUSHED_LINE.length))?.()
      return true
    }
    const decision = report<Parameters<DecisionLog>[0]>(line, DECISION_LINE)
    if (decision) {
      options.onDecision?.(decision)
      return true
    }
    const drop = report<DropReport>(line, DROP_LINE)
    if (drop) {
      const service = model.services.find(
        (s) => s.name === drop.endpoint.service.name && s.namespace === drop.endpoint.service.namespace,
      )
      if (service)
        options.onNetworkDrop?.({
          from: drop.from,
          endpoint: { ...drop.endpoint, service, port: 0, spiffeId: null },
          verdict: drop.verdict,
        })
      return true
    }
    return false
  }

  const controlPlane: ProcessSpec = {
    name: CONTROL_PLANE,
    cwd: options.root,
    env: meshEnv,
    firstStartEnv: meshFirstStartEnv,
    // As istiod outlives the proxies it serves: none of them sees its configuration stream end.
    stopsAfter: [GATEWAY, ...specs.map((s) => sidecarProcessName(s.name))],
    command: () =>
      mesh([
        'control-plane',
        '--manifests',
        options.manifests,
        '--mesh-dir',
        options.meshDir,
        '--listen',
        // A restart keeps the address its proxies know.
        `127.0.0.1:${state.controlPlaneUrl ? new URL(state.controlPlaneUrl).port : fixed ? CONTROL_PLANE_PORT : 0}`,
        ...(options.svidLifetimeMs ? ['--svid-ttl', `${options.svidLifetimeMs}ms`] : []),
      ]),
    onLine(line) {
      const ports = report<{ listen: number }>(line, PORTS_LINE)
      if (!ports) return false
      state.controlPlaneUrl = `https://127.0.0.1:${ports.listen}`
      saveState()
      return true
    },
    ready: httpProbe(() => state.controlPlaneUrl && `${state.controlPlaneUrl}/healthz/ready`, trusting),
  }
  const trustArgs = (token: string) => [
    '--control-plane',
    state.controlPlaneUrl ?? `https://127.0.0.1:${CONTROL_PLANE_PORT}`,
    '--token-file',
    tokenFile(options.meshDir, token),
    '--root-cert',
    join(caDir, 'root.pem'),
  ]
  const healthUrl = (name: string) => () =>
    health[name] !== undefined ? `http://127.0.0.1:${health[name]}/healthz/ready` : null

  // With fixed ports every address is known up front: the proxies start beside the control
  // plane (and wait for it, as pilot-agent waits for istiod), the apps beside their sidecars
  // (Istio's default; readiness still waits for the sidecar). With ports reported, whoever
  // needs a port starts after the process that reports it.
  const afterIfFree = (...names: string[]) => (fixed ? [] : names)

  const gateway: ProcessSpec = {
    name: GATEWAY,
    cwd: options.root,
    env: meshEnv,
    firstStartEnv: meshFirstStartEnv,
    after: afterIfFree(CONTROL_PLANE),
    command: () =>
      mesh([
        'gateway',
        ...trustArgs(GATEWAY_TOKEN_NAME),
        // A restart keeps the port: the apps and the OpenID provider were told this URL.
        '--listen-port',
        String(state.gatewayPort ?? (fixed ? options.gatewayPort : 0)),
        '--health-port',
        '0',
        '--stats-port',
        '0',
        ...(accessLogOf(GATEWAY) ? ['--access-log', accessLogOf(GATEWAY) as string] : []),
        ...Object.entries(options.hostAliases).flatMap(([local, host]) => [
          '--host-alias',
          `${local}=${host}`,
        ]),
        ...reportOptions,
      ]),
    onLine(line) {
      const ports = report<{ gateway: number; health: number; stats: number }>(line, PORTS_LINE)
      if (!ports) return onProxyLine(line)
      state.gatewayPort = ports.gateway
      health[GATEWAY] = ports.health
      state.gateway = { workload: GATEWAY, statsUrl: statsUrl(ports.stats), accessLog: accessLogOf(GATEWAY) }
      saveState()
      return true
    },
    ready: httpProbe(healthUrl(GATEWAY)),
  }

  const sidecars: ProcessSpec[] = specs.map((s) => ({
    name: sidecarProcessName(s.name),
    cwd: options.root,
    env: meshEnv,
    firstStartEnv: meshFirstStartEnv,
    // As Kubernetes stops a pod's native sidecar after its app: the app drains through it.
    stopsAfter: [s.name],
    after: afterIfFree(CONTROL_PLANE),
    command: () => {
      const w = state.workloads[s.name] as WorkloadState
      return mesh([
        'sidecar',
        '--workload',
        s.name,
        ...trustArgs(s.name),
        // Known once the app reported it; until then (and after an app restart) it comes on stdin.
        '--app-port',
        w.appPort ? String(w.appPort) : fixed ? String(appPortOf(s.workload)) : 'stdin',
        '--inbound-port',
        fixed ? 'container' : '0',
        // A restart keeps the outbound port: the app's HTTP_PROXY points at it.
        '--outbound-port',
        String(w.proxyPort || outboundPortOf(s.workload)),
        '--health-port',
        '0',
        '--stats-port',
        '0',
        ...(w.accessLog ? ['--access-log', w.accessLog] : []),
        // Where the app serves its own metrics, once it reported it; until then it comes on stdin.
        ...(telemetry ? ['--app-metrics-port', String(appMetricsPorts[s.name] ?? 'stdin')] : []),
        ...reportOptions,
      ])
    },
    onLine(line) {
      const ports = report<{
        inbound: Record<string, number>
        outbound: number
        health: number
        stats: number
      }>(line, PORTS_LINE)
      if (!ports) return onProxyLine(line)
      const w = state.workloads[s.name] as WorkloadState
      w.inbound = ports.inbound
      w.proxyPort = ports.outbound
      health[s.name] = ports.health
      w.statsUrl = statsUrl(ports.stats)
      saveState()
      return true
    },
    ready: httpProbe(healthUrl(s.name)),
  }))

  // Outside the mesh, as Google is: the local OpenID provider, when the workspace has it.
  const outside: ProcessSpec[] = oidcDir
    ? [
        {
          name: 'oidc-provider',
          cwd: oidcDir,
          command: supervisedScriptOf(oidcDir),
          firstStartEnv: freshBundleEnv(freshBundles, devEntryOf(oidcDir, supervisedScriptOf(oidcDir))[0]),
          after: afterIfFree(GATEWAY),
          watch: watchPathsOf(oidcDir),
          env: () => ({
            ...baseEnv,
            PATH: pathFor(oidcDir),
            HOST: '127.0.0.1',
            // A restart keeps the port: identity-api was given this issuer.
            PORT: String(oidcPort ?? (fixed ? OIDC_PORT : 0)),
            ...(oidcPort ? { OIDC_ISSUER: oidcIssuer() } : {}),
            REPORT_LISTENING: 'true',
            EXIT_ON_STDIN_CLOSE: 'true',
            // The same local Secret identity-api's Deployment reads its client credentials from.
            ...localSecretValues(options.meshDir, {
              OIDC_CLIENT_ID: { secret: 'oidc-client', key: 'client-id' },
              OIDC_CLIENT_SECRET: { secret: 'oidc-client', key: 'client-secret' },
            }),
            OIDC_REDIRECT_URIS: `${gatewayUrl()}/auth/oidc/local/callback`,
          }),
          onLine(line) {
            const listening = report<{ port: number }>(line, LISTENING_LINE)
            if (!listening) return false
            oidcPort = listening.port
            return true
          },
          ready: httpProbe(() => (oidcPort ? `${oidcIssuer()}/.well-known/openid-configuration` : null)),
        },
      ]
    : []

  const apps: ProcessSpec[] = specs.map((s) => {
    const sidecarReady = httpProbe(healthUrl(s.name))
    const appReady = httpProbe(() => {
      const port = state.workloads[s.name]?.appPort
      return port ? `http://127.0.0.1:${port}/health/ready` : null
    })
    return {
      name: s.name,
      cwd: s.dir,
      command: s.script,
      firstStartEnv: freshBundleEnv(freshBundles, devEntryOf(s.dir, s.script)[0]),
      // As Istio's holdApplicationUntilProxyStarts: the app starts once its sidecar is ready.
      // Only identity-api signs in through the provider.
      after: afterIfFree(
        sidecarProcessName(s.name),
        GATEWAY,
        ...(oidcDir && s.workload.env.OIDC_ISSUER !== undefined ? ['oidc-provider'] : []),
      ),
      watch: watchPathsOf(s.dir),
      // Ready when the app is and its sidecar too: traffic reaches the app only through it.
      ready: async () => (await sidecarReady()) && (await appReady()),
      onLine(line) {
        const listening = report<{ port: number; metricsPort?: number }>(line, LISTENING_LINE)
        if (!listening) return false
        const w = state.workloads[s.name] as WorkloadState
        w.appPort = listening.port
        saveState()
        // The sidecar forwards there from now on; a sidecar restarting meanwhile gets it on its command line.
        processes.send(sidecarProcessName(s.name), `app-port ${listening.port}`)
        if (listening.metricsPort !== undefined) {
          // As the agent scrapes prometheus.io/port: its merged stats include the app's from now on.
          appMetricsPorts[s.name] = listening.metricsPort
          processes.send(sidecarProcessName(s.name), `app-metrics-port ${listening.metricsPort}`)
        }
        return true
      },
      env: () => ({
        ...baseEnv,
        ...localSecretValues(options.meshDir, s.workload.secretEnv),
        ...s.workload.env,
        PATH: pathFor(s.dir),
        HOST: '127.0.0.1',
        // A sidecar fronts every app here: it trusts x-forwarded-client-cert and x-envoy-external-address.
        MESH_SIDECAR: 'true',
        MESH_APP: s.name,
        PORT: String(appPortOf(s.workload)),
        REPORT_LISTENING: 'true',
        EXIT_ON_STDIN_CLOSE: 'true',
        HTTP_PROXY: `http://127.0.0.1:${state.workloads[s.name]?.proxyPort || outboundPortOf(s.workload)}`,
        NO_PROXY: 'localhost,127.0.0.1,::1',
        DATABASE_URL: join(options.dataDir, 'docs-mesh.sqlite'),
        SESSION_ISSUER: `${gatewayUrl()}/auth`,
        // The manifests' values are the cluster's; on this machine the gateway and provider are here.
        PUBLIC_URL: gatewayUrl(),
        BLOB_DIR: join(options.dataDir, 'blobs'),
        // signing-api's witness file beside the database it witnesses, not the pod volume's path.
        WITNESS_FILE: join(options.dataDir, 'signing-api-witness.json'),
        // Its own metrics on a port it reports (0: any free one), merged into its sidecar's stats.
        ...(telemetry ? { METRICS_PORT: '0' } : {}),
        // Its spans name the workload, beside its sidecar's `<workload>.<namespace>`.
        OTEL_SERVICE_NAME: s.name,
        ...(oidcDir ? { OIDC_ISSUER: oidcIssuer() } : {}),
        ...options.appEnv,
      }),
    }
  })

  const processes = startSupervisor([controlPlane, gateway, ...sidecars, ...outside, ...apps], {
    log: options.log,
    backOff: options.backOff,
  })

  const reportsSettled = async () => {
    await Promise.all(
      [GATEWAY, ...specs.map((s) => sidecarProcessName(s.name))].map((name) => {
        const id = `${++flushCount}`
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            flushes.delete(id)
            resolve()
          }
          // A proxy that is down (restarting) has nothing more to say.
          const timer = setTimeout(done, 2_000)
          flushes.set(id, done)
          if (!processes.send(name, `flush ${id}`)) done()
        })
      }),
    )
  }

  let stopped: Promise<void> | null = null
  const stop = () => {
    stopped ??= (async () => {
      // First, so nothing (mesh curl) takes the mesh for running while it stops.
      stopping = true
      rmSync(stateFile, { force: true })
      await processes.stop()
      await trusting.close()
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
    state,
    processes,
    gatewayUrl: gatewayUrl(),
    controlPlaneUrl: state.controlPlaneUrl as string,
    reportsSettled,
    oidcIssuer: oidcDir ? oidcIssuer() : null,
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
