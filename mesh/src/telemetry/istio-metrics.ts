// Istio's standard metrics, as every sidecar's and gateway's Envoy exports
// them (istio.io/latest/docs/reference/config/metrics/): the same names, types,
// labels and label order, so dashboards and queries written for Istio work on
// the local mesh unchanged. Labels and order: istio/proxy
// testdata/metric/client_request_total.yaml.tmpl (and the stats_tags in
// testdata/bootstrap/stats.yaml.tmpl); TCP metrics: istio/istio
// pilot/pkg/model/telemetry.go (TCP_OPENED_CONNECTIONS, ...).
import { Counter, Registry } from 'prom-client'

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

/** One HTTP series: the request count, and per histogram its buckets (not cumulative), sum and count. */
interface HttpSeries {
  labels: HttpLabels
  requests: number
  histograms: [Observed, Observed, Observed]
}

interface Observed {
  buckets: number[]
  sum: number
  count: number
}

const observed = (): Observed => ({
  buckets: new Array(ENVOY_DEFAULT_BUCKETS.length).fill(0),
  sum: 0,
  count: 0,
})

function observe(into: Observed, value: number): void {
  // Le: the first bound the value does not exceed; past the last, only +Inf (the count).
  let i = 0
  while (i < ENVOY_DEFAULT_BUCKETS.length && value > (ENVOY_DEFAULT_BUCKETS[i] as number)) i++
  if (i < into.buckets.length) into.buckets[i] = (into.buckets[i] as number) + 1
  into.sum += value
  into.count++
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string }

/**
 * The HTTP metrics, recorded into plain numbers and read by prom-client's
 * registry when it is scraped (prom-client's own Counter and Histogram hash
 * the label object on every call: with Istio's 25 labels that cost more per
 * request than the proxying; see pnpm bench). Each metric is registered as
 * prom-client's Metric shape, so the registry formats it as its own.
 */
class HttpSeriesTable {
  readonly series = new Map<string, HttpSeries>()

  record(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    let key = ''
    for (const name of HTTP_LABELS) key += `${labels[name]}\u0001`
    let series = this.series.get(key)
    if (!series) {
      series = { labels: { ...labels }, requests: 0, histograms: [observed(), observed(), observed()] }
      this.series.set(key, series)
    }
    series.requests++
    observe(series.histograms[0], durationMs)
    observe(series.histograms[1], requestBytes)
    observe(series.histograms[2], responseBytes)
  }

  counter(name: string, help: string) {
    return {
      name,
      help,
      type: 'counter' as const,
      aggregator: 'sum' as const,
      get: async () => ({
        name,
        help,
        type: 'counter' as const,
        aggregator: 'sum' as const,
        values: [...this.series.values()].map((s): MetricValue => ({ value: s.requests, labels: s.labels })),
      }),
      reset: () => this.series.clear(),
    }
  }

  histogram(index: 0 | 1 | 2, name: string, help: string) {
    return {
      name,
      help,
      type: 'histogram' as const,
      aggregator: 'sum' as const,
      get: async () => {
        const values: MetricValue[] = []
        for (const s of this.series.values()) {
          const h = s.histograms[index]
          let cumulative = 0
          ENVOY_DEFAULT_BUCKETS.forEach((le, i) => {
            cumulative += h.buckets[i] as number
            values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: cumulative })
          })
          values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: h.count })
          values.push({ metricName: `${name}_sum`, labels: s.labels, value: h.sum })
          values.push({ metricName: `${name}_count`, labels: s.labels, value: h.count })
        }
        return { name, help, type: 'histogram' as const, aggregator: 'sum' as const, values }
      },
      reset: () => this.series.clear(),
    }
  }
}

/** One proxy's Istio metrics in their own registry (the proxy's Envoy stats). */
export class IstioMetrics {
  readonly registry = new Registry()
  readonly #http = new HttpSeriesTable()
  readonly tcpSent = new Counter({
    name: 'istio_tcp_sent_bytes_total',
    help: 'Bytes sent in responses over TCP connections',
    labelNames: TCP_LABELS,
    registers: [],
  })
  readonly tcpReceived = new Counter({
    name: 'istio_tcp_received_bytes_total',
    help: 'Bytes received in requests over TCP connections',
    labelNames: TCP_LABELS,
    registers: [],
  })
  readonly tcpOpened = new Counter({
    name: 'istio_tcp_connections_opened_total',
    help: 'TCP connections opened',
    labelNames: TCP_LABELS,
    registers: [],
  })
  readonly tcpClosed = new Counter({
    name: 'istio_tcp_connections_closed_total',
    help: 'TCP connections closed',
    labelNames: TCP_LABELS,
    registers: [],
  })

  constructor() {
    const http = this.#http
    for (const metric of [
      http.counter('istio_requests_total', 'Total number of requests handled by this proxy'),
      http.histogram(
        0,
        'istio_request_duration_milliseconds',
        'Time from the request reaching this proxy to the last byte of its response, in milliseconds',
      ),
      http.histogram(1, 'istio_request_bytes', 'HTTP request body sizes'),
      http.histogram(2, 'istio_response_bytes', 'HTTP response body sizes'),
      this.tcpSent,
      this.tcpReceived,
      this.tcpOpened,
      this.tcpClosed,
    ])
      this.registry.registerMetric(metric as Parameters<Registry['registerMetric']>[0])
  }

  recordRequest(labels: HttpLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.#http.record(labels, durationMs, requestBytes, responseBytes)
  }
}
