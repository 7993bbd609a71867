import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { authzCheck } from '../../src/cli/authz-check-command.ts'

// `mesh authz check` evaluates a request to a TCP Service port (by name or
// appProtocol) with the rules Istio builds for the network filter
// (istio/istio pilot/pkg/security/authz/builder/builder.go BuildTCP).
describe('mesh authz check on a TCP port', () => {
  it('applies a DENY on HTTP-only fields to every connection there, and only there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'authz-tcp-'))
    writeFileSync(
      join(dir, 'manifests.yaml'),
      `apiVersion: v1
kind: Namespace
metadata: {name: docs, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: docs}
spec:
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          ports: [{containerPort: 5432}, {containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: docs}
spec:
  selector: {app: db}
  ports:
    - {name: tcp-postgres, port: 5432, targetPort: 5432}
    - {name: http-admin, port: 8080, targetPort: 8080}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: docs}
spec:
  action: DENY
  rules:
    - to:
        - operation:
            paths: ["/admin"]
`,
    )
    const requests = join(dir, 'requests.jsonl')
    writeFileSync(
      requests,
      [
        { to: 'db', from: null, method: 'GET', path: '/x', port: 8080 },
        { to: 'db', from: null, method: 'GET', path: '/x', port: 5432 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    )
    const out: string[] = []
    authzCheck([dir], requests, (line) => out.push(line))
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { decision: 'ALLOW', policy: null, rule: null, network: 'ALLOW', networkPolicy: null },
      { decision: 'DENY', policy: 'docs/no-admin', rule: 0, network: 'ALLOW', networkPolicy: null },
    ])
  })
})
