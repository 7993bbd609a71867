// Resolves a mesh host and port (`signing-api.docs.svc.cluster.local:8001`)
// to where that Service's workload's inbound sidecar listens and the SPIFFE ID
// it must present, as Kubernetes DNS and Istio's endpoint discovery would.
import { type MeshModel, type MeshService, workloadsOf } from '../manifests/mesh-model.ts'
import type { MeshTarget } from './mesh-client.ts'

export interface Endpoint extends MeshTarget {
  service: MeshService
  workload: string
  /** The container port the Service port targets (what NetworkPolicies see). */
  targetPort: number
}

/** The workloads a Service selects, with or without a sidecar. */
function endpointsOf(model: MeshModel, service: MeshService) {
  const outside = { ...model, workloads: model.outsideWorkloads }
  return [
    ...workloadsOf(model, service).map((w) => ({ w, sidecar: true })),
    ...workloadsOf(outside, service).map((w) => ({ w, sidecar: false })),
  ]
}

export type ListenPortOf = (
  workload: string,
  namespace: string,
  targetPort: number,
) => number | { host: string; port: number } | undefined

export class ServiceDirectory {
  readonly #model: MeshModel
  readonly #listenPort: ListenPortOf

  /** `listenPort` says where a workload's inbound listener for a container port is: a loopback port, or a host and port. */
  constructor(model: MeshModel, listenPort: ListenPortOf) {
    this.#model = model
    this.#listenPort = listenPort
  }

  /** The Service a host names, in any of Kubernetes' DNS forms; a bare name only in the caller's namespace. */
  serviceFor(host: string, callerNamespace: string): MeshService | undefined {
    const h = host.toLowerCase().replace(/\.$/, '')
    const parts = h.split('.')
    const [name, namespace = callerNamespace, svc, ...rest] = parts
    const suffix = [svc, ...rest].filter(Boolean).join('.')
    if (!['', 'svc', 'svc.cluster.local'].includes(suffix)) return undefined
    return this.#model.services.find((s) => s.name === name && s.namespace === namespace)
  }

  resolve(host: string, port: number, callerNamespace = 'docs'): Endpoint | null {
    const service = this.serviceFor(host, callerNamespace)
    const servicePort = service?.ports.find((p) => p.port === port)
    if (!service || !servicePort) return null
    for (const { w: workload, sidecar } of endpointsOf(this.#model, service)) {
      const listen = this.#listenPort(workload.name, workload.namespace, servicePort.targetPort)
      if (listen !== undefined) {
        // Without a sidecar there is no SVID to expect: Istio's auto mTLS sends plaintext.
        const spiffeId = sidecar ? `spiffe://${workload.principal}` : null
        return {
          service,
          workload: workload.name,
          ...(typeof listen === 'number' ? { port: listen } : listen),
          spiffeId,
          targetPort: servicePort.targetPort,
        }
      }
    }
    return null
  }
}
