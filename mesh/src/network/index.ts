export { decideConnection, type NetworkSource, type NetworkVerdict, podNamed } from './decide-connection.ts'
export { compileLabelSelector, type LabelSelector, selectorMatches } from './label-selector.ts'
export { GATEWAY_POD, meshNetworkModel, reachability, sourceForPrincipal } from './mesh-network.ts'
export {
  buildNetworkModel,
  type ContainerPort,
  labelsOfNamespace,
  NAMESPACE_NAME_LABEL,
  type NetworkModel,
  type NetworkPod,
} from './network-model.ts'
export { type CompiledNetworkPolicy, compileNetworkPolicy, type Protocol } from './network-policy.ts'
