import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { lintModel } from '../../src/lint/lint-manifests.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

// A dry-run ALLOW with no rules is a shadow rule (istio/istio
// pilot/pkg/security/authz/builder/builder.go isDryRun): it blocks nothing.
describe('mesh lint and dry-run policies', () => {
  it('does not call a workload unreachable because of a dry-run allow-nothing', () => {
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
spec: {}
`).map((d) => d.toJS() as K8sObject),
    )
    expect(lintModel(model).filter((f) => f.rule === 'unreachable-workload')).toEqual([])
  })
})
