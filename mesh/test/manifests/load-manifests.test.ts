import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { MeshConfigError } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

const base = fileURLToPath(new URL('../../../k8s/base', import.meta.url))

const kubectl = requireFor(
  'the loader-vs-kubectl comparison',
  hasCommand('kubectl', ['version', '--client']),
  'kubectl',
)

describe('manifest loader', () => {
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
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: []\nreplicas:\n  - { name: x, count: 2 }\n')
    expect(() => loadManifests(dir)).toThrow(MeshConfigError)
    expect(() => loadManifests(dir)).toThrow(/"replicas" is not supported/)
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

describe('kustomize components and patches', () => {
  const k8s = fileURLToPath(new URL('../../../k8s/', import.meta.url))
  const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) =>
    `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
  const sorted = <T extends { kind: string; metadata: { namespace?: string; name: string } }>(list: T[]) =>
    [...list].sort((a, b) => key(a).localeCompare(key(b)))

  // Every kustomization in the repository the loader reads, against kubectl's own rendering.
  it.skipIf(!kubectl).each(['base', 'overlays/local'])(
    'reads k8s/%s into the same objects as kubectl kustomize',
    (dir) => {
      const rendered = execFileSync('kubectl', ['kustomize', join(k8s, dir)], { encoding: 'utf8' })
      expect(sorted(loadManifests(join(k8s, dir)))).toEqual(
        sorted(parseAllDocuments(rendered).map((d) => d.toJS())),
      )
    },
  )

  it('runs the components every cluster gets: the NetworkPolicies and the proxy-first annotation', () => {
    const objects = loadManifests(join(k8s, 'overlays/local'))
    expect(objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name)).toContain(
      'default-deny',
    )
    const signing = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.name === 'signing-api',
    ) as unknown as {
      spec: { template: { metadata: { annotations: Record<string, string> } } }
    }
    expect(signing.spec.template.metadata.annotations['proxy.istio.io/config']).toContain(
      'holdApplicationUntilProxyStarts: true',
    )
  })

  it('refuses the kustomize features it does not implement, pointing to kubectl kustomize', () => {
    expect(() => loadManifests(join(k8s, 'overlays/kind'))).toThrow(
      /kustomize field "configMapGenerator".*kubectl kustomize/,
    )
    const dir = mkdtempSync(join(tmpdir(), 'mesh-kustomize-'))
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources: [${JSON.stringify(join(k8s, 'base'))}]\npatches:\n  - target: { kind: Deployment }\n    patch: |\n      kind: Deployment\n      metadata: { name: any }\n      spec: { template: { spec: { containers: [{ name: x }] } } }\n`,
    )
    expect(() => loadManifests(dir)).toThrow(/lists in patches are not supported/)
    expect(() => loadManifests(dir)).toThrow(MeshConfigError)
  })
})
