import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import type { K8sObject } from '../../src/manifests/k8s-object.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'
import { mtlsModeOf } from '../../src/manifests/peer-authentication.ts'
import { authzProtocolOf, istioProtocolOf } from '../../src/manifests/port-protocol.ts'

const model = (yaml: string) => buildMeshModel(parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject))
const pa = (namespace: string, mtls: string) =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: pa\n  namespace: ${namespace}\nspec:\n${mtls}`

// No PeerAuthentication means PERMISSIVE; a namespace's own policy wins over the
// mesh-wide one in the root namespace; UNSET inherits
// (https://istio.io/latest/docs/reference/config/security/peer_authentication/).
describe('mTLS mode per namespace', () => {
  it('is PERMISSIVE where no PeerAuthentication applies', () => {
    expect(mtlsModeOf(model('').mtlsModes, 'docs')).toBe('PERMISSIVE')
  })

  it('takes the mesh-wide mode, then the namespace one', () => {
    const m = model(
      [
        pa('istio-system', '  mtls:\n    mode: STRICT'),
        pa('legacy', '  mtls:\n    mode: PERMISSIVE'),
        pa('docs', '  mtls: {}'),
      ].join('\n---\n'),
    )
    expect(mtlsModeOf(m.mtlsModes, 'docs')).toBe('STRICT')
    expect(mtlsModeOf(m.mtlsModes, 'legacy')).toBe('PERMISSIVE')
    expect(mtlsModeOf(m.mtlsModes, 'other')).toBe('STRICT')
  })

  it('refuses port-level mTLS without a selector, as ValidatePeerAuthentication does', () => {
    expect(() => model(pa('docs', '  portLevelMtls:\n    8080:\n      mode: DISABLE'))).toThrow(
      /portLevelMtls: mesh\/namespace peer authentication cannot have port level mTLS/,
    )
  })
})

// istio/istio pkg/config/kube/conversion.go ConvertProtocol and pkg/config/protocol/instance.go.
describe('protocol selection for a Service port', () => {
  it.each([
    [{ name: 'http', port: 80 }, 'HTTP', 'http'],
    [{ name: 'http-web', port: 80 }, 'HTTP', 'http'],
    [{ name: 'GRPC-web-x', port: 80 }, 'GRPC-Web', 'http'],
    [{ name: 'tcp-db', port: 5432 }, 'TCP', 'tcp'],
    [{ name: 'https', port: 443 }, 'HTTPS', 'tcp'],
    [{ name: 'x', port: 3306 }, 'TCP', 'tcp'],
    [{ name: 'x', port: 8080 }, 'UnsupportedProtocol', 'http'],
    [{ name: 'http', port: 80, appProtocol: 'tcp' }, 'TCP', 'tcp'],
    [{ name: 'tcp', port: 80, appProtocol: 'kubernetes.io/h2c' }, 'HTTP2', 'http'],
  ])('%j is %s, so the %s filter', (port, instance, authz) => {
    expect(istioProtocolOf(port)).toBe(instance)
    expect(authzProtocolOf(port)).toBe(authz)
  })

  it('is kept on the model for each Service port', () => {
    const m = model(
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  namespace: docs\nspec:\n  ports:\n    - name: tcp-pg\n      port: 5432\n    - name: web\n      port: 80\n      appProtocol: http',
    )
    expect(m.services[0]?.ports.map((p) => p.protocol)).toEqual(['tcp', 'http'])
  })
})
