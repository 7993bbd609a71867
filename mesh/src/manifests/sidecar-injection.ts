// Whether Istio's injection webhook gives a pod a sidecar, from the labels of
// its namespace and of the pod, as the default revision installs it:
// istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml
// (which webhook sees the pod) and pkg/kube/inject/inject.go injectRequired
// (what it then decides).

export function injectsSidecar(
  namespaceLabels: Record<string, string>,
  podLabels: Record<string, string>,
  hostNetwork = false,
): boolean {
  // injectRequired: a pod on the host network never gets a sidecar.
  if (hostNetwork) return false
  const pod = podLabels['sidecar.istio.io/inject']
  const injection = namespaceLabels['istio-injection']
  const namespaceRevision = namespaceLabels['istio.io/rev']
  let webhookSees: boolean
  if (injection !== undefined) {
    // `istio-injection: enabled` selects the namespace; any other value (disabled) no webhook.
    webhookSees = injection === 'enabled' && pod !== 'false'
  } else if (namespaceRevision !== undefined) {
    // A revision label: that revision's webhook (the local mesh stands for every revision).
    webhookSees = pod !== 'false'
  } else {
    // No namespace label: only a pod that asks, and names no revision of its own.
    webhookSees = pod === 'true' || (podLabels['istio.io/rev'] !== undefined && pod !== 'false')
  }
  if (!webhookSees) return false
  // injectRequired: the pod's label decides when it is `true` or `false`; any
  // other value falls back to the default policy, `enabled`.
  return pod !== 'false'
}
