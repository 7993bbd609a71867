// Istio's protocol selection for a Service port: `appProtocol` if set, else
// the port name's prefix before `-` (pkg/config/kube/conversion.go
// ConvertProtocol, pkg/config/protocol/instance.go, istio/istio;
// https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/).
// The policy engine needs one answer from it: whether a port gets Envoy's HTTP
// RBAC filter or the network (TCP) one.

/** `http`: the HTTP filter chain (RBAC on HTTP fields); `tcp`: bytes only (RBAC on the connection). */
export type PortProtocol = 'http' | 'tcp'

export interface PortProtocolInput {
  name?: string | undefined
  port: number
  appProtocol?: string | undefined
  /** Kubernetes' L4 protocol (TCP by default). */
  protocol?: string | undefined
}

const NAMES: Record<string, string> = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-Web',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'Mongo',
  redis: 'Redis',
  mysql: 'MySQL',
}

const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017])

/** Istio's protocol instance for a port, `UnsupportedProtocol` when it is left to sniffing. */
export function istioProtocolOf(p: PortProtocolInput): string {
  if (p.protocol === 'UDP') return 'UDP'
  let name = p.name ?? ''
  if (p.appProtocol !== undefined) {
    name = p.appProtocol
    if (name === 'kubernetes.io/h2c') return 'HTTP2'
    if (name === 'kubernetes.io/ws') return 'HTTP'
    if (name === 'kubernetes.io/wss') return 'HTTPS'
  }
  if (name.toLowerCase().startsWith('grpc-web')) return 'GRPC-Web'
  const prefix = name.split('-')[0]?.toLowerCase() ?? ''
  const parsed = NAMES[prefix]
  if (parsed) return parsed
  return WELL_KNOWN_TCP_PORTS.has(p.port) ? 'TCP' : 'UnsupportedProtocol'
}

/**
 * `tcp` for the protocols Istio serves with the network filter chain (TCP,
 * HTTPS and TLS passed through, Mongo, Redis, MySQL; UDP is not proxied at
 * all), else `http`. A port left to sniffing gets the HTTP chain for HTTP
 * traffic, the only traffic the local mesh carries.
 */
export function authzProtocolOf(p: PortProtocolInput): PortProtocol {
  const protocol = istioProtocolOf(p)
  return ['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-Web', 'UnsupportedProtocol'].includes(protocol)
    ? 'http'
    : 'tcp'
}
