import { describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { compilePolicy } from '../../src/authz/compile-policy.ts'
import { evaluate } from '../../src/authz/evaluate.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'

const compile = (spec: string) =>
  compilePolicy(
    parseDocument(
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  namespace: docs\nspec:\n${spec}`,
    ).toJS() as K8sObject,
  )

// Each case is one that Istio's validating webhook rejects: ValidateAuthorizationPolicy
// in istio/istio pkg/config/validation/validation.go, with CheckEmptyValues,
// ValidateIPs, ValidatePorts, CheckValidPathTemplate and ValidateAttribute from
// pkg/config/security/security.go. Each message names the field.
describe('policies the webhook rejects are refused, naming the field', () => {
  it.each([
    ['a nil rule', '  rules:\n    - null', /spec\.rules\[0\]: `rule` must not be nil/],
    ['an empty from list', '  rules:\n    - from: []', /spec\.rules\[0\]\.from: `from` must not be empty/],
    ['an empty to list', '  rules:\n    - to: []', /spec\.rules\[0\]\.to: `to` must not be empty/],
    ['a from without source', '  rules:\n    - from:\n        - {}', /from\[0\]\.source: must not be nil/],
    [
      'an empty source',
      '  rules:\n    - from:\n        - source: {}',
      /from\[0\]\.source: must not be empty/,
    ],
    ['a to without operation', '  rules:\n    - to:\n        - {}', /to\[0\]\.operation: must not be nil/],
    [
      'an empty operation',
      '  rules:\n    - to:\n        - operation: {}',
      /to\[0\]\.operation: must not be empty/,
    ],
    ['DENY without rules', '  action: DENY', /spec\.rules: DENY action without `rules`/],
    ['DENY with rules: []', '  action: DENY\n  rules: []', /spec\.rules: DENY action without `rules`/],
    [
      'an empty principal',
      '  rules:\n    - from:\n        - source:\n            principals: [""]',
      /source\.principals: empty value not allowed/,
    ],
    [
      'an empty path',
      '  rules:\n    - to:\n        - operation:\n            notPaths: ["/a", ""]',
      /operation\.notPaths: empty value not allowed/,
    ],
    [
      'an empty condition value',
      '  rules:\n    - when:\n        - key: request.headers[x]\n          values: [""]',
      /when\[0\]\.values: empty value not allowed/,
    ],
    [
      'a bad CIDR',
      '  rules:\n    - from:\n        - source:\n            ipBlocks: ["10.0.0.0/33"]',
      /source\.ipBlocks: bad CIDR range \(10\.0\.0\.0\/33\)/,
    ],
    [
      'a bad IP',
      '  rules:\n    - from:\n        - source:\n            notIpBlocks: ["10.0.0.256"]',
      /source\.notIpBlocks: bad IP address/,
    ],
    [
      'a bad source.ip',
      '  rules:\n    - when:\n        - key: source.ip\n          values: ["nope"]',
      /when\[0\]\.values: bad IP address \(nope\)/,
    ],
    [
      'a bad port',
      '  rules:\n    - to:\n        - operation:\n            ports: ["http"]',
      /operation\.ports: bad port \(http\)/,
    ],
    [
      'a port too big',
      '  rules:\n    - to:\n        - operation:\n            notPorts: ["65536"]',
      /notPorts: bad port/,
    ],
    [
      'a bad destination.port',
      '  rules:\n    - when:\n        - key: destination.port\n          values: ["-1"]',
      /when\[0\]\.values: bad port/,
    ],
    ['an unknown field in a rule', '  rules:\n    - form: []', /spec\.rules\[0\]: field "form"/],
    [
      'an unknown field in a source',
      '  rules:\n    - from:\n        - source:\n            principal: ["x"]',
      /source: field "principal"/,
    ],
    ['an unknown spec field', '  rule: []', /spec: field "rule"/],
    [
      'a condition without values',
      '  rules:\n    - when:\n        - key: source.ip',
      /at least one of `values` or `notValues`/,
    ],
    [
      'a condition with an empty key',
      '  rules:\n    - when:\n        - key: ""\n          values: ["x"]',
      /when\[0\]\.key: `key` must not be empty/,
    ],
    [
      'an unknown attribute',
      '  rules:\n    - when:\n        - key: source.color\n          values: ["x"]',
      /unknown attribute: source\.color/,
    ],
    [
      'a bad header key',
      '  rules:\n    - when:\n        - key: request.headers[]\n          values: ["x"]',
      /bad key/,
    ],
    [
      'a template not last',
      '  rules:\n    - to:\n        - operation:\n            paths: ["/{**}/a/{*}"]',
      /operation\.paths: path template .* last operator/,
    ],
    ['a provider without CUSTOM', '  provider:\n    name: x\n  rules:\n    - {}', /spec\.provider/],
  ])('%s', (_name, spec, message) => {
    expect(() => compile(spec)).toThrow(message)
  })

  it('accepts what the webhook accepts: ALLOW without rules, rules: [{}], to/from omitted', () => {
    expect(compile('  {}').rules).toEqual([])
    expect(compile('  rules:\n    - {}').rules).toHaveLength(1)
    expect(compile('  action: DENY\n  rules:\n    - {}').action).toBe('DENY')
  })
})

describe('ipBlocks while serving', () => {
  it('never throw, whatever address the connection reports', () => {
    const p = compile('  rules:\n    - from:\n        - source:\n            ipBlocks: ["10.0.0.0/8", "::1"]')
    for (const sourceIp of ['', 'not-an-ip', '10.1.2.3', '::1', '::ffff:10.1.2.3', '2001:db8::1']) {
      expect(() =>
        evaluate([p], {
          namespace: 'docs',
          labels: {},
          principal: null,
          sourceIp,
          method: 'GET',
          path: '/',
          port: 1,
          host: 'h',
          headers: {},
        }),
      ).not.toThrow()
    }
  })
})
