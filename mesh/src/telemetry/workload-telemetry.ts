// Everything one workload's proxies (or the gateway's) record, in one place:
// its Istio metrics, served merged with its app's at /stats/prometheus, and
// its access log file. One per workload, as a pod has one Envoy and one agent.
import { join } from 'node:path'
import type { MeshModel, MeshService, Workload } from '../manifests/mesh-model.ts'
import { workloadsOf } from '../manifests/mesh-model.ts'
import { type AccessLogSink, fileAccessLog } from './access-log.ts'
import { IstioMetrics } from './istio-metrics.ts'
import { type PeerDirectory, peerDirectory } from './peer-directory.ts'
import { peerOf } from './peer-labels.ts'
import { ProxyTelemetry } from './proxy-telemetry.ts'
import { startStatsServer } from './stats-server.ts'
import type { ProxyTracer } from './tracing.ts'

export interface WorkloadTelemetryOptions {
  model: MeshModel
  /** The workload, or null for the ingress gateway. */
  workload: Workload | null
  /** `<mesh-dir>/logs`: the access log goes to `<logDir>/<workload>.log`; null for none. */
  logDir: string | null
  /** The access log file itself (`mesh sidecar --access-log`), instead of one named after the workload in logDir. */
  accessLogFile?: string
  /** The stats port (Istio's 15020); 0 for any free port. */
  statsPort: number
  appMetricsUrl?: string | (() => string | undefined)
  /** The agent's own gauges, served with the proxy's metrics. */
  extraMetrics?: () => string
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans are exported there; without it no tracer is loaded. */
  otlpEndpoint?: string
  /** Shared by every workload of one mesh (built from the model once). */
  peers?: PeerDirectory
}

export interface WorkloadTelemetry {
  telemetry: ProxyTelemetry
  statsUrl: string
  /** The access log's absolute path, or null when logging is off. */
  accessLog: string | null
  close(): Promise<void>
}

export async function startWorkloadTelemetry(options: WorkloadTelemetryOptions): Promise<WorkloadTelemetry> {
  const { model, workload } = options
  const peers = options.peers ?? peerDirectory(model)
  const self = workload ? peerOf(workload) : peers.gateway
  const metrics = new IstioMetrics()
  const tracer: ProxyTracer | null = options.otlpEndpoint
    ? (await import('./otel-tracer.ts')).otelProxyTracer({ endpoint: options.otlpEndpoint, self })
    : null
  const accessLog =
    options.accessLogFile ?? (options.logDir === null ? null : join(options.logDir, `${self.workload}.log`))
  const sink: AccessLogSink | null = accessLog === null ? null : fileAccessLog(accessLog)
  const byPort = new Map<number, MeshService | undefined>()
  let servicesSeen: readonly MeshService[] | null = null
  const telemetry = new ProxyTelemetry({
    self,
    peers,
    metrics,
    accessLog: sink,
    tracer,
    serviceOfPort: (containerPort) => {
      if (!workload) return undefined
      // Asked on every inbound request: answered from a table kept until a configuration
      // push replaces the model's Services (proxy-agent.ts applies each push as a new array).
      if (servicesSeen !== model.services) {
        servicesSeen = model.services
        byPort.clear()
      }
      if (!byPort.has(containerPort))
        byPort.set(
          containerPort,
          model.services.find(
            (s) =>
              s.namespace === workload.namespace &&
              workloadsOf(model, s).includes(workload) &&
              s.ports.some((p) => p.targetPort === containerPort),
          ),
        )
      return byPort.get(containerPort)
    },
  })
  const stats = await startStatsServer({
    metrics,
    appMetricsUrl: options.appMetricsUrl,
    extraMetrics: options.extraMetrics,
    listenPort: options.statsPort,
  })
  return {
    telemetry,
    statsUrl: stats.url,
    accessLog,
    async close() {
      await stats.close()
      await sink?.close()
      await tracer?.close()
    },
  }
}
