// Istio's standard metrics, as every sidecar's and gateway's Envoy exports
// them (istio.io/latest/docs/reference/config/metrics/): the same names, types,
// labels and label order, so dashboards and queries written for Istio work on
// the local mesh unchanged. Labels and order: istio/proxy
// testdata/metric/client_request_total.yaml.tmpl (and the stats_tags in
// testdata/bootstrap/stats.yaml.tmpl); TCP metrics: istio/istio
// pilot/pkg/model/telemetry.go (TCP_OPENED_CONNECTIONS, ...).
import { Counter, Histogram, Registry } from 'prom-client'

/**
 * Envoy's default histogram buckets, which Istio keeps unless a pod sets
 * `sidecar.istio.io/statsHistogramBuckets` (envoyproxy/envoy
 * source/common/stats/histogram_impl.cc HistogramStatisticsImpl::supportedBuckets).
 * The request and response size histograms use the same ones.
 */
export const ENVOY_DEFAULT_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
]

/** The peer labels Istio's stats filter writes on every metric, in its order. */
export const PEER_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
] as const

export const HTTP_LABELS = [
  ...PEER_LABELS,
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const

export const TCP_LABELS = [
  ...PEER_LABELS,
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const

export type PeerLabels = Record<(typeof PEER_LABELS)[number], string>
export type HttpLabels = Record<(typeof HTTP_LABELS)[number], string>
export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>

/** One proxy's Istio metrics in their own registry (the proxy's Envoy stats). */
export class IstioMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'istio_requests_total',
    help: 'Total number of requests handled by this proxy',
    labelNames: HTTP_LABELS,
    registers: [this.registry],
  })
  readonly duration = new Histogram({
    name: 'istio_request_duration_milliseconds',
    help: 'Time from the request reaching this proxy to the last byte of its response, in milliseconds',
    labelNames: HTTP_LABELS,
    buckets: ENVOY_DEFAULT_BUCKETS,
    registers: [this.registry],
  })
  readonly requestBytes = new Histogram({
    name: 'istio_request_bytes',
    help: 'HTTP request body sizes',
    labelNames: HTTP_LABELS,
    buckets: ENVOY_DEFAULT_BUCKETS,
    registers: [this.registry],
  })
  readonly responseBytes = new Histogram({
    name: 'istio_response_bytes',
    help: 'HTTP response body sizes',
    labelNames: HTTP_LABELS,
    buckets: ENVOY_DEFAULT_BUCKETS,
    registers: [this.registry],
  })
  readonly tcpSent = new Counter({
    name: 'istio_tcp_sent_bytes_total',
    help: 'Bytes sent in responses over TCP connections',
    labelNames: TCP_LABELS,
    registers: [this.registry],
  })
  readonly tcpReceived = new Counter({
    name: 'istio_tcp_received_bytes_total',
    help: 'Bytes received in requests over TCP connections',
    labelNames: TCP_LABELS,
    registers: [this.registry],
  })
  readonly tcpOpened = new Counter({
    name: 'istio_tcp_connections_opened_total',
    help: 'TCP connections opened',
    labelNames: TCP_LABELS,
    registers: [this.registry],
  })
  readonly tcpClosed = new Counter({
    name: 'istio_tcp_connections_closed_total',
    help: 'TCP connections closed',
    labelNames: TCP_LABELS,
    registers: [this.registry],
  })

  recordRequest(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.requests.inc(labels)
    this.duration.observe(labels, durationMs)
    this.requestBytes.observe(labels, requestBytes)
    this.responseBytes.observe(labels, responseBytes)
  }
}
