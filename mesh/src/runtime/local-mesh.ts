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
import { type MeshModel, mtlsModeOf, type Workload, workloadsOf } from '../manifests/mesh-model.ts'
import type { PortProtocol } from '../manifests/port-protocol.ts'
import {
  GATEWAY_POD,
  meshNetworkModel,
  type NetworkPod,
  type NetworkVerdict,
  podNamed,
} from '../network/index.ts'
import { GATEWAY_SERVER, OUTBOUND_SERVER, type ServerName } from '../sidecar/envoy-responses.ts'
import { type DecisionLog, type RunningSidecar, startInboundSidecar } from '../sidecar/inbound-sidecar.ts'
import { startInboundTcpSidecar } from '../sidecar/inbound-tcp-sidecar.ts'
import { createMeshClient, type MeshClient } from '../sidecar/mesh-client.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS, networkGuard } from '../sidecar/network-drop.ts'
import { startPlainEgress, startPodPort } from '../sidecar/no-sidecar.ts'
import { startOutboundProxy } from '../sidecar/outbound-proxy.ts'
import { type Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'
import { peerDirectory } from '../telemetry/peer-directory.ts'
import { startWorkloadTelemetry, type WorkloadTelemetry } from '../telemetry/workload-telemetry.ts'

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

/** The protocol of the Service port that targets a container port (HTTP when none names it). */
function protocolOfContainerPort(model: MeshModel, workload: Workload, containerPort: number): PortProtocol {
  const service = model.services.find(
    (s) =>
      s.namespace === workload.namespace &&
      workloadsOf(model, s).includes(workload) &&
      s.ports.some((p) => p.targetPort === containerPort),
  )
  return service?.ports.find((p) => p.targetPort === containerPort)?.protocol ?? 'http'
}

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
    for (const workload of model.workloads) {
      const appPort = options.appPorts[workload.name]
      if (appPort === undefined) continue
      const svid = await svidFor(workload.principal)
      const observed = await telemetryFor(workload)
      const telemetry = observed?.telemetry
      const inbound: Record<string, number> = {}
      for (const containerPort of workload.containerPorts) {
        const tcp = protocolOfContainerPort(model, workload, containerPort) === 'tcp'
        inbound[containerPort] = keep(
          tcp
            ? await startInboundTcpSidecar({
                workload,
                svid,
                rootPem: ca.rootPem,
                policies,
                servicePort: containerPort,
                listenPort: options.inboundPorts === 'container' ? containerPort : 0,
                appPort,
                onDecision: options.onDecision,
                telemetry,
              })
            : await startInboundSidecar({
                workload,
                svid,
                rootPem: ca.rootPem,
                policies,
                servicePort: containerPort,
                mtlsMode: mtlsModeOf(model, workload.namespace),
                listenPort: options.inboundPorts === 'container' ? containerPort : 0,
                appPort,
                onDecision: options.onDecision,
                upstreamTimeoutMs: options.upstreamTimeoutMs,
                telemetry,
              }),
        )
        listenPorts.set(
          `${workload.namespace}/${workload.name}:${containerPort}`,
          inbound[containerPort] as number,
        )
      }
      const proxyPort = keep(
        await startOutboundProxy({
          workload,
          directory,
          client: clientFor(svid),
          listenPort: 0,
          networkDrop: guardFor(podNamed(network, workload.name, workload.namespace), OUTBOUND_SERVER),
          telemetry,
        }),
      )
      state.workloads[workload.name] = {
        namespace: workload.namespace,
        principal: workload.principal,
        sidecar: true,
        appPort,
        proxyPort,
        inbound,
        ...(observed ? { statsUrl: observed.statsUrl, accessLog: observed.accessLog } : {}),
      }
    }

    // Not injected: the pod's ports reach the app directly, its calls leave in plaintext.
    for (const workload of model.outsideWorkloads) {
      const appPort = options.appPorts[workload.name]
      if (appPort === undefined) continue
      const inbound: Record<string, number> = {}
      for (const containerPort of workload.containerPorts) {
        inbound[containerPort] = keep(
          await startPodPort(options.inboundPorts === 'container' ? containerPort : 0, appPort),
        )
        listenPorts.set(
          `${workload.namespace}/${workload.name}:${containerPort}`,
          inbound[containerPort] as number,
        )
      }
      const proxyPort = keep(await startPlainEgress({ workload, directory, listenPort: 0 }))
      state.workloads[workload.name] = {
        namespace: workload.namespace,
        principal: workload.principal,
        sidecar: false,
        appPort,
        proxyPort,
        inbound,
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
