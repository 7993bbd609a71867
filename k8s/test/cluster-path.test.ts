// What a first `make kind-up` and a first production rollout depend on and
// kubectl kustomize alone can check: the whole kind system fits the machine
// docs/kind.md names, the services wait for PostgreSQL longer than it takes
// to come up, the provider's fixed ClusterIP cannot already be taken, the
// production overlay pulls real images and names its own issuer, and the
// pinned versions agree with each other.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { hasCommand, requireFor } from '@docs-mesh/platform/testing'
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const read = (path: string) => readFileSync(here(`../../${path}`), 'utf8')
const kubectl = requireFor('the overlay checks', hasCommand('kubectl', ['version', '--client']), 'kubectl')

interface Container {
  name: string
  image: string
  env?: Array<{ name: string; value?: string }>
  resources: { requests: { cpu: string; memory: string } }
  startupProbe?: { periodSeconds: number; failureThreshold: number }
}
interface Workload {
  kind: string
  metadata: { name: string; namespace: string; labels?: Record<string, string> }
  spec: {
    replicas?: number
    clusterIP?: string
    storageClassName?: string
    accessModes?: string[]
    template: { spec: { containers: Container[]; hostAliases?: Array<{ ip: string; hostnames: string[] }> } }
  }
}

const render = (dir: string): Workload[] =>
  parseAllDocuments(execFileSync('kubectl', ['kustomize', here(`../${dir}`)], { encoding: 'utf8' })).map(
    (d) => d.toJS() as Workload,
  )
const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000)
const mebibytes = (q: string) =>
  q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : Number(q.replace(/Mi$/, ''))

describe.skipIf(!kubectl)('the kind overlay', () => {
  const objects = kubectl ? render('overlays/kind') : []
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')

  it('requests less than half of a 4-CPU/8 GiB Docker VM, Istio and Kubernetes included', () => {
    const operator = parse(read('k8s/kind/istio-operator.yaml'))
    const proxy = operator.spec.values.global.proxy.resources.requests
    const istiod = operator.spec.components.pilot.k8s.resources.requests
    const gateway = operator.spec.components.ingressGateways[0].k8s.resources.requests
    const injected = new Set(
      objects
        .filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['istio-injection'] === 'enabled')
        .map((o) => o.metadata.name),
    )
    const pods = workloads.map((w) => ({ w, replicas: w.spec.replicas ?? 1 }))
    const sidecars = pods
      .filter(({ w }) => injected.has(w.metadata.namespace))
      .reduce((n, p) => n + p.replicas, 0)
    expect(sidecars).toBe(7)
    // kind's control plane as kubeadm sets it up: kube-apiserver 250m, kube-controller-manager
    // 200m, kube-scheduler 100m, etcd 100m/100Mi, two CoreDNS 100m/70Mi, kindnet 100m/50Mi.
    const kubernetes = { cpu: 250 + 200 + 100 + 100 + 2 * 100 + 100, memory: 100 + 2 * 70 + 50 }
    const apps = pods.flatMap(({ w, replicas }) =>
      w.spec.template.spec.containers.map((c) => ({
        cpu: cpu(c.resources.requests.cpu) * replicas,
        memory: mebibytes(c.resources.requests.memory) * replicas,
      })),
    )
    const total = {
      cpu:
        apps.reduce((s, a) => s + a.cpu, 0) +
        sidecars * cpu(proxy.cpu) +
        cpu(istiod.cpu) +
        cpu(gateway.cpu) +
        kubernetes.cpu,
      memory:
        apps.reduce((s, a) => s + a.memory, 0) +
        sidecars * mebibytes(proxy.memory) +
        mebibytes(istiod.memory) +
        mebibytes(gateway.memory) +
        kubernetes.memory,
    }
    expect(total.cpu).toBeLessThanOrEqual(2000)
    expect(total.memory).toBeLessThanOrEqual(4096)
  })

  it('gives each service’s startup probe longer than its 150 s wait for PostgreSQL', () => {
    for (const w of workloads.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === 'docs')) {
      const probe = w.spec.template.spec.containers[0]?.startupProbe
      expect(probe, w.metadata.name).toBeDefined()
      expect((probe?.periodSeconds ?? 10) * (probe?.failureThreshold ?? 3), w.metadata.name).toBeGreaterThan(
        150,
      )
    }
  })

  it('takes the provider’s fixed ClusterIP from the static band of kind’s service range', () => {
    const service = objects.find(
      (o) => o.kind === 'Service' && o.metadata.name === 'oidc-provider',
    ) as Workload
    const ip = service.spec.clusterIP as string
    // KEP-3070 (kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation): the
    // static band is the first min(max(16, size / 16), 256) addresses of the range; kind's is
    // 10.96.0.0/12, whose 10.96.0.1 is the kubernetes Service and 10.96.0.10 kube-dns.
    const size = 2 ** (32 - 12)
    const band = Math.min(Math.max(16, size / 16), 256)
    const offset =
      ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0) - (10 * 2 ** 24 + 96 * 2 ** 16)
    expect(offset).toBeGreaterThan(0)
    expect(offset).toBeLessThanOrEqual(band)
    expect([1, 10]).not.toContain(offset)
    const identity = workloads.find((w) => w.metadata.name === 'identity-api') as Workload
    expect(identity.spec.template.spec.hostAliases).toEqual([{ ip, hostnames: ['oidc.localhost'] }])
  })
})

describe.skipIf(!kubectl)('the production overlay', () => {
  const objects = kubectl ? render('overlays/production') : []
  const deployments = objects.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === 'docs')

  it('pulls each service from the documented registry at a fixed tag', () => {
    expect(deployments).toHaveLength(6)
    for (const d of deployments) {
      expect(d.spec.template.spec.containers[0]?.image).toBe(
        `ghcr.io/your-github-owner/docs-mesh-${d.metadata.name}:v0.1.0`,
      )
    }
  })

  it('names its own session issuer on every service', () => {
    for (const d of deployments) {
      const env = d.spec.template.spec.containers[0]?.env ?? []
      expect(
        env.filter((e) => e.name === 'SESSION_ISSUER'),
        d.metadata.name,
      ).toEqual([{ name: 'SESSION_ISSUER', value: 'https://api.rossmck.dev/auth' }])
    }
  })

  it('puts the shared blobs on a ReadWriteMany volume of a named storage class', () => {
    const claim = objects.find((o) => o.kind === 'PersistentVolumeClaim') as Workload
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany'])
    expect(claim.spec.storageClassName).toBeTruthy()
  })
})

describe('pinned versions', () => {
  const dockerfile = read('Dockerfile')
  const arg = (name: string) => dockerfile.match(new RegExp(`^ARG ${name}=(.+)$`, 'm'))?.[1]

  it('builds the images with the pnpm and the Node major the workspace declares', () => {
    const pkg = JSON.parse(read('package.json')) as { packageManager: string; engines: { node: string } }
    expect(`pnpm@${arg('PNPM_VERSION')}`).toBe(pkg.packageManager)
    expect(pkg.engines.node).toBe(`>=${arg('NODE_VERSION')?.split('.')[0]} <25`)
  })

  it('pins the kind node image by digest', () => {
    expect(read('scripts/kind-up.sh')).toMatch(
      /KIND_NODE_IMAGE:-kindest\/node:v1\.35\.0@sha256:[0-9a-f]{64}\}/,
    )
  })

  it('shares no SERVICE argument with the stages every image has in common', () => {
    const stages = dockerfile.split(/^FROM /m).slice(1)
    const shared = stages.filter((s) => /^\S+ AS (toolchain|store|build)$/m.test(s.split('\n')[0] as string))
    expect(shared).toHaveLength(3)
    for (const stage of shared) expect(stage).not.toMatch(/^ARG SERVICE/m)
  })
})
