// Static checks of every manifest set this repository ships: it builds with
// kustomize, each object validates against the Kubernetes or Istio schema,
// and the rendered set passes mesh lint.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { K8sObject } from '@docs-mesh/mesh'
import { lintObjects } from '@docs-mesh/mesh'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import * as istio from '@kubernetes-models/istio'
import * as kubernetes from 'kubernetes-models'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const SETS = {
  base: here('../base'),
  'overlays/kind': here('../overlays/kind'),
  'overlays/local': here('../overlays/local'),
  'overlays/production': here('../overlays/production'),
}

const kubectl = requireFor(
  'the kustomize builds of base and overlays',
  hasCommand('kubectl', ['version', '--client']),
  'kubectl',
)

type Model = new (data: unknown) => { validate(): void }

interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean }
  containers: Array<{
    securityContext?: {
      readOnlyRootFilesystem?: boolean
      allowPrivilegeEscalation?: boolean
      capabilities?: { drop?: string[] }
    }
    resources?: { requests?: unknown; limits?: unknown }
    readinessProbe?: unknown
    livenessProbe?: unknown
  }>
}

/** The schema class for an object: `apps/v1` Deployment is kubernetes.apps.v1.Deployment. */
function modelFor(apiVersion: string, kind: string): Model | undefined {
  const [group = '', version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
  const key = group === '' ? '' : group.replace(/\.(\w)/g, (_m, c: string) => c.toUpperCase())
  const root = (group.endsWith('istio.io') ? istio : kubernetes) as unknown as Record<
    string,
    Record<string, Record<string, Model>>
  >
  const versions = key === '' ? (root as unknown as Record<string, Record<string, Model>>) : root[key]
  return (versions?.[version as string] as Record<string, Model> | undefined)?.[kind]
}

describe.skipIf(!kubectl).each(Object.entries(SETS))('%s', (_name, dir) => {
  const rendered = kubectl ? execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }) : ''
  const objects = parseAllDocuments(rendered).map((d) => d.toJS() as K8sObject)

  it('builds with kustomize', () => {
    expect(objects.length).toBeGreaterThan(0)
  })

  it('validates every object against the Kubernetes and Istio schemas', () => {
    for (const o of objects) {
      const Model = modelFor(o.apiVersion, o.kind)
      expect(Model, `no schema for ${o.apiVersion} ${o.kind}`).toBeDefined()
      expect(
        () => new (Model as Model)(o).validate(),
        `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`,
      ).not.toThrow()
    }
  })

  // Istio injects sidecars only where the namespace asks for it (istio/istio
  // manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml).
  it('labels the docs namespace for sidecar injection', () => {
    const docs = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === 'docs')
    expect(docs?.metadata.labels?.['istio-injection']).toBe('enabled')
  })

  it('passes mesh lint', () => {
    expect(lintObjects(objects)).toEqual([])
  })

  it('runs every container non-root, read-only, without privileges, with probes, requests and limits', () => {
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const pod = (o.spec as { template: { spec: PodSpec } }).template.spec
      const where = `${o.kind} ${o.metadata.name}`
      expect(pod.securityContext?.runAsNonRoot, where).toBe(true)
      for (const c of pod.containers) {
        expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true)
        expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false)
        expect(c.securityContext?.capabilities?.drop, where).toContain('ALL')
        expect(c.resources?.requests && c.resources?.limits, where).toBeTruthy()
        if (o.metadata.namespace === 'docs') expect(c.readinessProbe && c.livenessProbe, where).toBeTruthy()
      }
    }
  })
})

describe.skipIf(!kubectl)('apps behind their sidecars', () => {
  const objects = kubectl
    ? parseAllDocuments(execFileSync('kubectl', ['kustomize', SETS.base], { encoding: 'utf8' })).map(
        (d) => d.toJS() as K8sObject,
      )
    : []
  const deployments = objects.filter((o) => o.kind === 'Deployment')

  it('every app trusts its sidecar (MESH_SIDECAR), listens on loopback, and its Sidecar forwards there', () => {
    expect(deployments).toHaveLength(6)
    for (const d of deployments) {
      const spec = d.spec as {
        template: {
          spec: {
            containers: Array<{
              env?: Array<{ name: string; value?: string }>
              ports?: Array<{ containerPort: number }>
            }>
          }
        }
      }
      const container = spec.template.spec.containers[0]
      const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]))
      expect(env, d.metadata.name).toMatchObject({ MESH_SIDECAR: 'true', HOST: '127.0.0.1' })
      const annotations = (d.spec as { template: { metadata?: { annotations?: Record<string, string> } } })
        .template.metadata?.annotations
      // Istio's rewritten probes go to the pod IP unless told otherwise; the app is on loopback.
      expect(annotations?.['proxy.istio.io/config'], d.metadata.name).toMatch(
        /REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION: "true"/,
      )
      const port = container?.ports?.[0]?.containerPort
      const sidecar = objects.find((o) => o.kind === 'Sidecar' && o.metadata.name === d.metadata.name)
      expect((sidecar?.spec as { ingress?: unknown[] } | undefined)?.ingress, d.metadata.name).toEqual([
        { port: { number: port, protocol: 'HTTP', name: 'http' }, defaultEndpoint: `127.0.0.1:${port}` },
      ])
    }
  })
})

describe.skipIf(!kubectl)('the overlays', () => {
  const render = (dir: string) =>
    parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map(
      (d) => d.toJS() as K8sObject,
    )

  it('kind serves localhost, pulls no image, and admits only the five APIs to PostgreSQL', () => {
    const objects = render(SETS['overlays/kind'])
    const gateway = objects.find((o) => o.kind === 'Gateway') as K8sObject
    expect((gateway.spec as { servers: Array<{ hosts: string[] }> }).servers[0]?.hosts).toEqual(['localhost'])
    for (const d of objects.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === 'docs')) {
      const c = (
        d.spec as { template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } } }
      ).template.spec.containers[0]
      expect(c?.image).toMatch(/^docs-mesh\/[a-z-]+:kind$/)
      expect(c?.imagePullPolicy).toBe('IfNotPresent')
    }
    const db = objects.find(
      (o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === 'postgres',
    ) as K8sObject
    expect(JSON.stringify(db.spec)).toContain('"ports":["5432"]')
  })

  it('production keeps api.rossmck.dev and its TLS secret', () => {
    const gateway = render(SETS['overlays/production']).find((o) => o.kind === 'Gateway') as K8sObject
    expect(gateway.spec).toMatchObject({
      servers: [{ hosts: ['api.rossmck.dev'], tls: { mode: 'SIMPLE', credentialName: 'api-tls-cert' } }],
    })
  })
})

describe('scripts', () => {
  const shellcheck = requireFor('the scripts check', hasCommand('shellcheck'), 'ShellCheck')
  it.skipIf(!shellcheck)('pass shellcheck', () => {
    const root = here('../../')
    expect(() =>
      execFileSync('sh', ['-c', 'shellcheck scripts/*.sh .ci/run'], { cwd: root, stdio: 'pipe' }),
    ).not.toThrow()
  })
})
