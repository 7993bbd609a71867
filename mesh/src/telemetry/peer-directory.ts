// Who is at the other end of a connection, as Istio's metadata exchange tells
// a proxy: the peer's workload found from its SPIFFE principal (inbound) or
// from the endpoint the proxy picked (outbound).
import { BUILT_IN_INGRESS_GATEWAY, gatewayWorkloadOf } from '../gateway/gateway-workload.ts'
import type { MeshModel } from '../manifests/mesh-model.ts'
import { type Peer, peerOf } from './peer-labels.ts'

export interface PeerDirectory {
  byPrincipal(principal: string): Peer | undefined
  byWorkload(name: string, namespace: string): Peer | undefined
  /** The ingress gateway as a peer (its Deployment's, or Istio's istio-ingressgateway). */
  gateway: Peer
}

export function peerDirectory(model: MeshModel): PeerDirectory {
  const peers: Peer[] = [
    ...model.workloads.map((w) => peerOf(w)),
    // Not injected: no certificate, so no principal a peer could present.
    ...model.outsideWorkloads.map((w) => peerOf({ ...w, principal: null })),
  ]
  const gatewayModel = model.gateways[0]
  const gw = gatewayModel ? gatewayWorkloadOf(model, gatewayModel) : BUILT_IN_INGRESS_GATEWAY
  const gateway = peerOf({
    name: gw.labels.app ?? 'istio-ingressgateway',
    namespace: gw.namespace,
    labels: gw.labels,
    principal: `${model.trustDomain}/ns/${gw.namespace}/sa/${gw.serviceAccount}`,
  })
  peers.push(gateway)
  const principals = new Map(peers.filter((p) => p.principal !== 'unknown').map((p) => [p.principal, p]))
  const names = new Map(peers.map((p) => [`${p.namespace}/${p.workload}`, p]))
  return {
    byPrincipal: (principal) => principals.get(`spiffe://${principal}`),
    byWorkload: (name, namespace) => names.get(`${namespace}/${name}`),
    gateway,
  }
}
