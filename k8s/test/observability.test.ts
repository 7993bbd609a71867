// The observability add-ons for kind (k8s/components/observability, applied by
// k8s/overlays/kind-observability): Istio 1.30.3's samples/addons, at the
// versions that release pins, in istio-system, with Prometheus scraping the
// pods' merged endpoints; and the kind overlay itself stays without them.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { K8sObject } from '@docs-mesh/mesh'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const kubectl = requireFor(
  'the kustomize build of the observability add-ons',
  hasCommand('kubectl', ['version', '--client']),
  'kubectl',
)
const render = (dir: string) =>
  parseAllDocuments(execFileSync('kubectl', ['kustomize', here(dir)], { encoding: 'utf8' })).map(
    (d) => d.toJS() as K8sObject,
  )

/** istio/istio 1.30.3 samples/addons: the images each add-on runs. */
const ADDON_IMAGES = [
  'docker.io/grafana/grafana:12.0.1',
  'docker.io/jaegertracing/jaeger:2.14.0',
  'docker.io/prom/prometheus:v3.10.0',
  'ghcr.io/prometheus-operator/prometheus-config-reloader:v0.89.0',
  'quay.io/kiali/kiali:v2.26',
]

const imagesOf = (objects: K8sObject[]) =>
  objects
    .filter((o) => o.kind === 'Deployment')
    .flatMap((d) =>
      (
        d.spec as { template: { spec: { containers: Array<{ image: string }> } } }
      ).template.spec.containers.map((c) => c.image),
    )

describe.skipIf(!kubectl)('observability add-ons on kind', () => {
  const objects = kubectl ? render('../overlays/kind-observability') : []

  it('runs Prometheus, Grafana, Kiali and Jaeger at Istio 1.30.3’s versions, in istio-system', () => {
    const addons = imagesOf(objects).filter((i) => !i.startsWith('docs-mesh/'))
    expect(addons.filter((i) => !/^(node|postgres):/.test(i)).sort()).toEqual(ADDON_IMAGES)
    for (const name of ['prometheus', 'grafana', 'kiali', 'jaeger'])
      expect(
        objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)?.metadata.namespace,
        name,
      ).toBe('istio-system')
  })

  it('scrapes each pod where Istio’s injector points it (prometheus.io annotations, the merged :15020)', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'prometheus') as
      | (K8sObject & { data: Record<string, string> })
      | undefined
    const scrape = parseAllDocuments(config?.data['prometheus.yml'] ?? '')[0]?.toJS() as {
      scrape_configs: Array<{ job_name: string }>
    }
    expect(scrape.scrape_configs.map((c) => c.job_name)).toContain('kubernetes-pods')
  })

  it('ships Istio’s Grafana dashboards', () => {
    const dashboards = objects
      .filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('istio-'))
      .flatMap((o) => Object.keys((o as K8sObject & { data: Record<string, string> }).data ?? {}))
    expect(dashboards).toEqual(
      expect.arrayContaining(['istio-mesh-dashboard.json', 'istio-service-dashboard.json']),
    )
  })

  it('leaves the plain kind overlay without them (the add-ons are optional)', () => {
    expect(imagesOf(render('../overlays/kind')).filter((i) => ADDON_IMAGES.includes(i))).toEqual([])
  })
})
