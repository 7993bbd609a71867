// Reads manifests as `kubectl kustomize` would for the features this project
// uses: a kustomization's `resources` (files, or folders holding their own
// kustomization), its `components` (kind Component: resources and patches
// applied to what the parent built) and `patches` (kustomize-patch.ts). Any
// other kustomize feature stops the mesh with a message; a plain file or a
// folder of YAML files is read as it is.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { type K8sObject, MeshConfigError } from './k8s-object.ts'
import { applyPatch } from './kustomize-patch.ts'

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
const SUPPORTED_KUSTOMIZE_FIELDS = ['apiVersion', 'kind', 'resources', 'components', 'patches']

export function readYamlObjects(file: string): K8sObject[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'))
  const objects: K8sObject[] = []
  for (const doc of documents) {
    if (doc.errors.length > 0) throw new MeshConfigError(`${file}: ${doc.errors[0]?.message}`)
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) continue
    if (typeof value !== 'object' || Array.isArray(value))
      throw new MeshConfigError(`${file}: a document is not an object`)
    const object = value as K8sObject
    if (
      typeof object.kind !== 'string' ||
      typeof object.apiVersion !== 'string' ||
      typeof object.metadata?.name !== 'string'
    ) {
      throw new MeshConfigError(`${file}: every object needs apiVersion, kind and metadata.name`)
    }
    if (object.kind === 'List')
      throw new MeshConfigError(`${file}: kind List is not supported by the local mesh`)
    objects.push(object)
  }
  return objects
}

function kustomizationIn(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f))
}

export function loadKustomization(
  dir: string,
  seen: Set<string> = new Set(),
  inherited: K8sObject[] = [],
  as: 'Kustomization' | 'Component' = 'Kustomization',
): K8sObject[] {
  const file = kustomizationIn(dir)
  if (!file) throw new MeshConfigError(`${dir}: no kustomization.yaml`)
  if (seen.has(file)) throw new MeshConfigError(`${file}: kustomization cycle`)
  seen.add(file)
  const [k] = readYamlObjectsLoose(file)
  const kind = (k?.kind as string | undefined) ?? 'Kustomization'
  if (kind !== as) throw new MeshConfigError(`${file}: a ${kind} where a ${as} is expected`)
  for (const key of Object.keys(k ?? {})) {
    if (!SUPPORTED_KUSTOMIZE_FIELDS.includes(key)) {
      throw new MeshConfigError(
        `${file}: kustomize field "${key}" is not supported by the local mesh (render with kubectl kustomize and pass the result)`,
      )
    }
  }
  const resources = (k?.resources ?? []) as unknown
  if (!Array.isArray(resources)) throw new MeshConfigError(`${file}: resources must be a list`)
  let objects = [
    ...inherited,
    ...resources.flatMap((entry) => {
      if (typeof entry !== 'string' || /^[a-z]+:\/\//.test(entry))
        throw new MeshConfigError(`${file}: resource ${String(entry)} must be a local path`)
      const path = resolve(dir, entry)
      if (!existsSync(path)) throw new MeshConfigError(`${file}: resource ${entry} does not exist`)
      return statSync(path).isDirectory() ? loadKustomization(path, seen) : readYamlObjects(path)
    }),
  ]
  // Components work on everything accumulated so far, in order, as kustomize applies them.
  const components = (k?.components ?? []) as unknown
  if (!Array.isArray(components)) throw new MeshConfigError(`${file}: components must be a list`)
  for (const entry of components) {
    const path = typeof entry === 'string' ? resolve(dir, entry) : ''
    if (!path || !existsSync(path) || !statSync(path).isDirectory())
      throw new MeshConfigError(`${file}: component ${String(entry)} must be a local folder`)
    objects = loadKustomization(path, seen, objects, 'Component')
  }
  const patches = (k?.patches ?? []) as unknown
  if (!Array.isArray(patches)) throw new MeshConfigError(`${file}: patches must be a list`)
  patches.forEach((entry, i) => {
    objects = applyPatch(objects, entry, dir, `${file}: patches[${i}]`)
  })
  return objects
}

function readYamlObjectsLoose(file: string): Array<Record<string, unknown> | null> {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Record<string, unknown> | null)
}

/** A kustomization folder, a folder of YAML files, or one YAML file. */
export function loadManifests(path: string): K8sObject[] {
  const full = resolve(path)
  if (!existsSync(full)) throw new MeshConfigError(`${path}: no such file or folder`)
  if (!statSync(full).isDirectory()) return readYamlObjects(full)
  if (kustomizationIn(full)) return loadKustomization(full)
  return readdirSync(full)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => readYamlObjects(join(full, f)))
}
