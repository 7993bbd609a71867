// Runs a mesh model on loopback: an SVID per workload (rotated), an inbound
// sidecar on each container port, an outbound proxy per workload for its app's
// HTTP_PROXY, and the ingress gateway. Apps are started by the caller, on the
// app ports given here.
import type { CertificateAuthority } from '../ca/certificate-authority.ts'
import {
  type RotatingCertificate,
  type SvidSource,
  startRotation,
  startSvidRotation,
} from '../ca/svid-rotation.ts'
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
  /** Lifetime of every SVID and of the gateway's certificate (a day by default); each renews at half. */
  svidLifetimeMs?: number
  onDecision?: DecisionLog
  log?: (line: string) => void
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
  const state: MeshState = { gatewayPort: null, workloads: {} }
  const listenPorts = new Map<string, number>()
  const directory = new ServiceDirectory(model, (name, namespace, port) =>
    listenPorts.get(`${namespace}/${name}:${port}`),
  )

  const svidFor = async (principal: string): Promise<SvidSource> => {
    const source = await startSvidRotation(ca, `spiffe://${principal}`, lifetime)
    closers.push(() => source.stop())
    return source
  }
  const clientFor = (svid: SvidSource): MeshClient => {
    const client = createMeshClient(svid, ca.rootPem)
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
    let gatewayCertificate: RotatingCertificate | null = null
    if (gateway) {
      const principal = `${model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`
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
