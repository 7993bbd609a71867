import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { whoCanCall } from '../../src/graph/who-can-call.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

// A dry-run policy is an Envoy shadow rule (istio/istio
// pilot/pkg/security/authz/builder/builder.go isDryRun): it admits nothing, so
// the graph draws no edge from it.
describe('mesh graph and dry-run policies', () => {
  it('draws the edges of enforced policies only', () => {
    const model = buildMeshModel(
      parseAllDocuments(`apiVersion: v1
kind: Namespace
metadata: {name: docs, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: docs}
spec:
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: trial
  namespace: docs
  annotations: {istio.io/dry-run: "true"}
spec:
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/docs/sa/tester"]
`).map((d) => d.toJS() as K8sObject),
    )
    expect(whoCanCall(model)).toEqual([
      {
        from: 'any caller',
        to: 'api',
        operations: 'any request (no ALLOW policy)',
        policy: '-',
        network: null,
      },
    ])
  })
})
