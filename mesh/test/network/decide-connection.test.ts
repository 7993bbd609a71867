// The network layer's decision with Kubernetes NetworkPolicy semantics
// (https://kubernetes.io/docs/concepts/services-networking/network-policies/),
// on small policies written for each rule and on the repository's own
// network-policies component.
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import {
  buildNetworkModel,
  decideConnection,
  meshNetworkModel,
  type NetworkPod,
  podNamed,
  sourceForPrincipal,
} from '../../src/network/index.ts'

const deployment = (name: string, namespace: string, labels: Record<string, string>, ports: object[] = []) =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { template: { metadata: { labels }, spec: { containers: [{ name, ports }] } } },
  }) as K8sObject
const policy = (name: string, namespace: string, spec: Record<string, unknown>) =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  }) as K8sObject
const namespace = (name: string, labels: Record<string, string>) =>
  ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }) as K8sObject

const WORKLOADS = [
  deployment('api', 'shop', { app: 'api' }, [{ name: 'http', containerPort: 8000 }, { containerPort: 9000 }]),
  deployment('web', 'shop', { app: 'web' }),
  deployment('job', 'batch', { app: 'job' }),
  deployment('api', 'other', { app: 'api' }),
  namespace('batch', { team: 'data' }),
]

function decide(
  policies: K8sObject[],
  from: string | null,
  to: string,
  port = 8000,
  ip: string | null = null,
) {
  const model = buildNetworkModel([...WORKLOADS, ...policies])
  const pod = (ref: string) => {
    const [ns, name] = ref.split('/')
    return podNamed(model, name as string, ns as string) as NetworkPod
  }
  const source = from === null ? { kind: 'outside' as const, ip } : { kind: 'pod' as const, pod: pod(from) }
  return decideConnection(model, source, pod(to), port)
}

describe('the network decision', () => {
  it('no policy: everything connects', () => {
    expect(decide([], 'shop/web', 'shop/api')).toEqual({ verdict: 'ALLOW', policy: null, direction: null })
    expect(decide([], null, 'shop/api').verdict).toBe('ALLOW')
  })

  it('a pod selected for ingress drops what no rule allows; other pods stay open', () => {
    const deny = policy('deny', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      policyTypes: ['Ingress'],
    })
    expect(decide([deny], 'shop/web', 'shop/api')).toEqual({
      verdict: 'DROP',
      policy: 'shop/deny',
      direction: 'ingress',
    })
    expect(decide([deny], 'shop/api', 'shop/web').verdict).toBe('ALLOW')
  })

  it('without policyTypes a policy is Ingress, plus Egress only when it has egress rules', () => {
    const ingressOnly = policy('p', 'shop', { podSelector: {} })
    expect(decide([ingressOnly], 'shop/web', 'shop/api').verdict).toBe('DROP')
    expect(decide([ingressOnly], 'shop/web', 'batch/job').verdict).toBe('ALLOW')
    const emptyTypes = policy('p', 'shop', { podSelector: {}, policyTypes: [] })
    expect(decide([emptyTypes], 'shop/web', 'shop/api')).toMatchObject({
      verdict: 'DROP',
      direction: 'ingress',
    })
    const withEgress = policy('e', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{}],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }] }],
    })
    expect(decide([withEgress], 'shop/web', 'batch/job')).toEqual({
      verdict: 'DROP',
      policy: 'shop/e',
      direction: 'egress',
    })
    expect(decide([withEgress], 'shop/web', 'shop/api')).toEqual({
      verdict: 'ALLOW',
      policy: 'shop/e',
      direction: null,
    })
  })

  it('both ends must allow: egress of the source and ingress of the destination', () => {
    const egressDeny = policy('out', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Egress'],
    })
    const ingressAllow = policy('in', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
    })
    expect(decide([egressDeny, ingressAllow], 'shop/web', 'shop/api')).toMatchObject({
      verdict: 'DROP',
      direction: 'egress',
    })
    expect(decide([ingressAllow], 'shop/web', 'shop/api')).toEqual({
      verdict: 'ALLOW',
      policy: 'shop/in',
      direction: null,
    })
  })

  it('allow-lists add up across policies, whatever their order', () => {
    const base = policy('a-deny', 'shop', { podSelector: {}, policyTypes: ['Ingress'] })
    const allowWeb = policy('b-web', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
    })
    const allowJob = policy('c-job', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'data' } } }] }],
    })
    fc.assert(
      fc.property(
        fc.shuffledSubarray([base, allowWeb, allowJob], { minLength: 3, maxLength: 3 }),
        (policies) => {
          expect(decide(policies, 'shop/web', 'shop/api')).toMatchObject({
            verdict: 'ALLOW',
            policy: 'shop/b-web',
          })
          expect(decide(policies, 'batch/job', 'shop/api')).toMatchObject({
            verdict: 'ALLOW',
            policy: 'shop/c-job',
          })
          expect(decide(policies, 'other/api', 'shop/api')).toMatchObject({
            verdict: 'DROP',
            policy: 'shop/a-deny',
          })
        },
      ),
    )
  })

  it('podSelector alone means the policy namespace; namespaceSelector alone any pod there; both together both', () => {
    const on = (peer: object) =>
      policy('p', 'shop', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [peer] }] })
    const apiPods = { podSelector: { matchLabels: { app: 'api' } } }
    expect(decide([on(apiPods)], 'other/api', 'shop/api').verdict).toBe('DROP')
    const byName = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }
    expect(decide([on(byName)], 'other/api', 'shop/api').verdict).toBe('ALLOW')
    expect(
      decide([on({ ...byName, podSelector: { matchLabels: { app: 'web' } } })], 'other/api', 'shop/api')
        .verdict,
    ).toBe('DROP')
    expect(decide([on({ ...byName, ...apiPods })], 'other/api', 'shop/api').verdict).toBe('ALLOW')
    // Two peers in one list are ORed, unlike the two selectors in one peer.
    const orList = policy('p', 'shop', {
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [{ from: [byName, { podSelector: { matchLabels: { app: 'web' } } }] }],
    })
    expect(decide([orList], 'shop/web', 'shop/api').verdict).toBe('ALLOW')
  })

  it('ports by number, by name of the destination container port, by range, and by protocol', () => {
    const on = (ports: object[]) =>
      policy('p', 'shop', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ ports }] })
    expect(decide([on([{ port: 8000 }])], 'shop/web', 'shop/api', 8000).verdict).toBe('ALLOW')
    expect(decide([on([{ port: 8000 }])], 'shop/web', 'shop/api', 9000).verdict).toBe('DROP')
    expect(decide([on([{ port: 'http' }])], 'shop/web', 'shop/api', 8000).verdict).toBe('ALLOW')
    expect(decide([on([{ port: 'http' }])], 'shop/web', 'shop/api', 9000).verdict).toBe('DROP')
    expect(decide([on([{ port: 7000, endPort: 8500 }])], 'shop/web', 'shop/api', 8000).verdict).toBe('ALLOW')
    expect(decide([on([{ port: 7000, endPort: 8500 }])], 'shop/web', 'shop/api', 9000).verdict).toBe('DROP')
    expect(decide([on([{ protocol: 'UDP', port: 8000 }])], 'shop/web', 'shop/api', 8000).verdict).toBe('DROP')
    expect(decide([on([{ protocol: 'TCP' }])], 'shop/web', 'shop/api', 9000).verdict).toBe('ALLOW')
  })

  it('ipBlock matches callers outside the cluster by address, never a pod', () => {
    const p = policy('p', 'shop', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }],
    })
    expect(decide([p], null, 'shop/api', 8000, '10.2.3.4').verdict).toBe('ALLOW')
    expect(decide([p], null, 'shop/api', 8000, '10.1.3.4').verdict).toBe('DROP')
    expect(decide([p], null, 'shop/api', 8000, null).verdict).toBe('DROP')
    expect(decide([p], 'shop/web', 'shop/api').verdict).toBe('DROP')
  })

  it('refuses policies the API server would reject, naming the field', () => {
    const bad = (spec: Record<string, unknown>) => () => buildNetworkModel([policy('bad', 'shop', spec)])
    expect(bad({})).toThrow('spec.podSelector: required')
    expect(bad({ podSelector: {}, policyTypes: ['Both'] })).toThrow('Both is not Ingress or Egress')
    expect(bad({ podSelector: {}, ingress: [{ from: [{}] }] })).toThrow(
      'spec.ingress[0].from[0]: a peer needs',
    )
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] })).toThrow(
      'spec.ingress[0].ports[0].port',
    )
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] })).toThrow('endPort')
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] })).toThrow(
      'at least port 90',
    )
    expect(bad({ podSelector: {}, ingress: [{ ports: [{ port: 'Not_A_Name' }] }] })).toThrow(
      'valid port name',
    )
    expect(bad({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] })).toThrow(
      'not a CIDR',
    )
    expect(
      bad({
        podSelector: {},
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }],
      }),
    ).toThrow('not a strict subset')
    expect(
      bad({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }),
    ).toThrow('ipBlock cannot be combined')
    expect(bad({ podSelector: {}, ingress: [{ from: [], sources: [] }] })).toThrow('field "sources"')
  })
})

describe('the repository network-policies component', () => {
  const root = fileURLToPath(new URL('../../../k8s/', import.meta.url))
  const model = buildMeshModel([
    ...loadManifests(`${root}base`),
    ...loadManifests(`${root}components/network-policies/network-policies.yaml`),
  ])
  const network = meshNetworkModel(model)
  const check = (from: string | null, to: string, port: number) =>
    decideConnection(
      network,
      sourceForPrincipal(model, network, from),
      podNamed(network, to, 'docs') as NetworkPod,
      port,
    )
  const sa = (name: string) => `cluster.local/ns/docs/sa/${name}`

  it('lets the gateway reach every service, and the callers the policies name reach their callees', () => {
    const gateway = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'
    expect(check(gateway, 'admin-api', 8005)).toEqual({
      verdict: 'ALLOW',
      policy: 'docs/allow-from-ingress-gateway',
      direction: null,
    })
    expect(check(sa('bucket-sa'), 'signing-api', 8001)).toEqual({
      verdict: 'ALLOW',
      policy: 'docs/signing-api-ingress',
      direction: null,
    })
    expect(check(sa('frontend-sa'), 'identity-api', 8003).verdict).toBe('ALLOW')
  })

  it('lets every pod reach DNS and istiod, as the component declares, and nothing else there', () => {
    const kubeDns: NetworkPod = {
      name: 'coredns',
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-dns' },
      ports: [
        { name: 'dns', containerPort: 53, protocol: 'UDP' },
        { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
      ],
    }
    const istiod: NetworkPod = {
      name: 'istiod',
      namespace: 'istio-system',
      labels: { app: 'istiod' },
      ports: [],
    }
    const withSystem = buildNetworkModel(model.objects, [kubeDns, istiod])
    const admin = { kind: 'pod' as const, pod: podNamed(withSystem, 'admin-api', 'docs') as NetworkPod }
    expect(decideConnection(withSystem, admin, kubeDns, 53, 'UDP')).toMatchObject({
      verdict: 'ALLOW',
      policy: 'docs/allow-dns-and-istiod',
    })
    expect(decideConnection(withSystem, admin, kubeDns, 53, 'TCP').verdict).toBe('ALLOW')
    expect(decideConnection(withSystem, admin, istiod, 15012).verdict).toBe('ALLOW')
    expect(decideConnection(withSystem, admin, istiod, 15014)).toMatchObject({
      verdict: 'DROP',
      direction: 'egress',
    })
  })

  it('drops every other edge, at the end that refuses it', () => {
    expect(check(sa('admin-sa'), 'signing-api', 8001)).toEqual({
      verdict: 'DROP',
      policy: 'docs/default-deny',
      direction: 'egress',
    })
    expect(check(sa('frontend-sa'), 'signing-api', 8001)).toEqual({
      verdict: 'DROP',
      policy: 'docs/default-deny',
      direction: 'ingress',
    })
    expect(check(sa('frontend-sa'), 'bucket-api', 8000).verdict).toBe('DROP')
    expect(check(null, 'bucket-api', 8000).verdict).toBe('DROP')
  })
})

describe('the network decision, as properties', () => {
  const app = fc.constantFrom('api', 'web', 'job')
  const peer = fc.oneof(
    app.map((a) => ({ podSelector: { matchLabels: { app: a } } })),
    fc.constantFrom('shop', 'batch', 'other').map((n) => ({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': n } },
    })),
  )
  const allowPolicy = fc.record({
    target: app,
    from: fc.array(peer, { maxLength: 2 }),
    port: fc.option(fc.constantFrom(8000, 9000, 'http'), { nil: undefined }),
  })
  const toObject = (p: { target: string; from: object[]; port: number | string | undefined }, i: number) =>
    policy(`allow-${i}`, 'shop', {
      podSelector: { matchLabels: { app: p.target } },
      ingress: [{ from: p.from, ...(p.port === undefined ? {} : { ports: [{ port: p.port }] }) }],
    })
  const denyAll = policy('deny-all', 'shop', { podSelector: {}, policyTypes: ['Ingress'] })
  const source = fc.constantFrom('shop/web', 'shop/api', 'batch/job', 'other/api')

  it('under a deny-all, a connection is allowed iff one policy alone would allow it (a union)', () => {
    fc.assert(
      fc.property(
        fc.array(allowPolicy, { maxLength: 4 }),
        source,
        fc.constantFrom(8000, 9000),
        (allows, from, port) => {
          const policies = allows.map(toObject)
          const together = decide([denyAll, ...policies], from, 'shop/api', port).verdict
          const alone = policies.some((p) => decide([denyAll, p], from, 'shop/api', port).verdict === 'ALLOW')
          expect(together).toBe(alone ? 'ALLOW' : 'DROP')
        },
      ),
    )
  })

  it('adding a policy never takes away what an isolated pod already allowed', () => {
    fc.assert(
      fc.property(fc.array(allowPolicy, { maxLength: 3 }), allowPolicy, source, (allows, extra, from) => {
        const before = decide([denyAll, ...allows.map(toObject)], from, 'shop/api').verdict
        const after = decide(
          [denyAll, ...allows.map(toObject), toObject(extra, 99)],
          from,
          'shop/api',
        ).verdict
        if (before === 'ALLOW') expect(after).toBe('ALLOW')
      }),
    )
  })
})
