import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { MeshConfigError } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

const base = fileURLToPath(new URL('../../../k8s/base', import.meta.url))

function kubectl(): string | null {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' })
    return 'kubectl'
  } catch {
    return null
  }
}

describe('manifest loader', () => {
  it.skipIf(kubectl() === null)('reads k8s/base into the same objects as kubectl kustomize', () => {
    const rendered = execFileSync('kubectl', ['kustomize', base], { encoding: 'utf8' })
    const expected = parseAllDocuments(rendered).map((d) => d.toJS())
    const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) =>
      `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
    const sort = <T extends { kind: string; metadata: { namespace?: string; name: string } }>(list: T[]) =>
      [...list].sort((a, b) => key(a).localeCompare(key(b)))
    expect(sort(loadManifests(base))).toEqual(sort(expected))
  })

  it('builds the mesh the design describes from k8s/base', () => {
    const model = buildMeshModel(loadManifests(base))
    expect(model.workloads.map((w) => `${w.name}:${w.principal}:${w.containerPorts.join()}`).sort()).toEqual([
      'admin-api:cluster.local/ns/docs/sa/admin-sa:8005',
      'bucket-api:cluster.local/ns/docs/sa/bucket-sa:8000',
      'frontend:cluster.local/ns/docs/sa/frontend-sa:8080',
      'identity-api:cluster.local/ns/docs/sa/identity-sa:8003',
      'signing-api:cluster.local/ns/docs/sa/signing-sa:8001',
      'verification-api:cluster.local/ns/docs/sa/verification-sa:8002',
    ])
    expect(model.strictNamespaces).toEqual(new Set(['docs']))
    expect(model.virtualServices[0]?.http.map((r) => r.matches[0]?.value ?? '*')).toEqual([
      '/auth',
      '/buckets',
      '/admin',
      '/verify',
      '/sign',
      '/assets',
      '*',
    ])
  })

  it('stops on a kustomize feature it does not implement', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kustomize-'))
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: []\npatches:\n  - path: x.yaml\n')
    expect(() => loadManifests(dir)).toThrow(MeshConfigError)
    expect(() => loadManifests(dir)).toThrow(/"patches" is not supported/)
  })

  it.each([
    ['DestinationRule', 'networking.istio.io/v1', 'spec: {}'],
    ['PeerAuthentication', 'security.istio.io/v1', 'spec:\n  mtls:\n    mode: DISABLE'],
  ])('stops on %s it does not implement', (kind, apiVersion, spec) => {
    const dir = mkdtempSync(join(tmpdir(), 'manifests-'))
    writeFileSync(
      join(dir, 'x.yaml'),
      `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: x\n  namespace: docs\n${spec}\n`,
    )
    expect(() => buildMeshModel(loadManifests(dir))).toThrow(MeshConfigError)
  })
})
