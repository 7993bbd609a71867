// A workload's merged Prometheus endpoint, as Istio's agent serves it on port
// 15020 (istio/istio pilot/cmd/pilot-agent/status/server.go handleStats): the
// proxy's own metrics, then the app's, scraped from where the pod's
// `prometheus.io/port` and `prometheus.io/path` point (the agent reads them from
// ISTIO_PROMETHEUS_ANNOTATIONS). The merge is a concatenation, and a failed
// app scrape leaves the proxy's metrics standing ("we still want Envoy metrics").
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { IstioMetrics } from './istio-metrics.ts'

/** Prometheus' text exposition format, the agent's FmtText. */
const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8'
const APP_SCRAPE_TIMEOUT_MS = 2_000

export interface StatsServerOptions {
  metrics: IstioMetrics
  /**
   * The app's own metrics endpoint (`http://127.0.0.1:<prometheus.io/port><prometheus.io/path>`), if it has one;
   * a function when the app reports its port after the proxy started.
   */
  appMetricsUrl?: string | (() => string | undefined)
  /** More of the proxy's own metrics in text format (the agent's gauges), after its Istio metrics. */
  extraMetrics?: () => string
  /** 0 for any free port. */
  listenPort: number
  host?: string
}

export interface StatsServer {
  port: number
  url: string
  close(): Promise<void>
}

async function scrapeApp(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(APP_SCRAPE_TIMEOUT_MS) })
    if (!res.ok) {
      await res.body?.cancel()
      return ''
    }
    return await res.text()
  } catch {
    return ''
  }
}

export async function startStatsServer(options: StatsServerOptions): Promise<StatsServer> {
  const host = options.host ?? '127.0.0.1'
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' || (path !== '/stats/prometheus' && path !== '/metrics')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n')
      return
    }
    const appUrl =
      typeof options.appMetricsUrl === 'function' ? options.appMetricsUrl() : options.appMetricsUrl
    const [istio, app] = await Promise.all([
      options.metrics.registry.metrics(),
      appUrl ? scrapeApp(appUrl) : Promise.resolve(''),
    ])
    const extra = options.extraMetrics?.() ?? ''
    const own = extra === '' ? istio : `${istio}${istio.endsWith('\n') ? '' : '\n'}${extra}`
    const merged = app === '' ? own : `${own}${own.endsWith('\n') ? '' : '\n'}${app}`
    res.writeHead(200, { 'content-type': TEXT_FORMAT }).end(merged)
  }
  const server = createServer((req, res) => void handle(req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.listenPort, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://${host}:${port}/stats/prometheus`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
