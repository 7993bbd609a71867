import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { lintObjects } from '../../src/lint/lint-manifests.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'

const base = loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url)))
const yaml = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as K8sObject)
const without = (kind: string, name?: string) =>
  base.filter((o) => !(o.kind === kind && (name === undefined || o.metadata.name === name)))
const rules = (objects: K8sObject[]) => lintObjects(objects).map((f) => f.rule)

describe('mesh lint', () => {
  it('finds nothing wrong with k8s/base', () => {
    expect(lintObjects(base)).toEqual([])
  })

  it('flags a selector that selects no workload', () => {
    const policy = yaml(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: typo, namespace: docs }
spec:
  selector: { matchLabels: { app: signing-apii } }
  rules: [{}]`)
    expect(rules([...base, ...policy])).toContain('selector-selects-nothing')
  })

  it('flags a principal that names no ServiceAccount', () => {
    const policy = yaml(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ghost, namespace: docs }
spec:
  selector: { matchLabels: { app: signing-api } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/ghost-sa"] } }]`)
    expect(rules([...base, ...policy])).toEqual(['unknown-principal'])
  })

  it('flags a route to a Service or port that does not exist', () => {
    const vs = base.find((o) => o.kind === 'VirtualService') as K8sObject
    const broken = structuredClone(vs)
    ;(broken.spec as { http: Array<{ route: Array<{ destination: { port: { number: number } } }> }> })
      .http[0]!.route[0]!.destination.port.number = 9999
    expect(rules([...without('VirtualService'), broken])).toEqual(['route-to-nowhere'])
  })

  it('flags a workload nothing can reach under the deny-all', () => {
    expect(rules(without('AuthorizationPolicy', 'admin-api'))).toEqual(['unreachable-workload'])
  })

  it('flags a namespace without STRICT mTLS', () => {
    expect(new Set(rules(without('PeerAuthentication')))).toEqual(new Set(['missing-strict-mtls']))
  })

  it('flags a DENY rule with HTTP-only fields and no ports', () => {
    const policy = yaml(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin-paths, namespace: docs }
spec:
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/admin/*"] } }]`)
    expect(rules([...base, ...policy])).toEqual(['deny-http-only-without-ports'])
  })

  it('flags unknown fields', () => {
    const policy = yaml(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: typo, namespace: docs }
spec:
  rule: [{}]`)
    expect(lintObjects([...base, ...policy])).toEqual([
      expect.objectContaining({
        rule: 'unsupported-or-unknown-field',
        message: expect.stringMatching(/"rule"/),
      }),
    ])
  })
})
