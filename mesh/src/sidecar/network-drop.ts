// A connection the network layer drops, as the caller's Envoy reports it. A
// NetworkPolicy drop is silent: the SYN gets no answer, so Envoy's connect
// attempt times out after the cluster's connect timeout (Istio's default is
// 10 s: meshConfig.connectTimeout, pkg/config/mesh/mesh.go in istio/istio).
// Istio's default route retry policy retries "connect-failure" twice
// (pilot/pkg/networking/core/route/retry/retry.go: attempts 2,
// retryOn "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"),
// and Envoy counts a connection timeout as a connect failure
// (source/common/router/retry_state_impl.cc, wouldRetryFromReset). After the
// last attempt the router answers 503 with the body built in
// source/common/router/router.cc (onUpstreamReset):
// "upstream connect error or disconnect/reset before headers. " +
// "retried and the latest " (when it retried) + "reset reason: " +
// resetReasonToString(ConnectionTimeout) = "connection timeout".
// The `server` header is the answering proxy's own: Istio names a sidecar's
// outbound listener "envoy" (Envoy's default) and every other listener,
// the gateway's included, "istio-envoy", and overwrites the header with it
// (pilot/pkg/networking/util/proxy_headers.go, GetProxyHeadersFromProxyConfig).
import type { ServerResponse } from 'node:http'
import type { NetworkModel, NetworkPod, NetworkVerdict } from '../network/index.ts'
import { decideConnection } from '../network/index.ts'
import { type ServerName, sendUpstreamReset } from './envoy-responses.ts'
import { DEFAULT_RETRIES } from './forward.ts'
import type { Endpoint } from './service-directory.ts'

/** The local default: short, so a dropped call answers in seconds, not Istio's 10 s per attempt. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000
export const CONNECT_TIMEOUT_BODY =
  'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection timeout'

/** How long a meshed caller waits for a dropped connection: every attempt times out. */
export const dropAnswerDelayMs = (connectTimeoutMs: number) => connectTimeoutMs * (1 + DEFAULT_RETRIES)

export function answerDroppedConnection(
  res: ServerResponse,
  connectTimeoutMs: number,
  server: ServerName,
): void {
  const timer = setTimeout(() => {
    if (res.destroyed || res.headersSent) return
    sendUpstreamReset(res, server, { reason: 'connection timeout', transportFailure: '' }, true)
  }, dropAnswerDelayMs(connectTimeoutMs))
  res.on('close', () => clearTimeout(timer))
}

export interface NetworkGuardOptions {
  network: NetworkModel
  /** The pod the calling proxy runs in. */
  source: NetworkPod
  connectTimeoutMs: number
  /** The `server` header of the proxy that answers for the drop. */
  serverHeader: ServerName
  onDrop?: (endpoint: Endpoint, verdict: NetworkVerdict) => void
}

/**
 * A proxy's hook before it connects to an endpoint: true when the network
 * drops the connection (the response is then answered as a connect timeout).
 * Verdicts are cached per destination port: the manifests do not change
 * while the mesh runs.
 */
export function networkGuard(
  options: NetworkGuardOptions,
): (endpoint: Endpoint, res: ServerResponse) => boolean {
  const verdicts = new Map<string, NetworkVerdict>()
  const source = { kind: 'pod' as const, pod: options.source }
  return (endpoint, res) => {
    const key = `${endpoint.service.namespace}/${endpoint.workload}:${endpoint.targetPort}`
    let verdict = verdicts.get(key)
    if (!verdict) {
      const destination = options.network.pods.find(
        (p) => p.name === endpoint.workload && p.namespace === endpoint.service.namespace,
      )
      // A destination the network model does not know is not a pod: fail closed.
      verdict = destination
        ? decideConnection(options.network, source, destination, endpoint.targetPort)
        : { verdict: 'DROP', policy: null, direction: 'ingress' }
      verdicts.set(key, verdict)
    }
    if (verdict.verdict === 'ALLOW') return false
    options.onDrop?.(endpoint, verdict)
    answerDroppedConnection(res, options.connectTimeoutMs, options.serverHeader)
    return true
  }
}
