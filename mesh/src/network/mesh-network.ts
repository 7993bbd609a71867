// The network model of a mesh model: its workloads' pods plus the ingress
// gateway's pod in istio-system (with the labels the Gateway selects it by),
// and the pod a principal's ServiceAccount runs.
import { GATEWAY_WORKLOAD } from '../gateway/ingress-gateway.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'
import { decideConnection, type NetworkSource, type NetworkVerdict } from './decide-connection.ts'
import { buildNetworkModel, type NetworkModel, type NetworkPod } from './network-model.ts'

/** The gateway's pod as `istioctl install` runs it: HTTPS on 8443 behind the Service's 443. */
export const GATEWAY_POD: NetworkPod = {
  name: 'istio-ingressgateway',
  namespace: GATEWAY_WORKLOAD.namespace,
  labels: GATEWAY_WORKLOAD.labels,
  ports: [{ name: 'https', containerPort: 8443, protocol: 'TCP' }],
}

export function meshNetworkModel(model: MeshModel): NetworkModel {
  const declared = model.objects.some(
    (o) => o.metadata.namespace === GATEWAY_POD.namespace && o.metadata.name === GATEWAY_POD.name,
  )
  return buildNetworkModel(model.objects, model.gateways.length > 0 && !declared ? [GATEWAY_POD] : [])
}

/**
 * The caller behind a principal: the pod of the workload that runs as that
 * ServiceAccount (the gateway's for its account). No principal, or one no
 * workload runs as, is a client outside the cluster.
 */
export function sourceForPrincipal(
  model: MeshModel,
  network: NetworkModel,
  principal: string | null,
  ip: string | null = null,
): NetworkSource {
  if (
    principal ===
    `${model.trustDomain}/ns/${GATEWAY_WORKLOAD.namespace}/sa/${GATEWAY_WORKLOAD.serviceAccount}`
  ) {
    const gateway = network.pods.find(
      (p) => p.namespace === GATEWAY_POD.namespace && p.name === GATEWAY_POD.name,
    )
    if (gateway) return { kind: 'pod', pod: gateway }
  }
  const workload = [...model.workloads, ...model.outsideWorkloads].find((w) => w.principal === principal)
  const pod =
    workload && network.pods.find((p) => p.name === workload.name && p.namespace === workload.namespace)
  return pod ? { kind: 'pod', pod } : { kind: 'outside', ip }
}

/**
 * Whether a principal's pod reaches a workload on any of `ports` (its
 * container ports when none are given): the verdict for the first port that
 * connects, else for the first that does not. Null when the workload has no
 * pod in the network model.
 */
export function reachability(
  model: MeshModel,
  network: NetworkModel,
  principal: string | null,
  to: { name: string; namespace: string },
  ports: readonly number[] = [],
  ip: string | null = null,
): NetworkVerdict | null {
  const destination = network.pods.find((p) => p.name === to.name && p.namespace === to.namespace)
  if (!destination) return null
  const source = sourceForPrincipal(model, network, principal, ip)
  const candidates = ports.length > 0 ? ports : destination.ports.map((p) => p.containerPort)
  const verdicts = candidates.map((port) => decideConnection(network, source, destination, port))
  return verdicts.find((v) => v.verdict === 'ALLOW') ?? verdicts[0] ?? null
}
