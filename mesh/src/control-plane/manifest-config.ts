// The control plane's configuration: the manifests, loaded and validated as
// the mesh would run them (the MeshModel, its network model), kept as the
// last good version. Watching the folders the manifests come from, it reloads
// on a change; an edit that does not validate is refused with the reason in
// the log and the last good configuration stays, as istiod keeps serving its
// last pushed config when a resource fails validation
// (istio/istio pilot/pkg/config/kube/crdclient ignores objects that fail to convert).
import { existsSync, type FSWatcher, readFileSync, statSync, watch } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parse } from 'yaml'
import type { K8sObject } from '../manifests/k8s-object.ts'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel, type MeshModel } from '../manifests/mesh-model.ts'
import { meshNetworkModel } from '../network/index.ts'
import type { ConfigSnapshot } from './protocol.ts'

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']

function readKustomization(file: string): { resources?: unknown; components?: unknown } | null {
  try {
    return parse(readFileSync(file, 'utf8')) as { resources?: unknown; components?: unknown } | null
  } catch {
    // loadManifests reports a broken kustomization; the folder itself is still watched
    return null
  }
}

/** Every folder a kustomization reads from: its own, its resources' and its components', transitively. */
export function manifestFolders(path: string, seen = new Set<string>()): string[] {
  const full = resolve(path)
  if (!existsSync(full)) return []
  const dir = statSync(full).isDirectory() ? full : dirname(full)
  if (seen.has(dir)) return []
  seen.add(dir)
  const file = KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f))
  if (file) {
    const k = readKustomization(file)
    for (const entry of [k?.resources, k?.components].flatMap((l) => (Array.isArray(l) ? l : [])))
      if (typeof entry === 'string') manifestFolders(resolve(dir, entry), seen)
  }
  return [...seen]
}

/** Loads and validates: throws (MeshConfigError, mostly) on anything the mesh would refuse. */
export function validatedConfig(path: string): { objects: K8sObject[]; model: MeshModel } {
  const objects = loadManifests(path)
  const model = buildMeshModel(objects)
  meshNetworkModel(model)
  return { objects, model }
}

export class ManifestConfig {
  readonly #path: string
  readonly #log: (line: string) => void
  #snapshot: ConfigSnapshot
  #model: MeshModel
  #json: string
  readonly #listeners: Array<(snapshot: ConfigSnapshot, model: MeshModel) => void> = []
  #watchers: FSWatcher[] = []
  #debounce: NodeJS.Timeout | undefined

  /** Throws when the manifests do not validate: a control plane does not start on a bad configuration. */
  constructor(path: string, log: (line: string) => void) {
    this.#path = path
    this.#log = log
    const { objects, model } = validatedConfig(path)
    this.#snapshot = { version: 1, objects }
    this.#model = model
    this.#json = JSON.stringify(objects)
  }

  get snapshot(): ConfigSnapshot {
    return this.#snapshot
  }

  get model(): MeshModel {
    return this.#model
  }

  onChange(listener: (snapshot: ConfigSnapshot, model: MeshModel) => void): void {
    this.#listeners.push(listener)
  }

  /** Reads the manifests again: true when a new valid configuration was taken. */
  reload(): boolean {
    let next: { objects: K8sObject[]; model: MeshModel }
    try {
      next = validatedConfig(this.#path)
    } catch (error) {
      this.#log(
        `configuration refused, keeping version ${this.#snapshot.version}: ${(error as Error).message}`,
      )
      return false
    }
    const json = JSON.stringify(next.objects)
    if (json === this.#json) return false
    this.#json = json
    this.#snapshot = { version: this.#snapshot.version + 1, objects: next.objects }
    this.#model = next.model
    this.#log(`configuration version ${this.#snapshot.version} accepted; pushing it`)
    for (const listener of this.#listeners) listener(this.#snapshot, this.#model)
    return true
  }

  /** Reloads after each change under the manifests' folders (debounced: an editor writes in bursts). */
  watch(debounceMs = 150): void {
    for (const dir of manifestFolders(this.#path)) {
      try {
        const watcher = watch(dir, () => {
          clearTimeout(this.#debounce)
          this.#debounce = setTimeout(() => this.reload(), debounceMs)
        })
        watcher.on('error', () => watcher.close())
        this.#watchers.push(watcher)
      } catch {
        // a folder that vanished has nothing to watch
      }
    }
  }

  close(): void {
    clearTimeout(this.#debounce)
    for (const w of this.#watchers) w.close()
    this.#watchers = []
  }
}
