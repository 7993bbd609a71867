// Which proxy a Gateway runs on, and so what its AuthorizationPolicies see: the
// gateway Deployment the Gateway's selector picks in the manifests, or, when
// the manifests hold none, Istio's own istio-ingressgateway in istio-system.
import { MeshConfigError } from '../manifests/k8s-object.ts'
import type { GatewayModel, MeshModel } from '../manifests/mesh-model.ts'

export interface GatewayWorkload {
  namespace: string
  labels: Record<string, string>
  serviceAccount: string
  /** Service port → the port the gateway pod listens on (what `destination.port` and `ports` see). */
  targetPorts: Record<number, number>
}

/**
 * istio-ingressgateway as Istio installs it: labels `app: istio-ingressgateway`,
 * `istio: ingressgateway`, Service port 443 targeting 8443 (istio/istio
 * manifests/charts/gateways/istio-ingress/values.yaml; k8s/kind/istio-operator.yaml
 * keeps that mapping), running as istio-ingressgateway-service-account.
 */
export const BUILT_IN_INGRESS_GATEWAY: GatewayWorkload = {
  namespace: 'istio-system',
  labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  serviceAccount: 'istio-ingressgateway-service-account',
  targetPorts: { 80: 8080, 443: 8443 },
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v)

export function gatewayWorkloadOf(model: MeshModel, gateway: GatewayModel): GatewayWorkload {
  const pod = model.gatewayWorkloads.find((w) => selects(gateway.selector, w.labels))
  if (pod) {
    const targetPorts: Record<number, number> = {}
    for (const service of model.services) {
      if (service.namespace !== pod.namespace || Object.keys(service.selector).length === 0) continue
      if (!selects(service.selector, pod.labels)) continue
      for (const p of service.ports) targetPorts[p.port] = p.targetPort
    }
    return {
      namespace: pod.namespace,
      labels: pod.labels,
      serviceAccount: pod.serviceAccount,
      targetPorts,
    }
  }
  if (selects(gateway.selector, BUILT_IN_INGRESS_GATEWAY.labels)) return BUILT_IN_INGRESS_GATEWAY
  throw new MeshConfigError(
    `Gateway ${gateway.id}: selector ${JSON.stringify(gateway.selector)} selects no gateway Deployment in the manifests, and is not Istio's istio-ingressgateway`,
  )
}

/** The port the gateway pod listens on for a Gateway server's (Service) port. */
export const listenPortOf = (workload: GatewayWorkload, servicePort: number): number =>
  workload.targetPorts[servicePort] ?? servicePort
