// The protocol Istio gives a Service port, from its appProtocol or its name
// (istio/istio pkg/config/kube/conversion.go ConvertProtocol and
// pkg/config/protocol/instance.go Parse): appProtocol wins, else the name's
// prefix before the first `-` (`http-web`, `tcp-db`); an unknown name is sniffed
// (Envoy detects HTTP/1.1 and HTTP/2 on the connection), except on ports
// Istio knows are not HTTP (25, 53, 3306, 27017), which are TCP.

/** `http`: the HTTP filter chain (RBAC on HTTP fields); `tcp`: bytes only (RBAC on the connection). */
export type PortProtocol = 'http' | 'tcp'

const HTTP = new Set(['http', 'http2', 'grpc', 'grpc-web', 'http_proxy'])
// IsTCP in instance.go: TLS and HTTPS are passed through as bytes as well.
const TCP = new Set(['tcp', 'tls', 'https', 'mongo', 'redis', 'mysql'])
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017])

export function portProtocol(
  port: number,
  name: string | undefined,
  appProtocol: string | undefined,
): PortProtocol {
  let key = (appProtocol ?? name ?? '').toLowerCase()
  if (appProtocol === 'kubernetes.io/h2c' || appProtocol === 'kubernetes.io/ws') return 'http'
  if (appProtocol === 'kubernetes.io/wss') return 'tcp'
  if (!key.startsWith('grpc-web')) key = key.split('-')[0] ?? ''
  else key = 'grpc-web'
  if (HTTP.has(key)) return 'http'
  if (TCP.has(key)) return 'tcp'
  // Unsupported: sniffed, and what the local mesh carries is HTTP/1.1.
  return WELL_KNOWN_TCP_PORTS.has(port) ? 'tcp' : 'http'
}
