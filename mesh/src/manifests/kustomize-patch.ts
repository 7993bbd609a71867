// The part of kustomize's `patches` the local mesh applies: strategic-merge
// patches whose changes are maps (labels, annotations, env-free fields),
// chosen by target kind/name/namespace or by the patch's own kind and name.
// Lists merge by key in a strategic merge (containers by name, ...); rather
// than guess that, a patch with a list, a JSON 6902 patch or a `$patch`
// directive is refused with a pointer to `kubectl kustomize`.
// https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/patches/
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { type K8sObject, MeshConfigError, onlyKeys } from './k8s-object.ts'

const RENDER = 'render with kubectl kustomize and pass the result'

type Json = Record<string, unknown>

function mergeMaps(target: Json, patch: Json, where: string): Json {
  const out: Json = { ...target }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$'))
      throw new MeshConfigError(`${where}: directive ${key} is not supported (${RENDER})`)
    if (Array.isArray(value))
      throw new MeshConfigError(
        `${where}.${key}: lists in patches are not supported by the local mesh (${RENDER})`,
      )
    if (value === null) delete out[key]
    else if (typeof value === 'object') {
      const current = out[key]
      out[key] = mergeMaps(
        current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Json) : {},
        value as Json,
        `${where}.${key}`,
      )
    } else out[key] = value
  }
  return out
}

interface Target {
  kind?: string
  name?: string
  namespace?: string
}

function selects(o: K8sObject, target: Target): boolean {
  return (
    (target.kind === undefined || o.kind === target.kind) &&
    (target.name === undefined || o.metadata.name === target.name) &&
    (target.namespace === undefined || (o.metadata.namespace ?? 'default') === target.namespace)
  )
}

/** Applies one entry of a kustomization's `patches` to the objects built so far. */
export function applyPatch(objects: K8sObject[], entry: unknown, dir: string, where: string): K8sObject[] {
  const e = onlyKeys(entry, ['path', 'patch', 'target'], where)
  let text: string
  if (typeof e.path === 'string') {
    const file = resolve(dir, e.path)
    if (!existsSync(file)) throw new MeshConfigError(`${where}: patch ${e.path} does not exist`)
    text = readFileSync(file, 'utf8')
  } else if (typeof e.patch === 'string') text = e.patch
  else throw new MeshConfigError(`${where}: a patch needs path or patch`)
  const docs = parseAllDocuments(text).map((d) => d.toJS() as unknown)
  if (docs.length !== 1 || docs[0] === null || typeof docs[0] !== 'object' || Array.isArray(docs[0]))
    throw new MeshConfigError(`${where}: only a strategic-merge patch (one object) is supported (${RENDER})`)
  const patch = docs[0] as K8sObject
  const target: Target =
    e.target === undefined
      ? { kind: patch.kind, name: patch.metadata?.name, namespace: patch.metadata?.namespace }
      : (onlyKeys(e.target, ['kind', 'name', 'namespace'], `${where}.target`) as Target)
  const { apiVersion: _a, kind: _k, metadata, ...body } = patch
  // With a target, the patch's own name only labels the file (kustomize ignores it).
  const { name: _n, namespace: _ns, ...metadataChanges } = (metadata ?? {}) as Json
  const matched = objects.filter((o) => selects(o, target))
  if (matched.length === 0) throw new MeshConfigError(`${where}: the patch selects no object`)
  return objects.map((o) =>
    selects(o, target)
      ? (mergeMaps(
          o as unknown as Json,
          { ...body, metadata: metadataChanges },
          `${where} ${o.kind}/${o.metadata.name}`,
        ) as K8sObject)
      : o,
  )
}
