// A TCP Service port: the protocol Istio picks from the port name or
// appProtocol, policies in their TCP form, and the bytes carried unparsed.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { connect, createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { compilePolicy } from '../../src/authz/compile-policy.ts'
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { authzProtocolOf } from '../../src/manifests/port-protocol.ts'
import { type LocalMesh, startLocalMesh } from '../../src/runtime/local-mesh.ts'
import { evaluateTcpConnection } from '../../src/sidecar/tcp-authz.ts'
import { type EchoApps, startEchoApps } from '../fixtures/echo-apps.ts'

// istio/istio pkg/config/kube/conversion.go ConvertProtocol, pkg/config/protocol/instance.go.
describe('port protocol', () => {
  it.each([
    [8000, 'http', undefined, 'http'],
    [8000, 'http-web', undefined, 'http'],
    [8000, 'grpc-web-x', undefined, 'http'],
    [5432, 'tcp-postgres', undefined, 'tcp'],
    [5432, 'postgres', 'tcp', 'tcp'],
    [8443, 'https', undefined, 'tcp'],
    [8443, 'tls-x', undefined, 'tcp'],
    [8000, 'tcp', 'http', 'http'],
    [8000, undefined, 'kubernetes.io/h2c', 'http'],
    [8000, 'web', undefined, 'http'],
    [3306, 'db', undefined, 'tcp'],
  ] as const)('port %i name %s appProtocol %s: %s', (port, name, appProtocol, expected) => {
    expect(authzProtocolOf({ port, name, appProtocol })).toBe(expected)
  })
})

const objects = (yaml: string) => yaml.split('\n---\n').map((doc) => parse(doc) as K8sObject)
const policy = (yaml: string) => compilePolicy(parse(yaml) as K8sObject)
const connection = (principal: string) => ({
  namespace: 'docs',
  labels: { app: 'db' },
  principal: `cluster.local/ns/docs/sa/${principal}`,
  sourceIp: '127.0.0.1',
  port: 5432,
})

// istio/istio pilot/pkg/security/authz/model/model.go rule.checkError: an ALLOW
// rule with an HTTP-only field is dropped on TCP, a DENY rule loses those fields.
describe('policies on a TCP port', () => {
  const allow = policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db, namespace: docs }
spec:
  selector: { matchLabels: { app: db } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/bucket-sa"] } }]
      to: [{ operation: { ports: ["5432"] } }]
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/admin-sa"] } }]
      to: [{ operation: { methods: ["GET"] } }]`)
  const deny = policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-posts, namespace: docs }
spec:
  selector: { matchLabels: { app: db } }
  action: DENY
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/identity-sa"] } }]
      to: [{ operation: { methods: ["POST"] } }]`)
  const identityAllowed = policy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: identity, namespace: docs }
spec:
  selector: { matchLabels: { app: db } }
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/docs/sa/identity-sa"] } }] }]`)

  it('keeps an ALLOW rule of connection fields', () => {
    expect(evaluateTcpConnection([allow], connection('bucket-sa')).decision).toBe('ALLOW')
  })
  it('drops an ALLOW rule with an HTTP field, so it allows nothing', () => {
    expect(evaluateTcpConnection([allow], connection('admin-sa')).decision).toBe('DENY')
  })
  it('widens a DENY rule with an HTTP field to the whole connection', () => {
    expect(evaluateTcpConnection([identityAllowed], connection('identity-sa')).decision).toBe('ALLOW')
    expect(evaluateTcpConnection([identityAllowed, deny], connection('identity-sa'))).toMatchObject({
      decision: 'DENY',
      policy: 'docs/no-posts',
    })
  })
})

const db = objects(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: db, namespace: docs }
spec:
  template:
    metadata: { labels: { app: db } }
    spec:
      serviceAccountName: db-sa
      containers: [{ name: db, ports: [{ containerPort: 5432 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: docs }
spec:
  selector: { app: db }
  ports: [{ name: tcp-postgres, port: 5432, targetPort: 5432 }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db, namespace: docs }
spec:
  selector: { matchLabels: { app: db } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/bucket-sa"] } }]
    - from: [{ source: { principals: ["cluster.local/ns/docs/sa/admin-sa"] } }]
      to: [{ operation: { methods: ["GET"] } }]`)

describe('a TCP port through the local mesh', () => {
  const model = buildMeshModel([
    ...loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))),
    ...db,
  ])
  let apps: EchoApps
  let echo: Server
  let mesh: LocalMesh

  beforeAll(async () => {
    // The database stand-in answers bytes with bytes: no HTTP anywhere.
    echo = createServer((s) => s.pipe(s))
    echo.listen(0, '127.0.0.1')
    await once(echo, 'listening')
    apps = await startEchoApps(model.workloads.map((w) => w.name).filter((n) => n !== 'db'))
    mesh = await startLocalMesh({
      model,
      ca: await CertificateAuthority.create(),
      appPorts: { ...apps.ports, db: (echo.address() as AddressInfo).port },
      inboundPorts: 'ephemeral',
      gatewayPort: 0,
      hostAliases: {},
    })
  })
  afterAll(async () => {
    await mesh?.close()
    await apps?.close()
    echo?.close()
  })

  /** Opens a tunnel through a workload's outbound sidecar and echoes `ping` through it. */
  async function tunnel(from: string): Promise<string> {
    const socket = connect(mesh.state.workloads[from]?.proxyPort as number, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(
      'CONNECT db.docs.svc.cluster.local:5432 HTTP/1.1\r\nhost: db.docs.svc.cluster.local:5432\r\n\r\n',
    )
    let received = ''
    socket.on('data', (c: Buffer) => {
      received += c.toString()
      if (received.endsWith('\r\n\r\n') && received.startsWith('HTTP/1.1 200')) socket.write('ping\n')
      if (received.endsWith('ping\n')) socket.end()
    })
    await once(socket, 'close')
    return received
  }

  it('carries bytes for an allowed identity, unparsed', async () => {
    expect(await tunnel('bucket-api')).toBe('HTTP/1.1 200 Connection Established\r\n\r\nping\n')
  })

  it('closes the connection for an identity whose only rule has HTTP fields', async () => {
    expect(await tunnel('admin-api')).toBe('HTTP/1.1 200 Connection Established\r\n\r\n')
  })

  it('refuses a tunnel to an HTTP port', async () => {
    const socket = connect(mesh.state.workloads['bucket-api']?.proxyPort as number, '127.0.0.1')
    socket.write('CONNECT signing-api.docs.svc.cluster.local:8001 HTTP/1.1\r\nhost: x\r\n\r\n')
    let received = ''
    socket.on('data', (c: Buffer) => {
      received += c.toString()
    })
    await once(socket, 'close')
    expect(received).toMatch(/^HTTP\/1\.1 403 /)
  })
})
