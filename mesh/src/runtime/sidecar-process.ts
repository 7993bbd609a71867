// `mesh sidecar --workload <name>`: one workload's proxies as their own
// process, as one Envoy and its pilot-agent run beside each app in Istio.
// It gets its SVID from the control plane by CSR (renewed at half-life), its
// configuration and the endpoints of every other sidecar by push, registers
// its own inbound listeners, and serves readiness and stats: Istio's metrics
// merged with the app's, an access log, and spans when OTLP is configured.

import { startCsrSvid } from '../control-plane/client.ts'
import { podNamed } from '../network/index.ts'
import { OUTBOUND_SERVER } from '../sidecar/envoy-responses.ts'
import type { RunningSidecar } from '../sidecar/listen.ts'
import { createMeshClient } from '../sidecar/mesh-client.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../sidecar/network-drop.ts'
import { startWorkloadTelemetry, type WorkloadTelemetry } from '../telemetry/workload-telemetry.ts'
import {
  agentMetrics,
  connectAgent,
  DROP_LINE,
  decisionReporter,
  followStdin,
  PORTS_LINE,
  startHealthServer,
  startStatsServer,
} from './proxy-agent.ts'
import { startWorkloadProxies } from './workload-proxies.ts'

export interface SidecarProcessOptions {
  workload: string
  controlPlane: string
  tokenFile: string
  rootCertFile: string
  /** Where the app listens; 'stdin' when the supervisor says so later (`app-port <n>` lines). */
  appPort: number | 'stdin'
  /** How other sidecars reach this one (127.0.0.1 under pnpm dev; the pod's name in compose). */
  advertiseAddress: string
  /** Where the inbound listeners listen: 127.0.0.1, or 0.0.0.0 where other hosts reach them. */
  inboundHost?: string
  inboundPorts: 'container' | 'ephemeral'
  outboundPort: number
  healthPort: number
  statsPort: number
  /** The access log file (Istio's format); none when absent. */
  accessLog?: string
  /** Where the app serves its own metrics (`prometheus.io/port`); 'stdin' when the supervisor says so later. */
  appMetricsPort?: number | 'stdin'
  /** OTEL_EXPORTER_OTLP_ENDPOINT: every proxy's spans go there (OTLP/HTTP). */
  otlpEndpoint?: string
  connectTimeoutMs?: number
  upstreamTimeoutMs?: number
  /** Print each policy decision and network drop as a line for the supervisor. */
  reportDecisions: boolean
  exitOnStdinClose: boolean
  /** stdout: the lines a supervisor reads. */
  out: (line: string) => void
  log: (line: string) => void
}

export interface RunningSidecarProcess {
  ports: { inbound: Record<string, number>; outbound: number; health: number; stats: number }
  close(): Promise<void>
}

export async function runSidecar(options: SidecarProcessOptions): Promise<RunningSidecarProcess> {
  const closers: Array<() => Promise<void> | void> = []
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c()
  }
  try {
    const agent = await connectAgent({ ...options, log: options.log })
    closers.push(() => agent.close())
    const { model } = agent
    const injected = model.workloads.find((w) => w.name === options.workload)
    const workload = injected ?? model.outsideWorkloads.find((w) => w.name === options.workload)
    if (!workload) throw new Error(`the control plane's configuration has no Deployment ${options.workload}`)
    const svid = injected ? await startCsrSvid(agent.client, options.log) : null
    if (svid) {
      closers.push(() => svid.stop())
      svid.onRotate((c) => options.log(`SVID renewed, valid until ${c.notAfter.toISOString()}`))
    }
    const client = svid
      ? createMeshClient(svid, agent.rootPem, { timeoutMs: options.upstreamTimeoutMs })
      : null
    if (client) closers.push(() => client.close())
    const report = options.reportDecisions ? options.out : () => {}
    let appMetricsPort = options.appMetricsPort === 'stdin' ? undefined : options.appMetricsPort
    const agentGauges = () =>
      agentMetrics(
        { workload: workload.name },
        {
          mesh_proxy_certificate_expiry_seconds: svid ? svid.current().notAfter.getTime() / 1000 : 0,
          mesh_proxy_config_version: agent.version(),
        },
      )
    // Only an injected pod has an Envoy recording Istio's metrics and an agent merging the app's.
    const observed: WorkloadTelemetry | null = injected
      ? await startWorkloadTelemetry({
          model,
          workload: injected,
          logDir: null,
          accessLogFile: options.accessLog,
          statsPort: options.statsPort,
          appMetricsUrl: () =>
            appMetricsPort === undefined ? undefined : `http://127.0.0.1:${appMetricsPort}/metrics`,
          extraMetrics: agentGauges,
          otlpEndpoint: options.otlpEndpoint,
        })
      : null
    if (observed) closers.push(() => observed.close())

    const proxies = await startWorkloadProxies({
      model,
      workload,
      sidecar: Boolean(injected),
      svid,
      rootPem: agent.rootPem,
      // Until the app reports its port, inbound requests find nothing there (503, as Envoy's).
      appPort: options.appPort === 'stdin' ? 1 : options.appPort,
      inboundPorts: options.inboundPorts,
      inboundHost: options.inboundHost,
      outboundPort: options.outboundPort,
      directory: agent.directory,
      client,
      networkDrop: injected
        ? agent.guardFor(
            (_m, network) => podNamed(network, workload.name, workload.namespace),
            OUTBOUND_SERVER,
            options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
            (drop) => report(`${DROP_LINE}${JSON.stringify(drop)}`),
          )
        : undefined,
      onDecision: options.reportDecisions ? decisionReporter(options.out) : undefined,
      upstreamTimeoutMs: options.upstreamTimeoutMs,
      telemetry: observed?.telemetry,
    })
    closers.push(() => proxies.close())

    let registered = false
    const register = () =>
      agent.client
        .register({ workload: workload.name, address: options.advertiseAddress, ports: proxies.inbound })
        .then(() => {
          registered = true
        })
        .catch((error: Error) => options.log(`registration failed: ${error.message}`))
    await register()
    agent.follow(() => void register())

    const keep = (running: RunningSidecar) => {
      closers.push(() => running.close())
      return running.port
    }
    const health = keep(await startHealthServer(options.healthPort, () => registered))
    const stats = observed
      ? Number(new URL(observed.statsUrl).port)
      : keep(await startStatsServer(options.statsPort, agentGauges))
    followStdin({
      exitOnClose: options.exitOnStdinClose,
      out: options.out,
      onAppPort: (port) => {
        proxies.setAppPort(port)
        options.log(`app listens on ${port}`)
      },
      onAppMetricsPort: (port) => {
        appMetricsPort = port
      },
      onClose: () => void close().then(() => process.exit(0)),
    })
    const ports = { inbound: proxies.inbound, outbound: proxies.proxyPort, health, stats }
    options.out(`${PORTS_LINE}${JSON.stringify(ports)}`)
    return { ports, close }
  } catch (error) {
    await close()
    throw error
  }
}
