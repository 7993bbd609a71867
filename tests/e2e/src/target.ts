// Where the matrix runs: the local mesh, or a kind cluster with Istio.
import type { Sample } from '@docs-mesh/mesh/telemetry'

export interface Outcome {
  /** curl's exit codes: 0 a response came back, 7 refused, 28 timed out, 35 TLS handshake failed, 56 closed without a response. */
  exitCode: number
  status?: number
  body?: string
  server?: string
}

export interface Reached {
  workload: string
  path: string
  /** What that workload's sidecar (or the gateway) decided for the request. */
  decision: 'ALLOW' | 'DENY'
  /** The calling workload (from its principal), where the target can tell. */
  source?: string
  /** For a denial, the response code details Envoy's RBAC filter logs (`rbac_access_denied_matched_policy[...]`). */
  rbacDetails?: string
}

/** What every proxy recorded: its workload's /stats/prometheus samples and its access-log lines. */
export interface Telemetry {
  samples: Record<string, Sample[]>
  accessLogs: Record<string, string[]>
}

export interface Target {
  /** `from` calls http://<service>.docs.svc.cluster.local:<port><path> as a mesh workload (or the gateway's identity). */
  meshCall(
    from: string,
    service: string,
    port: number,
    method: string,
    path: string,
  ): Promise<Outcome & { reached: Reached[] | null }>
  /** A plaintext client, or one with a certificate from another CA, calls the service directly. */
  refusedCall(from: 'plaintext' | 'foreign-ca', service: string, port: number): Promise<Outcome>
  /** A browser's request through the ingress gateway, and (where the target can tell) which sidecar received it. */
  gatewayCall(method: string, path: string, host?: string): Promise<Outcome & { reached: Reached[] | null }>
  /** Every proxy's metrics and access log (where the target can read them: locally). */
  telemetry?(): Promise<Telemetry>
  /** The L7 policies' answer for a call, without the network in front (where the target can tell). */
  policyDecision?(from: string, service: string, port: number, method: string, path: string): 'allow' | 'deny'
  close(): Promise<void>
}
