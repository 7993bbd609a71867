// Runs a mesh model on loopback: an SVID per workload (rotated), an inbound
// sidecar on each container port, an outbound proxy per workload for its app's
// HTTP_PROXY, and the ingress gateway. Apps are started by the caller, on the
// app ports given here. Between them the NetworkPolicies (L3/L4): each proxy
// asks the network layer before it connects, and a dropped connection times out.
import type { CertificateAuthority } from '../ca/certificate-authority.ts'
import {
  type RotatingCertificate,
  type SvidSource,
  startRotation,
  startSvidRotation,
} from '../ca/svid-rotation.ts'
import { gatewayWorkloadOf } from '../gateway/gateway-workload.ts'
import { startIngressGateway } from '../gateway/ingress-gateway.ts'
import type { MeshModel, Workload } from '../manifests/mesh-model.ts'
import {
  GATEWAY_POD,
  meshNetworkModel,
  type NetworkPod,
  type NetworkVerdict,
  podNamed,
} from '../network/index.ts'
import { GATEWAY_SERVER, OUTBOUND_SERVER, type ServerName } from '../sidecar/envoy-responses.ts'
import type { DecisionLog, RunningSidecar } from '../sidecar/inbound-sidecar.ts'
import { createMeshClient, type MeshClient } from '../sidecar/mesh-client.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS, networkGuard } from '../sidecar/network-drop.ts'
import { type Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'
import { peerDirectory } from '../telemetry/peer-directory.ts'
import { startWorkloadTelemetry, type WorkloadTelemetry } from '../telemetry/workload-telemetry.ts'
import { startWorkloadProxies } from './workload-proxies.ts'

export interface LocalMeshOptions {
  model: MeshModel
  ca: CertificateAuthority
  /** Where each workload's app listens (loopback). */
  appPorts: Record<string, number>
  /** Inbound sidecars listen on the container port itself (dev) or on any free port (0, tests). */
  inboundPorts: 'container' | 'ephemeral'
  /** The gateway's HTTPS port (8443 by default; 0 for any free port). */
  gatewayPort: number
  hostAliases: Record<string, string>
  /** Lifetime of every SVID and of the gateway's certificate (a day by default); each renews at half. */
  svidLifetimeMs?: number
  /** Told each time a workload's SVID is replaced (tests count rotations with it). */
  onSvidRotate?: (principal: string) => void
  onDecision?: DecisionLog
  /** How long a proxy's connect attempt waits before a dropped connection counts as timed out. */
  connectTimeoutMs?: number
  onNetworkDrop?: NetworkDropLog
  log?: (line: string) => void
  /** How long every proxy waits for its destination's answer; 15 s by default (see sidecar/upstream-timeout.ts). */
  upstreamTimeoutMs?: number
  /** Istio's telemetry for every workload and the gateway (off when absent): see docs/observability.md. */
  telemetry?: MeshTelemetryOptions
}

export interface MeshTelemetryOptions {
  /** Access logs go to `<logDir>/<workload>.log`; null: no access logs. */
  logDir: string | null
  /** Where each app serves its own Prometheus metrics (`prometheus.io/port`), merged into its /stats/prometheus. */
  appMetricsPorts?: Record<string, number>
  /** Where spans go (OTLP/HTTP); no tracing without it. */
  otlpEndpoint?: string
}

/** Where one proxy's telemetry is read. */
export interface TelemetryState {
  /** The merged Prometheus endpoint (Istio's agent on 15020). */
  statsUrl: string
  /** The access log file (absolute), or null when access logs are off. */
  accessLog: string | null
}

/** A connection the NetworkPolicies dropped: who called, where to, and the policy that isolated the refusing end. */
export type NetworkDropLog = (drop: { from: string; endpoint: Endpoint; verdict: NetworkVerdict }) => void

export interface WorkloadState {
  namespace: string
  principal: string
  /** False for a workload Istio would not inject: no mTLS, no policy. */
  sidecar: boolean
  appPort: number
  proxyPort: number
  /** container port → where its inbound sidecar listens */
  inbound: Record<string, number>
  statsUrl?: string
  accessLog?: string | null
}

export interface MeshState {
  gatewayPort: number | null
  /** The gateway's telemetry, when telemetry is on. */
  gateway?: TelemetryState & { workload: string }
  /** The proxies' connect timeout, which mesh curl's gateway identity shares. */
  connectTimeoutMs: number
  workloads: Record<string, WorkloadState>
}

export interface LocalMesh {
  state: MeshState
  directory: ServiceDirectory
  /** The certificate the gateway serves, renewed at half its lifetime (null without a Gateway). */
  gatewayCertificate: RotatingCertificate | null
  close(): Promise<void>
}

const DAY_MS = 24 * 3600_000

export async function startLocalMesh(options: LocalMeshOptions): Promise<LocalMesh> {
  const { model, ca } = options
  const lifetime = options.svidLifetimeMs ?? DAY_MS
  const policies = () => model.policies
  const closers: Array<() => Promise<void> | void> = []
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const state: MeshState = { gatewayPort: null, connectTimeoutMs, workloads: {} }
  // Built (and its policies validated) before anything listens.
  const network = meshNetworkModel(model)
  const guardFor = (pod: NetworkPod | undefined, serverHeader: ServerName) =>
    pod
      ? networkGuard({
          network,
          source: pod,
          connectTimeoutMs,
          serverHeader,
          onDrop: (endpoint, verdict) => options.onNetworkDrop?.({ from: pod.name, endpoint, verdict }),
        })
      : () => false
  const listenPorts = new Map<string, number>()
  const directory = new ServiceDirectory(model, (name, namespace, port) =>
    listenPorts.get(`${namespace}/${name}:${port}`),
  )

  const svidFor = async (principal: string): Promise<SvidSource> => {
    const source = await startSvidRotation(ca, `spiffe://${principal}`, lifetime)
    if (options.onSvidRotate) source.onRotate(() => options.onSvidRotate?.(principal))
    closers.push(() => source.stop())
    return source
  }
  const clientFor = (svid: SvidSource): MeshClient => {
    const client = createMeshClient(svid, ca.rootPem, { timeoutMs: options.upstreamTimeoutMs })
    closers.push(() => client.close())
    return client
  }
  const keep = (running: RunningSidecar) => {
    closers.push(() => running.close())
    return running.port
  }
  const peers = options.telemetry ? peerDirectory(model) : undefined
  const telemetryFor = async (workload: Workload | null): Promise<WorkloadTelemetry | undefined> => {
    if (!options.telemetry) return undefined
    const appMetricsPort = workload ? options.telemetry.appMetricsPorts?.[workload.name] : undefined
    const started = await startWorkloadTelemetry({
      model,
      workload,
      logDir: options.telemetry.logDir,
      statsPort: 0,
      appMetricsUrl: appMetricsPort === undefined ? undefined : `http://127.0.0.1:${appMetricsPort}/metrics`,
      otlpEndpoint: options.telemetry.otlpEndpoint,
      peers,
    })
    closers.push(() => started.close())
    return started
  }

  try {
    const workloads = [
      ...model.workloads.map((workload) => ({ workload, sidecar: true })),
      // Not injected: the pod's ports reach the app directly, its calls leave in plaintext.
      ...model.outsideWorkloads.map((workload) => ({ workload, sidecar: false })),
    ]
    for (const { workload, sidecar } of workloads) {
      const appPort = options.appPorts[workload.name]
      if (appPort === undefined) continue
      const svid = sidecar ? await svidFor(workload.principal) : null
      // Only an injected pod has Envoy and its agent to record and serve telemetry.
      const observed = sidecar ? await telemetryFor(workload) : undefined
      const proxies = await startWorkloadProxies({
        model,
        workload,
        sidecar,
        svid,
        rootPem: ca.rootPem,
        appPort,
        inboundPorts: options.inboundPorts === 'container' ? 'container' : 'ephemeral',
        directory,
        client: svid ? clientFor(svid) : null,
        networkDrop: sidecar
          ? guardFor(podNamed(network, workload.name, workload.namespace), OUTBOUND_SERVER)
          : undefined,
        onDecision: options.onDecision,
        upstreamTimeoutMs: options.upstreamTimeoutMs,
        telemetry: observed?.telemetry,
      })
      closers.push(() => proxies.close())
      for (const [containerPort, port] of Object.entries(proxies.inbound))
        listenPorts.set(`${workload.namespace}/${workload.name}:${containerPort}`, port)
      state.workloads[workload.name] = {
        namespace: workload.namespace,
        principal: workload.principal,
        sidecar,
        appPort,
        proxyPort: proxies.proxyPort,
        inbound: proxies.inbound,
        ...(observed ? { statsUrl: observed.statsUrl, accessLog: observed.accessLog } : {}),
      }
    }

    const gateway = model.gateways[0]
    let gatewayCertificate: RotatingCertificate | null = null
    if (gateway) {
      const gatewayWorkload = gatewayWorkloadOf(model, gateway)
      const principal = `${model.trustDomain}/ns/${gatewayWorkload.namespace}/sa/${gatewayWorkload.serviceAccount}`
      const hosts = [
        ...new Set([...gateway.servers.flatMap((s) => s.hosts), ...Object.keys(options.hostAliases)]),
      ]
      const certificate = await startRotation(() => ca.issueServerCertificate(hosts, lifetime))
      closers.push(() => certificate.stop())
      certificate.onRotate((c) =>
        options.log?.(
          `${'mesh'.padEnd(16)} | gateway certificate renewed, valid until ${c.notAfter.toISOString()}`,
        ),
      )
      gatewayCertificate = certificate
      const observed = await telemetryFor(null)
      if (observed)
        state.gateway = {
          workload: observed.telemetry.self.workload,
          statsUrl: observed.statsUrl,
          accessLog: observed.accessLog,
        }
      state.gatewayPort = keep(
        await startIngressGateway({
          model,
          gateway,
          directory,
          client: clientFor(await svidFor(principal)),
          certificate,
          policies,
          listenPort: options.gatewayPort,
          hostAliases: options.hostAliases,
          networkDrop: guardFor(podNamed(network, GATEWAY_POD.name, GATEWAY_POD.namespace), GATEWAY_SERVER),
          telemetry: observed?.telemetry,
        }),
      )
    }
    return { state, directory, gatewayCertificate, close: () => closeAll(closers) }
  } catch (error) {
    await closeAll(closers)
    throw error
  }
}

async function closeAll(closers: Array<() => Promise<void> | void>): Promise<void> {
  for (const close of closers.reverse()) await close()
}

export type { Workload }
