// One workload's proxies, as one Envoy per pod runs them: an inbound sidecar
// on each container port (mTLS, the policies, then the app on loopback) and
// the outbound proxy its app's HTTP_PROXY points at. A workload Istio would
// not inject gets plain pod ports and plaintext egress instead. Both the
// `mesh sidecar` process and the in-process startLocalMesh (unit tests) build
// a workload from here.

import type { ServerResponse } from 'node:http'
import type { SvidSource } from '../ca/svid-rotation.ts'
import { type MeshModel, mtlsModeOf, type Workload, workloadsOf } from '../manifests/mesh-model.ts'
import type { PortProtocol } from '../manifests/port-protocol.ts'
import type { DecisionLog, RunningSidecar } from '../sidecar/inbound-sidecar.ts'
import { type InboundSidecarOptions, startInboundSidecar } from '../sidecar/inbound-sidecar.ts'
import { type InboundTcpSidecarOptions, startInboundTcpSidecar } from '../sidecar/inbound-tcp-sidecar.ts'
import type { MeshClient } from '../sidecar/mesh-client.ts'
import { startPlainEgress, startPodPort } from '../sidecar/no-sidecar.ts'
import { startOutboundProxy } from '../sidecar/outbound-proxy.ts'
import type { Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'
import type { ProxyTelemetry } from '../telemetry/proxy-telemetry.ts'

export interface WorkloadProxiesOptions {
  /** Read on every request (policies) and connection: a configuration push updates it in place. */
  model: MeshModel
  workload: Workload
  /** False for a workload Istio's webhook would not inject: no mTLS, no policy. */
  sidecar: boolean
  /** The workload's SVID; unused without a sidecar. */
  svid: SvidSource | null
  rootPem: string
  /** Where the app listens on loopback; setAppPort moves it. */
  appPort: number
  /** Inbound listeners on the container ports themselves, or on any free port. */
  inboundPorts: 'container' | 'ephemeral'
  /** Where the inbound listeners listen: 127.0.0.1 by default; 0.0.0.0 in a network namespace of its own (compose). */
  inboundHost?: string
  /** The outbound proxy's port (Istio's 15001); 0 for any free port. */
  outboundPort?: number
  directory: ServiceDirectory
  /** How the outbound proxy calls other sidecars (mTLS with the SVID); unused without a sidecar. */
  client: MeshClient | null
  /** The NetworkPolicies' verdict before the outbound proxy connects. */
  networkDrop?: (endpoint: Endpoint, res: ServerResponse) => boolean
  onDecision?: DecisionLog
  upstreamTimeoutMs?: number
  /** The workload's metrics, access log and spans (one per pod, as one Envoy records them); none when absent. */
  telemetry?: ProxyTelemetry
}

export interface WorkloadProxies {
  /** container port → where its inbound listener listens */
  inbound: Record<string, number>
  /** The outbound proxy's port (the app's HTTP_PROXY). */
  proxyPort: number
  /** The app now listens on `port` (it restarted): inbound traffic goes there from the next request. */
  setAppPort(port: number): void
  close(): Promise<void>
}

/** The protocol of the Service port that targets a container port (HTTP when none names it). */
export function protocolOfContainerPort(
  model: MeshModel,
  workload: Workload,
  containerPort: number,
): PortProtocol {
  const service = model.services.find(
    (s) =>
      s.namespace === workload.namespace &&
      workloadsOf(model, s).includes(workload) &&
      s.ports.some((p) => p.targetPort === containerPort),
  )
  return service?.ports.find((p) => p.targetPort === containerPort)?.protocol ?? 'http'
}

export async function startWorkloadProxies(options: WorkloadProxiesOptions): Promise<WorkloadProxies> {
  const { model, workload } = options
  const listenPortOf = (containerPort: number) => (options.inboundPorts === 'container' ? containerPort : 0)
  const running: RunningSidecar[] = []
  const keep = (sidecar: RunningSidecar) => {
    running.push(sidecar)
    return sidecar.port
  }
  const close = async () => {
    await Promise.all(running.splice(0).map((r) => r.close()))
  }
  // The inbound sidecars read `appPort` from these on every request or connection.
  const inboundOptions: Array<{ appPort: number }> = []

  try {
    const { svid, client } = options
    if (options.sidecar && (!svid || !client)) throw new Error(`${workload.name}: a sidecar needs an SVID`)
    const ports = await Promise.all(
      workload.containerPorts.map(async (containerPort): Promise<[string, number]> => {
        if (!options.sidecar || !svid)
          return [
            String(containerPort),
            keep(await startPodPort(listenPortOf(containerPort), options.appPort)),
          ]
        if (protocolOfContainerPort(model, workload, containerPort) === 'tcp') {
          const tcp: InboundTcpSidecarOptions = {
            workload,
            svid,
            rootPem: options.rootPem,
            policies: () => model.policies,
            servicePort: containerPort,
            listenPort: listenPortOf(containerPort),
            listenHost: options.inboundHost,
            appPort: options.appPort,
            onDecision: options.onDecision,
            telemetry: options.telemetry,
          }
          inboundOptions.push(tcp)
          return [String(containerPort), keep(await startInboundTcpSidecar(tcp))]
        }
        const http: InboundSidecarOptions = {
          workload,
          svid,
          rootPem: options.rootPem,
          policies: () => model.policies,
          servicePort: containerPort,
          mtlsMode: mtlsModeOf(model, workload.namespace),
          listenPort: listenPortOf(containerPort),
          listenHost: options.inboundHost,
          appPort: options.appPort,
          onDecision: options.onDecision,
          upstreamTimeoutMs: options.upstreamTimeoutMs,
          telemetry: options.telemetry,
        }
        inboundOptions.push(http)
        return [String(containerPort), keep(await startInboundSidecar(http))]
      }),
    )
    const proxyPort = keep(
      options.sidecar && client
        ? await startOutboundProxy({
            workload,
            directory: options.directory,
            client,
            listenPort: options.outboundPort ?? 0,
            networkDrop: options.networkDrop,
            telemetry: options.telemetry,
          })
        : await startPlainEgress({
            workload,
            directory: options.directory,
            listenPort: options.outboundPort ?? 0,
          }),
    )
    return {
      inbound: Object.fromEntries(ports),
      proxyPort,
      setAppPort(port) {
        if (!options.sidecar)
          throw new Error(`${workload.name} has no sidecar: its pod ports are fixed to the app's first port`)
        for (const o of inboundOptions) o.appPort = port
      },
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}
