// Runs a mesh model on loopback: an SVID per workload (rotated), an inbound
// sidecar on each container port, an outbound proxy per workload for its app's
// HTTP_PROXY, and the ingress gateway. Apps are started by the caller, on the
// app ports given here.
import type { CertificateAuthority } from '../ca/certificate-authority.ts'
import { type SvidSource, startSvidRotation } from '../ca/svid-rotation.ts'
import { GATEWAY_WORKLOAD, startIngressGateway } from '../gateway/ingress-gateway.ts'
import type { MeshModel, Workload } from '../manifests/mesh-model.ts'
import { type DecisionLog, type RunningSidecar, startInboundSidecar } from '../sidecar/inbound-sidecar.ts'
import { createMeshClient, type MeshClient } from '../sidecar/mesh-client.ts'
import { startOutboundProxy } from '../sidecar/outbound-proxy.ts'
import { ServiceDirectory } from '../sidecar/service-directory.ts'

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
  svidLifetimeMs?: number
  /** Told each time a workload's SVID is replaced (tests count rotations with it). */
  onSvidRotate?: (principal: string) => void
  onDecision?: DecisionLog
  /** How long every proxy waits for its destination's answer; 15 s by default (see sidecar/upstream-timeout.ts). */
  upstreamTimeoutMs?: number
}

export interface WorkloadState {
  namespace: string
  principal: string
  appPort: number
  proxyPort: number
  /** container port → where its inbound sidecar listens */
  inbound: Record<string, number>
}

export interface MeshState {
  gatewayPort: number | null
  workloads: Record<string, WorkloadState>
}

export interface LocalMesh {
  state: MeshState
  directory: ServiceDirectory
  close(): Promise<void>
}

const DAY_MS = 24 * 3600_000

export async function startLocalMesh(options: LocalMeshOptions): Promise<LocalMesh> {
  const { model, ca } = options
  const lifetime = options.svidLifetimeMs ?? DAY_MS
  const policies = () => model.policies
  const closers: Array<() => Promise<void> | void> = []
  const state: MeshState = { gatewayPort: null, workloads: {} }
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

  try {
    for (const workload of model.workloads) {
      const appPort = options.appPorts[workload.name]
      if (appPort === undefined) continue
      const svid = await svidFor(workload.principal)
      const inbound: Record<string, number> = {}
      for (const containerPort of workload.containerPorts) {
        inbound[containerPort] = keep(
          await startInboundSidecar({
            workload,
            svid,
            rootPem: ca.rootPem,
            policies,
            servicePort: containerPort,
            listenPort: options.inboundPorts === 'container' ? containerPort : 0,
            appPort,
            onDecision: options.onDecision,
            upstreamTimeoutMs: options.upstreamTimeoutMs,
          }),
        )
        listenPorts.set(
          `${workload.namespace}/${workload.name}:${containerPort}`,
          inbound[containerPort] as number,
        )
      }
      const proxyPort = keep(
        await startOutboundProxy({ workload, directory, client: clientFor(svid), listenPort: 0 }),
      )
      state.workloads[workload.name] = {
        namespace: workload.namespace,
        principal: workload.principal,
        appPort,
        proxyPort,
        inbound,
      }
    }

    const gateway = model.gateways.find((g) =>
      Object.entries(g.selector).every(
        ([k, v]) => GATEWAY_WORKLOAD.labels[k as keyof typeof GATEWAY_WORKLOAD.labels] === v,
      ),
    )
    if (gateway) {
      const principal = `${model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`
      const hosts = [
        ...new Set([...gateway.servers.flatMap((s) => s.hosts), ...Object.keys(options.hostAliases)]),
      ]
      state.gatewayPort = keep(
        await startIngressGateway({
          model,
          gateway,
          directory,
          client: clientFor(await svidFor(principal)),
          certificate: await ca.issueServerCertificate(hosts, lifetime),
          policies,
          listenPort: options.gatewayPort,
          hostAliases: options.hostAliases,
        }),
      )
    }
  } catch (error) {
    await closeAll(closers)
    throw error
  }

  return { state, directory, close: () => closeAll(closers) }
}

async function closeAll(closers: Array<() => Promise<void> | void>): Promise<void> {
  for (const close of closers.reverse()) await close()
}

export type { Workload }
