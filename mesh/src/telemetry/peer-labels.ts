// What Istio's stats filter knows about each end of a request (its peer
// metadata), from a workload's pod labels, as istio/istio
// pkg/config/labels and the proxy's workload metadata derive it.
import type { MeshService } from '../manifests/mesh-model.ts'

/** One end of a request as the metrics name it; `unknown` where Istio has nothing. */
export interface Peer {
  workload: string
  namespace: string
  /** `spiffe://<trust domain>/ns/<ns>/sa/<sa>`, or `unknown` without mTLS. */
  principal: string
  canonicalService: string
  canonicalRevision: string
  app: string
  version: string
}

/** Istio's default cluster ID when none is configured (pilot's CLUSTER_ID, "Kubernetes"). */
export const DEFAULT_CLUSTER = 'Kubernetes'
export const UNKNOWN = 'unknown'

export const UNKNOWN_PEER: Peer = {
  workload: UNKNOWN,
  namespace: UNKNOWN,
  principal: UNKNOWN,
  canonicalService: UNKNOWN,
  canonicalRevision: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
}

/**
 * A workload as a peer. The canonical service and revision follow Istio's
 * precedence (istio/istio pkg/kube/labels/labels.go, CanonicalService):
 * `service.istio.io/canonical-name`, then `app.kubernetes.io/name`, then
 * `app`, then the workload's name; the revision likewise ends at `latest`.
 */
export function peerOf(workload: {
  name: string
  namespace: string
  labels: Record<string, string>
  principal: string | null
}): Peer {
  const l = workload.labels
  return {
    workload: workload.name,
    namespace: workload.namespace,
    principal: workload.principal === null ? UNKNOWN : `spiffe://${workload.principal}`,
    canonicalService:
      l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? workload.name,
    canonicalRevision:
      l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
    app: l.app ?? l['app.kubernetes.io/name'] ?? UNKNOWN,
    version: l.version ?? l['app.kubernetes.io/version'] ?? UNKNOWN,
  }
}

/** The Service a request was for, as `destination_service*` name it. */
export interface ServiceLabels {
  host: string
  name: string
  namespace: string
}

export const serviceLabelsOf = (service: MeshService | undefined): ServiceLabels =>
  service
    ? {
        host: `${service.name}.${service.namespace}.svc.cluster.local`,
        name: service.name,
        namespace: service.namespace,
      }
    : { host: UNKNOWN, name: UNKNOWN, namespace: UNKNOWN }
