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
            hosts: ["Signing-API.docs.svc.cluster.local:8001"]
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
    [
      '  rules:\n    - when:\n        - key: connection.sni\n          values: ["x"]',
      /connection\.sni is not supported/,
    ],
    [
      '  rules:\n    - when:\n        - key: destination.ip\n          values: ["10.0.0.1"]',
      /destination\.ip is not supported/,
    ],
    [
      '  rules:\n    - when:\n        - key: request.headers[:scheme]\n          values: ["https"]',
      /:scheme/,
    ],
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

// hosts compile to Envoy's header matcher on `:authority` with ignore_case
// (istio/istio pilot/pkg/security/authz/matcher/header.go HostMatcher), so the
// port, when the client sends one, is part of what is matched.
describe('hosts and notHosts match the whole :authority', () => {
  const set = policies(
    policy(`  rules:
    - to:
        - operation:
            hosts: ["api.rossmck.dev"]`),
  )
  it('matches the authority as sent, ignoring case', () => {
    expect(evaluate(set, request({ host: 'API.rossmck.dev' })).decision).toBe('ALLOW')
  })
  it('does not match once the authority carries a port', () => {
    expect(evaluate(set, request({ host: 'api.rossmck.dev:8443' })).decision).toBe('DENY')
  })
  it('denies through notHosts only for the exact authority', () => {
    const deny = policies(
      `${policy('  action: DENY\n  rules:\n    - to:\n        - operation:\n            notHosts: ["*:8001"]')}\n---\n${policy('  rules:\n    - {}', 'name: all\n  namespace: docs')}`,
    )
    expect(evaluate(deny, request({ host: 'x:8001' })).decision).toBe('ALLOW')
    expect(evaluate(deny, request({ host: 'x' })).decision).toBe('DENY')
  })
})

// request.headers[...] compiles to Envoy's HeaderMatcher (matcher/header.go):
// `*` is present_match; Envoy reads repeated headers joined with ","
// (envoyproxy/envoy source/common/http/header_utility.cc getAllOfHeaderAsString).
describe('when request.headers[...]', () => {
  const when = (key: string, values: string) =>
    policies(policy(`  rules:\n    - when:\n        - key: "${key}"\n          values: ${values}`))

  it('treats * as presence: an empty value is present, an absent header is not', () => {
    const set = when('request.headers[x-tenant]', '["*"]')
    expect(evaluate(set, request({ headers: { 'x-tenant': '' } })).decision).toBe('ALLOW')
    expect(evaluate(set, request({ headers: {} })).decision).toBe('DENY')
  })

  it('joins repeated headers with "," before matching', () => {
    const set = when('request.headers[x-tenant]', '["a,b"]')
    expect(evaluate(set, request({ headers: { 'x-tenant': ['a', 'b'] } })).decision).toBe('ALLOW')
    expect(evaluate(set, request({ headers: { 'x-tenant': ['a'] } })).decision).toBe('DENY')
  })

  it('sees :path (normalized, with its query), :method and :authority', () => {
    expect(
      evaluate(when('request.headers[:path]', '["/a/c?x=1"]'), request({ path: '/a/b/../c?x=1' })).decision,
    ).toBe('ALLOW')
    expect(evaluate(when('request.headers[:method]', '["PUT"]'), request({ method: 'PUT' })).decision).toBe(
      'ALLOW',
    )
    expect(evaluate(when('request.headers[:authority]', '["h:1"]'), request({ host: 'h:1' })).decision).toBe(
      'ALLOW',
    )
    expect(evaluate(when('request.headers[:authority]', '["H:1"]'), request({ host: 'h:1' })).decision).toBe(
      'DENY',
    )
  })
})

// Envoy answers 400 when normalization fails (an escaped NUL); the engine never allows such a path.
describe('paths Envoy rejects', () => {
  it('are denied even where everything is allowed', () => {
    const set = policies(policy('  rules:\n    - {}'))
    expect(evaluate(set, request({ path: '/a%00' }))).toMatchObject({ decision: 'DENY', policy: null })
  })
  it('match templates after Envoy canonicalization: a space is %20, inside {*}', () => {
    const set = policies(
      policy('  rules:\n    - to:\n        - operation:\n            paths: ["/files/{*}"]'),
    )
    expect(evaluate(set, request({ path: '/files/a b' })).decision).toBe('ALLOW')
    expect(evaluate(set, request({ path: '/files/a=b' })).decision).toBe('DENY')
  })
})

// istio.io/dry-run: Istio puts the policy in the RBAC filter's shadow_rules
// (istio/istio pilot/pkg/security/authz/builder/builder.go isDryRun; golden
// files testdata/http/dry-run-*): evaluated and reported, never enforced.
describe('dry-run policies', () => {
  const dryRun = (name: string, spec: string) =>
    policy(spec, `name: ${name}\n  namespace: docs\n  annotations:\n    istio.io/dry-run: "true"`)

  it('never change the decision and report what they would have done', () => {
    const set = policies(
      [
        dryRun(
          'would-deny',
          '  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: ["/deny"]',
        ),
        dryRun('would-allow', '  rules:\n    - to:\n        - operation:\n            paths: ["/allow"]'),
      ].join('\n---\n'),
    )
    expect(evaluate(set, request({ path: '/deny' }))).toMatchObject({
      decision: 'ALLOW',
      policy: null,
      shadow: [
        { action: 'DENY', decision: 'DENY', policy: 'docs/would-deny', rule: 0 },
        { action: 'ALLOW', decision: 'DENY', policy: null, rule: null },
      ],
    })
    expect(evaluate(set, request({ path: '/allow' })).shadow).toEqual([
      { action: 'DENY', decision: 'ALLOW', policy: null, rule: null },
      { action: 'ALLOW', decision: 'ALLOW', policy: 'docs/would-allow', rule: 0 },
    ])
  })

  it('leave enforced policies in force, and "false" enforces', () => {
    const set = policies(
      [
        dryRun('dry', '  rules:\n    - to:\n        - operation:\n            paths: ["/allow"]'),
        policy(
          '  rules:\n    - to:\n        - operation:\n            paths: ["/another"]',
          'name: real\n  namespace: docs\n  annotations:\n    istio.io/dry-run: "false"',
        ),
      ].join('\n---\n'),
    )
    expect(evaluate(set, request({ path: '/allow' })).decision).toBe('DENY')
    expect(evaluate(set, request({ path: '/another' })).decision).toBe('ALLOW')
  })

  it('refuses an annotation that is not a boolean', () => {
    expect(() =>
      policies(
        policy(
          '  rules:\n    - {}',
          'name: p\n  namespace: docs\n  annotations:\n    istio.io/dry-run: "yes"',
        ),
      ),
    ).toThrow(/istio\.io\/dry-run.*not a boolean/)
  })
})

// On a TCP port Istio builds the network RBAC filter: HTTP-only fields make an
// ALLOW rule disappear and are dropped from a DENY rule
// (istio/istio pilot/pkg/security/authz/model/model.go checkError; golden files
// pilot/pkg/security/authz/builder/testdata/tcp/*).
describe('TCP ports', () => {
  const tcp = (overrides: Partial<AuthzRequest> = {}) => request({ protocol: 'tcp', ...overrides })

  it('drop an ALLOW rule that names an HTTP-only field', () => {
    const set = policies(
      policy(`  rules:
    - to:
        - operation:
            methods: ["GET"]
    - from:
        - source:
            namespaces: ["docs"]
      to:
        - operation:
            ports: ["8001"]`),
    )
    expect(evaluate(set, request({ method: 'GET', principal: null })).decision).toBe('ALLOW')
    expect(evaluate(set, tcp({ principal: null }))).toMatchObject({ decision: 'DENY' })
    expect(evaluate(set, tcp())).toMatchObject({ decision: 'ALLOW', rule: 1 })
  })

  it('turn a DENY on HTTP-only fields into a DENY of every connection', () => {
    const set = policies(
      `${policy('  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: ["/admin"]')}\n---\n${policy('  rules:\n    - {}', 'name: all\n  namespace: docs')}`,
    )
    expect(evaluate(set, request({ path: '/open' })).decision).toBe('ALLOW')
    expect(evaluate(set, tcp({ path: '/open' }))).toMatchObject({
      decision: 'DENY',
      policy: 'docs/p',
      rule: 0,
    })
  })

  it('keep the TCP fields of a DENY rule', () => {
    const set = policies(
      policy(`  action: DENY
  rules:
    - to:
        - operation:
            ports: ["9000"]
            methods: ["GET"]
      when:
        - key: request.headers[x]
          values: ["y"]`),
    )
    expect(evaluate(set, tcp({ port: 9000 })).decision).toBe('DENY')
    expect(evaluate(set, tcp({ port: 8001 })).decision).toBe('ALLOW')
  })
})

// No PeerAuthentication means PERMISSIVE: a plaintext caller reaches the
// policy with no principal (Envoy's `authenticated` matcher needs a TLS peer).
describe('a plaintext caller under PERMISSIVE', () => {
  it('matches no principals or namespaces, and every notPrincipals', () => {
    const set = policies(
      policy(`  rules:
    - from:
        - source:
            namespaces: ["*"]
    - from:
        - source:
            notPrincipals: ["cluster.local/ns/docs/sa/bucket-sa"]
      to:
        - operation:
            paths: ["/open"]`),
    )
    expect(evaluate(set, request({ principal: null, path: '/x' })).decision).toBe('DENY')
    expect(evaluate(set, request({ principal: null, path: '/open' }))).toMatchObject({
      decision: 'ALLOW',
      rule: 1,
    })
  })
})
