// The policy decision on a TCP port, where Envoy's RBAC runs as a network
// filter and sees a connection, not requests: the engine's TCP form of the
// policies (authz/tcp-rules.ts, after Istio's builder with forTCP), asked with
// the connection's attributes only.

import type { CompiledPolicy } from '../authz/compile-policy.ts'
import { type AuthzRequest, type Decision, evaluate } from '../authz/evaluate.ts'

export type TcpConnection = Pick<AuthzRequest, 'namespace' | 'labels' | 'principal' | 'sourceIp' | 'port'>

/** ALLOW or DENY for a whole connection to a TCP port. */
export function evaluateTcpConnection(policies: readonly CompiledPolicy[], c: TcpConnection): Decision {
  return evaluate(policies, { ...c, protocol: 'tcp', method: '', path: '/', host: '', headers: {} })
}
