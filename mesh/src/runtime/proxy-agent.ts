// What every proxy process (`mesh sidecar`, `mesh gateway`) shares, as
// Istio's pilot-agent is shared by every Envoy: the control plane connection
// (configuration and endpoints followed live), the readiness and stats ports
// (Istio's 15021 /healthz/ready and 15020 /stats/prometheus), the one
// `mesh-ports` line a supervisor reads when ports were 0, the decision and
// drop lines it turns back into callbacks, and exiting when the supervisor's
// stdin pipe closes (its end dies with it, even by SIGKILL).
import { readFileSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import { createInterface } from 'node:readline'
import { ControlPlaneClient, ControlPlaneRequestError } from '../control-plane/client.ts'
import type { EndpointTable } from '../control-plane/protocol.ts'
import { readToken } from '../control-plane/tokens.ts'
import { buildMeshModel, type MeshModel } from '../manifests/mesh-model.ts'
import { meshNetworkModel, type NetworkPod, type NetworkVerdict } from '../network/index.ts'
import type { ServerName } from '../sidecar/envoy-responses.ts'
import type { DecisionLog } from '../sidecar/inbound-sidecar.ts'
import { listenOnLoopback, type RunningSidecar } from '../sidecar/listen.ts'
import { networkGuard } from '../sidecar/network-drop.ts'
import { type Endpoint, ServiceDirectory } from '../sidecar/service-directory.ts'

/** Prefixes of the lines a proxy process prints for its supervisor (one JSON value after each). */
export const PORTS_LINE = 'mesh-ports '
export const DECISION_LINE = 'mesh-decision '
export const DROP_LINE = 'mesh-drop '
/** The answer to `flush <id>` on stdin: every line printed before it has been written. */
export const FLUSHED_LINE = 'mesh-flushed '

export interface AgentOptions {
  workload: string
  controlPlane: string
  tokenFile: string
  rootCertFile: string
  log: (line: string) => void
}

/** A network drop as a line carries it: the endpoint by name, the verdict as decided. */
export interface DropReport {
  from: string
  endpoint: { workload: string; targetPort: number; service: { name: string; namespace: string } }
  verdict: NetworkVerdict
}

export interface ProxyAgent {
  client: ControlPlaneClient
  rootPem: string
  /** The live model: a configuration push updates this object in place, so proxies holding it see the change. */
  model: MeshModel
  endpoints: EndpointTable
  directory: ServiceDirectory
  /** A network guard for `pod` that follows configuration pushes. */
  guardFor(
    pod: (model: MeshModel, network: ReturnType<typeof meshNetworkModel>) => NetworkPod | undefined,
    serverHeader: ServerName,
    connectTimeoutMs: number,
    onDrop?: (report: DropReport) => void,
  ): (endpoint: Endpoint, res: ServerResponse) => boolean
  /** The configuration version applied now. */
  version(): number
  /** Called with each configuration applied after the first (a workload's own spec is updated in place). */
  onConfig(listener: (model: MeshModel) => void): void
  /** Follow pushes; `onConnect` runs on each (re)connection (register there). */
  follow(onConnect?: () => void): void
  close(): Promise<void>
}

/**
 * The configuration, waiting for a control plane that is not up yet (a proxy
 * may start beside it, as pilot-agent retries istiod); any other refusal is final.
 */
async function firstConfig(client: ControlPlaneClient, log: (line: string) => void) {
  let delayMs = 100
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.config()
    } catch (error) {
      if (error instanceof ControlPlaneRequestError || attempt >= 60) throw error
      if (attempt === 5) log(`waiting for the control plane at ${client.url}: ${(error as Error).message}`)
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      delayMs = Math.min(delayMs * 2, 1_000)
    }
  }
}

export async function connectAgent(options: AgentOptions): Promise<ProxyAgent> {
  const rootPem = readFileSync(options.rootCertFile, 'utf8')
  const client = new ControlPlaneClient({
    url: options.controlPlane,
    workload: options.workload,
    token: readToken(options.tokenFile),
    rootPem,
  })
  const first = await firstConfig(client, options.log)
  let version = first.version
  const model = buildMeshModel(first.objects)
  let network = meshNetworkModel(model)
  const endpoints: EndpointTable = await client.endpoints()
  // Where another workload's sidecar listens: the address it registered (127.0.0.1 under pnpm dev, its pod's name in compose).
  const directory = new ServiceDirectory(model, (name, _ns, port) => {
    const endpoint = endpoints[name]
    const listen = endpoint?.ports[String(port)]
    return endpoint && listen !== undefined ? { host: endpoint.address, port: listen } : undefined
  })
  const listeners: Array<(model: MeshModel) => void> = []
  const guards: Array<() => void> = []
  let watch: { stop(): void } | null = null

  const apply = (objects: unknown[]) => {
    const next = buildMeshModel(objects as Parameters<typeof buildMeshModel>[0])
    const nextNetwork = meshNetworkModel(next)
    // Workloads keep their identity: the proxies hold these objects, so they are updated, not replaced.
    for (const list of ['workloads', 'outsideWorkloads', 'gatewayWorkloads'] as const)
      next[list] = next[list].map((w) => {
        const held = model[list].find((h) => h.name === w.name && h.namespace === w.namespace)
        return held ? Object.assign(held, w) : w
      })
    Object.assign(model, next)
    network = nextNetwork
    for (const rebuild of guards) rebuild()
    for (const listener of listeners) listener(model)
  }

  return {
    client,
    rootPem,
    model,
    endpoints,
    directory,
    guardFor(podOf, serverHeader, connectTimeoutMs, onDrop) {
      let guard: (endpoint: Endpoint, res: ServerResponse) => boolean = () => false
      const rebuild = () => {
        const pod = podOf(model, network)
        guard = pod
          ? networkGuard({
              network,
              source: pod,
              connectTimeoutMs,
              serverHeader,
              onDrop: (endpoint, verdict) =>
                onDrop?.({
                  from: pod.name,
                  endpoint: {
                    workload: endpoint.workload,
                    targetPort: endpoint.targetPort,
                    service: { name: endpoint.service.name, namespace: endpoint.service.namespace },
                  },
                  verdict,
                }),
            })
          : () => false
      }
      rebuild()
      guards.push(rebuild)
      return (endpoint, res) => guard(endpoint, res)
    },
    version: () => version,
    onConfig: (listener) => listeners.push(listener),
    follow(onConnect) {
      watch = client.watch({
        onConnect,
        onConfig(snapshot) {
          if (snapshot.version === version) return
          try {
            apply(snapshot.objects)
            version = snapshot.version
            options.log(`configuration version ${version} applied`)
          } catch (error) {
            // The control plane validated it; a proxy that cannot build it keeps what it runs.
            options.log(`configuration version ${snapshot.version} not applied: ${(error as Error).message}`)
          }
        },
        onEndpoints(table) {
          for (const name of Object.keys(endpoints)) if (!(name in table)) delete endpoints[name]
          Object.assign(endpoints, table)
        },
        onError: (error) => options.log(`control plane stream: ${error.message}; reconnecting`),
      })
    },
    async close() {
      watch?.stop()
      await client.close()
    },
  }
}

/** Istio's readiness port (15021 `/healthz/ready`): 200 once `ready()` says so, 503 before. */
export function startHealthServer(port: number, ready: () => boolean): Promise<RunningSidecar> {
  const server = createServer((req, res) => {
    if (req.url !== '/healthz/ready') {
      res.writeHead(404).end()
      return
    }
    const ok = ready()
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n')
  })
  return listenOnLoopback(server, port)
}

/**
 * Istio's merged stats port (15020 `/stats/prometheus`), in Prometheus' text
 * format: what `metrics()` renders (the proxy's own gauges; proxy telemetry
 * adds its metrics through it).
 */
export function startStatsServer(port: number, metrics: () => string): Promise<RunningSidecar> {
  const server = createServer((req, res) => {
    if (req.url !== '/stats/prometheus') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics())
  })
  return listenOnLoopback(server, port)
}

/** Prometheus gauges every proxy has: when its certificate expires and which configuration it runs. */
export function agentMetrics(labels: Record<string, string>, values: Record<string, number>): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',')
  return Object.entries(values)
    .map(([name, value]) => `# TYPE ${name} gauge\n${name}{${l}} ${value}\n`)
    .join('')
}

/**
 * The supervisor's pipe: `app-port <n>` lines move the app (`app-metrics-port <n>`
 * its metrics endpoint); `flush <id>` is
 * answered with `mesh-flushed <id>` on stdout, after every decision line
 * written before it (stdout to a pipe is synchronous on Linux, and a decision
 * is written before its request is forwarded), so a supervisor that got a
 * response and then the flush has every decision about that request. When the
 * pipe closes (the supervisor is gone, however it died) the process ends.
 */
export function followStdin(options: {
  exitOnClose: boolean
  onAppPort?: (port: number) => void
  /** `app-metrics-port <n>`: where the app now serves its own metrics. */
  onAppMetricsPort?: (port: number) => void
  onClose: () => void
  out?: (line: string) => void
}) {
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    const port = /^app-port (\d{1,5})$/.exec(line.trim())?.[1]
    if (port !== undefined) options.onAppPort?.(Number(port))
    const metricsPort = /^app-metrics-port (\d{1,5})$/.exec(line.trim())?.[1]
    if (metricsPort !== undefined) options.onAppMetricsPort?.(Number(metricsPort))
    const flush = /^flush (\d{1,12})$/.exec(line.trim())?.[1]
    if (flush !== undefined) options.out?.(`${FLUSHED_LINE}${flush}`)
  })
  if (options.exitOnClose) process.stdin.once('end', options.onClose)
}

export const decisionReporter =
  (write: (line: string) => void): DecisionLog =>
  (entry) =>
    write(`${DECISION_LINE}${JSON.stringify(entry)}`)
