// The slice of a Kubernetes object the mesh reads.

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown }
  spec?: Record<string, unknown>
  [key: string]: unknown
}

export class MeshConfigError extends Error {
  readonly code = 'ERR_MESH_CONFIG'
}

export const objectRef = (o: K8sObject): string =>
  `${o.kind} ${o.metadata.namespace ?? 'default'}/${o.metadata.name}`

/** Refuses any key not in `allowed`: the mesh never guesses what a field it does not implement would do. */
export function onlyKeys(value: unknown, allowed: readonly string[], where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new MeshConfigError(`${where}: expected an object`)
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw new MeshConfigError(`${where}: field "${key}" is not supported by the local mesh`)
  }
  return value as Record<string, unknown>
}

export function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new MeshConfigError(`${where}: expected a list of strings`)
  return value as string[]
}
