// What the control plane and its proxies say to each other (JSON over HTTPS):
// the configuration a proxy runs, the endpoints registered by sidecars, and
// the certificate request. One stream carries both pushes, as Istio's
// aggregated discovery service (ADS) carries clusters and endpoints on one
// gRPC stream (istio/istio pilot/pkg/xds/ads.go).
import type { K8sObject } from '../manifests/k8s-object.ts'

/** The validated manifests; every proxy builds the same MeshModel from them. */
export interface ConfigSnapshot {
  /** Increases with each change the control plane accepted. */
  version: number
  objects: K8sObject[]
}

/** Where one workload's inbound listeners are reachable. */
export interface EndpointRegistration {
  workload: string
  address: string
  /** container port → listen port */
  ports: Record<string, number>
}

export type EndpointTable = Record<string, { address: string; ports: Record<string, number> }>

/** Where the control plane keeps the registered endpoints, in the mesh folder; a new `mesh dev` system starts without it. */
export const ENDPOINTS_FILE = 'endpoints.json'

export interface CertificateResponse {
  /** The leaf first, then any intermediates (none here: the root signs directly). */
  certificateChain: string[]
  rootPem: string
}

/** Server-sent events on GET /v1/config/watch: `config` and `endpoints`, each the whole current value. */
export type WatchEvent =
  | { event: 'config'; data: ConfigSnapshot }
  | { event: 'endpoints'; data: EndpointTable }
