// PeerAuthentication as the model keeps it: the mTLS mode of each namespace
// (and of the mesh, from the root namespace). A namespace no
// PeerAuthentication covers is PERMISSIVE, Istio's default
// (https://istio.io/latest/docs/reference/config/security/peer_authentication/):
// it takes mTLS and plaintext, and a plaintext caller has no principal, so
// `principals` and `namespaces` never match it.
import { type K8sObject, MeshConfigError, objectRef, onlyKeys } from './k8s-object.ts'

export type MtlsMode = 'STRICT' | 'PERMISSIVE'

const ROOT_NAMESPACE = 'istio-system'

/** The namespace a PeerAuthentication covers and its mode (null: UNSET, inherit). */
export function peerAuthenticationOf(o: K8sObject): { namespace: string; mode: MtlsMode | null } {
  const where = objectRef(o)
  const spec = onlyKeys(o.spec ?? {}, ['mtls', 'selector', 'portLevelMtls'], `${where} spec`)
  // ValidatePeerAuthentication (pkg/config/validation/validation.go, istio/istio).
  if (spec.portLevelMtls !== undefined && spec.selector === undefined)
    throw new MeshConfigError(
      `${where} spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS`,
    )
  if (spec.selector !== undefined || spec.portLevelMtls !== undefined)
    throw new MeshConfigError(
      `${where}: workload-specific PeerAuthentication is not supported by the local mesh`,
    )
  const mtls = onlyKeys(spec.mtls ?? {}, ['mode'], `${where} spec.mtls`)
  const mode = mtls.mode ?? 'UNSET'
  if (mode === 'STRICT' || mode === 'PERMISSIVE')
    return { namespace: o.metadata.namespace ?? 'default', mode }
  if (mode === 'UNSET') return { namespace: o.metadata.namespace ?? 'default', mode: null }
  throw new MeshConfigError(
    `${where} spec.mtls.mode: ${String(mode)} is not supported by the local mesh (STRICT, PERMISSIVE or UNSET)`,
  )
}

/** The mode in force in a namespace: its own PeerAuthentication, else the mesh-wide one, else PERMISSIVE. */
export function mtlsModeOf(modes: ReadonlyMap<string, MtlsMode>, namespace: string): MtlsMode {
  return modes.get(namespace) ?? modes.get(ROOT_NAMESPACE) ?? 'PERMISSIVE'
}
