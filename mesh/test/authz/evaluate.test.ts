import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { compilePolicy } from '../../src/authz/compile-policy.ts'
import { type AuthzRequest, evaluate } from '../../src/authz/evaluate.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

const policies = (yaml: string) =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject)
    .map(compilePolicy)

const request = (overrides: Partial<AuthzRequest> = {}): AuthzRequest => ({
  namespace: 'docs',
  labels: { app: 'signing-api' },
  principal: 'cluster.local/ns/docs/sa/bucket-sa',
  sourceIp: '10.0.0.5',
  method: 'GET',
  path: '/',
  port: 8001,
  host: 'signing-api.docs.svc.cluster.local:8001',
  headers: {},
  ...overrides,
})

const policy = (spec: string, meta = 'name: p\n  namespace: docs') =>
  `apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  ${meta}\nspec:\n${spec}`

describe('policy engine semantics', () => {
  it('allows a workload no ALLOW policy selects', () => {
    expect(evaluate([], request())).toMatchObject({ decision: 'ALLOW', policy: null, rule: null })
  })

  it('denies everything under spec: {}', () => {
    expect(evaluate(policies(policy('  {}')), request())).toMatchObject({ decision: 'DENY', policy: null })
  })

  it('allows everything with rules: [{}]', () => {
    expect(evaluate(policies(policy('  rules:\n    - {}')), request())).toMatchObject({
      decision: 'ALLOW',
      policy: 'docs/p',
      rule: 0,
    })
  })

  it('lets a DENY win over an ALLOW, and AUDIT change nothing', () => {
    const set = policies(
      [
        policy('  rules:\n    - {}', 'name: allow-all\n  namespace: docs'),
        policy(
          '  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: ["/secret*"]',
          'name: deny-secret\n  namespace: docs',
        ),
        policy('  action: AUDIT\n  rules:\n    - {}', 'name: audit\n  namespace: docs'),
      ].join('\n---\n'),
    )
    expect(evaluate(set, request({ path: '/secret/x' }))).toMatchObject({
      decision: 'DENY',
      policy: 'docs/deny-secret',
      rule: 0,
    })
    expect(evaluate(set, request({ path: '/open' }))).toMatchObject({
      decision: 'ALLOW',
      policy: 'docs/allow-all',
    })
  })

  it('applies root-namespace policies mesh-wide and others only in their namespace', () => {
    const root = policies(policy('  {}', 'name: deny\n  namespace: istio-system'))
    const other = policies(policy('  {}', 'name: deny\n  namespace: elsewhere'))
    expect(evaluate(root, request()).decision).toBe('DENY')
    expect(evaluate(other, request()).decision).toBe('ALLOW')
  })

  it('selects workloads whose labels are a superset of the selector', () => {
    const set = policies(
      policy('  selector:\n    matchLabels:\n      app: signing-api\n      tier: core\n  rules: []'),
    )
    expect(evaluate(set, request({ labels: { app: 'signing-api' } })).decision).toBe('ALLOW')
    expect(
      evaluate(set, request({ labels: { app: 'signing-api', tier: 'core', extra: 'x' } })).decision,
    ).toBe('DENY')
  })

  it('ANDs from, to and when, and ORs the values in a list', () => {
    const set = policies(
      policy(`  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/docs/sa/bucket-sa", "cluster.local/ns/docs/sa/identity-sa"]
      to:
        - operation:
            methods: ["POST"]
            paths: ["/sign"]
      when:
        - key: request.headers[x-tenant]
          values: ["acme*"]`),
    )
    const ok = request({ method: 'POST', path: '/sign', headers: { 'X-Tenant': 'acme-1' } })
    expect(evaluate(set, ok).decision).toBe('ALLOW')
    expect(evaluate(set, { ...ok, principal: 'cluster.local/ns/docs/sa/identity-sa' }).decision).toBe('ALLOW')
    expect(evaluate(set, { ...ok, principal: 'cluster.local/ns/docs/sa/admin-sa' }).decision).toBe('DENY')
    expect(evaluate(set, { ...ok, method: 'GET' }).decision).toBe('DENY')
    expect(evaluate(set, { ...ok, headers: {} }).decision).toBe('DENY')
  })

  it('treats the not-fields as "none of", including for a caller without a certificate', () => {
    const set = policies(
      policy(`  action: DENY\n  rules:\n    - from:\n        - source:\n            notPrincipals: ["*"]`) +
        `\n---\n${policy('  rules:\n    - {}', 'name: all\n  namespace: docs')}`,
    )
    expect(evaluate(set, request({ principal: null })).decision).toBe('DENY')
    expect(evaluate(set, request()).decision).toBe('ALLOW')
  })

  it('matches namespaces from the principal, ipBlocks by CIDR, ports, and hosts case-insensitively', () => {
    const set = policies(
      policy(`  rules:
    - from:
        - source:
            namespaces: ["docs"]
            ipBlocks: ["10.0.0.0/8"]
      to:
        - operation:
            hosts: ["Signing-API.docs.svc.cluster.local"]
            ports: ["8001"]`),
    )
    expect(evaluate(set, request()).decision).toBe('ALLOW')
    expect(evaluate(set, request({ sourceIp: '192.168.1.1' })).decision).toBe('DENY')
    expect(evaluate(set, request({ principal: 'cluster.local/ns/other/sa/x' })).decision).toBe('DENY')
    expect(evaluate(set, request({ port: 9000 })).decision).toBe('DENY')
    expect(evaluate(set, request({ host: 'evil.example' })).decision).toBe('DENY')
  })

  it('matches normalized paths, so dot-segment and escape tricks do not slip past', () => {
    const set = policies(
      `${policy(
        '  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: ["/internal/*"]',
      )}\n---\n${policy('  rules:\n    - {}', 'name: all\n  namespace: docs')}`,
    )
    for (const path of [
      '/internal/users',
      '/x/../internal/users',
      '/x/%2e%2e/internal/users',
      '/x\\..\\internal\\users',
      '/internal/users?x=1',
    ]) {
      expect(evaluate(set, request({ path })).decision, path).toBe('DENY')
    }
  })

  it.each([
    ['  action: CUSTOM\n  provider:\n    name: opa', /CUSTOM/],
    ['  rules:\n    - from:\n        - source:\n            requestPrincipals: ["*"]', /requestPrincipals/],
    ['  targetRefs:\n    - kind: Gateway\n      name: g', /targetRefs/],
    [
      '  rules:\n    - when:\n        - key: request.auth.claims[iss]\n          values: ["x"]',
      /request\.auth\.claims/,
    ],
    ['  rules:\n    - to:\n        - operation:\n            paths: ["/x/{**}/y/{*}"]', /last operator/],
    ['  action: MAYBE', /unknown action/],
  ])('refuses what it does not implement: %j', (spec, message) => {
    expect(() => policies(policy(spec))).toThrow(message)
  })
})

describe('the project policies (k8s/base)', () => {
  const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
  const call = (from: string | null, to: string, method: string, path: string) => {
    const w = model.workloads.find((x) => x.name === to)
    if (!w) throw new Error(to)
    return evaluate(model.policies, {
      ...request({ labels: w.labels, principal: from, method, path, port: w.containerPorts[0] ?? 0 }),
    })
  }
  const sa = (name: string) => `cluster.local/ns/docs/sa/${name}`
  const gateway = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'

  it('lets bucket-api and identity-api sign, and names the rule', () => {
    expect(call(sa('bucket-sa'), 'signing-api', 'POST', '/sign')).toMatchObject({
      decision: 'ALLOW',
      policy: 'docs/signing-api',
      rule: 0,
    })
    expect(call(sa('identity-sa'), 'signing-api', 'POST', '/sign')).toMatchObject({
      decision: 'ALLOW',
      policy: 'docs/signing-api',
      rule: 0,
    })
  })

  it.each([gateway, sa('frontend-sa'), sa('admin-sa'), sa('verification-sa'), null])(
    'refuses POST /sign from %s',
    (from) => {
      expect(call(from, 'signing-api', 'POST', '/sign').decision).toBe('DENY')
    },
  )

  it('opens health to anyone, even without a certificate', () => {
    expect(call(null, 'signing-api', 'GET', '/health/ready')).toMatchObject({ decision: 'ALLOW', rule: 1 })
  })
})
