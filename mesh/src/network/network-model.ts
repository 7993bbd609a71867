// What the network layer needs from the manifests: the pods each workload
// runs (namespace, labels, container ports by name), the namespaces' labels,
// and the NetworkPolicies. Pure: objects in, a model out.
import { type K8sObject, MeshConfigError, objectRef } from '../manifests/k8s-object.ts'
import { type CompiledNetworkPolicy, compileNetworkPolicy, type Protocol } from './network-policy.ts'

export interface ContainerPort {
  name: string | null
  containerPort: number
  protocol: Protocol
}

export interface NetworkPod {
  /** The workload that runs it (a Deployment's pods share one entry). */
  name: string
  namespace: string
  labels: Record<string, string>
  ports: ContainerPort[]
}

export interface NetworkModel {
  pods: NetworkPod[]
  /** Every namespace a pod or policy lives in, with its labels. */
  namespaceLabels: Map<string, Record<string, string>>
  policies: CompiledNetworkPolicy[]
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])
// The API server sets this label on every namespace (Kubernetes 1.21+), so
// namespaceSelector can pick a namespace by name.
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name'

function podOf(o: K8sObject): NetworkPod {
  const where = objectRef(o)
  const template = (o.spec?.template ?? {}) as {
    metadata?: { labels?: Record<string, string> }
    spec?: { containers?: Array<{ ports?: Array<Record<string, unknown>> }> }
  }
  const ports = (template.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((p) => {
      const protocol = (p.protocol ?? 'TCP') as Protocol
      if (!['TCP', 'UDP', 'SCTP'].includes(protocol))
        throw new MeshConfigError(`${where}: container port protocol ${String(p.protocol)}`)
      return {
        name: typeof p.name === 'string' ? p.name : null,
        containerPort: Number(p.containerPort),
        protocol,
      }
    }),
  )
  return {
    name: o.metadata.name,
    namespace: o.metadata.namespace ?? 'default',
    labels: template.metadata?.labels ?? {},
    ports,
  }
}

/**
 * `extraPods` are workloads the manifests do not declare but the mesh runs,
 * such as the ingress gateway in istio-system.
 */
export function buildNetworkModel(objects: readonly K8sObject[], extraPods: NetworkPod[] = []): NetworkModel {
  const pods = [...objects.filter((o) => WORKLOAD_KINDS.has(o.kind)).map(podOf), ...extraPods]
  const policies = objects
    .filter((o) => o.kind === 'NetworkPolicy')
    .map(compileNetworkPolicy)
    .sort((a, b) => a.id.localeCompare(b.id))
  const namespaceLabels = new Map<string, Record<string, string>>()
  const namespace = (name: string, labels: Record<string, string> = {}) =>
    namespaceLabels.set(name, { ...namespaceLabels.get(name), ...labels, [NAMESPACE_NAME_LABEL]: name })
  for (const o of objects) if (o.kind === 'Namespace') namespace(o.metadata.name, o.metadata.labels)
  for (const p of pods) namespace(p.namespace)
  for (const p of policies) namespace(p.namespace)
  return { pods, namespaceLabels, policies }
}

/** The labels of a namespace the manifests do not declare: only the name label the API server adds. */
export const labelsOfNamespace = (model: NetworkModel, name: string): Record<string, string> =>
  model.namespaceLabels.get(name) ?? { [NAMESPACE_NAME_LABEL]: name }
