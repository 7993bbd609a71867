export { type K8sObject, MeshConfigError, objectRef } from './k8s-object.ts'
export { loadKustomization, loadManifests, readYamlObjects } from './load-manifests.ts'
export {
  buildMeshModel,
  type GatewayModel,
  type HttpRoute,
  type MeshModel,
  type MeshService,
  serviceHost,
  type UriMatch,
  type VirtualServiceModel,
  type Workload,
  workloadsOf,
} from './mesh-model.ts'
