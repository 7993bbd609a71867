// `mesh gateway`: the ingress gateway as its own process, as Istio runs
// istio-ingressgateway (an Envoy and pilot-agent without an app). Its SVID
// (for mTLS to the sidecars) and its serving certificate for browsers both
// come from the control plane by CSR and are renewed at half-life. It records
// Istio's metrics (as the source of its calls), an access log, and spans.
import { startCsrRotation, startCsrSvid } from '../control-plane/client.ts'
import { GATEWAY_TOKEN_NAME } from '../control-plane/tokens.ts'
import { startIngressGateway } from '../gateway/ingress-gateway.ts'
import { GATEWAY_POD, podNamed } from '../network/index.ts'
import { GATEWAY_SERVER } from '../sidecar/envoy-responses.ts'
import type { RunningSidecar } from '../sidecar/listen.ts'
import { createMeshClient } from '../sidecar/mesh-client.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../sidecar/network-drop.ts'
import { startWorkloadTelemetry } from '../telemetry/workload-telemetry.ts'
import {
  agentMetrics,
  connectAgent,
  DROP_LINE,
  followStdin,
  PORTS_LINE,
  startHealthServer,
} from './proxy-agent.ts'

export interface GatewayProcessOptions {
  controlPlane: string
  tokenFile: string
  rootCertFile: string
  /** 8443 (the pod port behind the Service's 443) by default; 0 for any free port. */
  listenPort: number
  /** 127.0.0.1 by default; 0.0.0.0 where the gateway is published from a container. */
  listenHost?: string
  healthPort: number
  statsPort: number
  /** The access log file (Istio's format); none when absent. */
  accessLog?: string
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the gateway's spans go there (OTLP/HTTP). */
  otlpEndpoint?: string
  hostAliases: Record<string, string>
  connectTimeoutMs?: number
  reportDecisions: boolean
  exitOnStdinClose: boolean
  out: (line: string) => void
  log: (line: string) => void
}

export interface RunningGatewayProcess {
  ports: { gateway: number; health: number; stats: number }
  close(): Promise<void>
}

export async function runGateway(options: GatewayProcessOptions): Promise<RunningGatewayProcess> {
  const closers: Array<() => Promise<void> | void> = []
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c()
  }
  try {
    const agent = await connectAgent({ ...options, workload: GATEWAY_TOKEN_NAME })
    closers.push(() => agent.close())
    const { model } = agent
    const gateway = model.gateways[0]
    if (!gateway) throw new Error('the configuration has no Gateway')
    const svid = await startCsrSvid(agent.client, options.log)
    closers.push(() => svid.stop())
    const hosts = [
      ...new Set([...gateway.servers.flatMap((s) => s.hosts), ...Object.keys(options.hostAliases)]),
    ]
    const certificate = await startCsrRotation(agent.client, { hosts, log: options.log })
    closers.push(() => certificate.stop())
    certificate.onRotate((c) =>
      options.log(`gateway certificate renewed, valid until ${c.notAfter.toISOString()}`),
    )
    const client = createMeshClient(svid, agent.rootPem)
    closers.push(() => client.close())
    const observed = await startWorkloadTelemetry({
      model,
      workload: null,
      logDir: null,
      accessLogFile: options.accessLog,
      statsPort: options.statsPort,
      extraMetrics: () =>
        agentMetrics(
          { workload: GATEWAY_TOKEN_NAME },
          {
            mesh_proxy_certificate_expiry_seconds: svid.current().notAfter.getTime() / 1000,
            mesh_gateway_certificate_expiry_seconds: certificate.current().notAfter.getTime() / 1000,
            mesh_proxy_config_version: agent.version(),
          },
        ),
      otlpEndpoint: options.otlpEndpoint,
    })
    closers.push(() => observed.close())
    const keep = (running: RunningSidecar) => {
      closers.push(() => running.close())
      return running.port
    }
    const gatewayPort = keep(
      await startIngressGateway({
        model,
        gateway,
        directory: agent.directory,
        client,
        certificate,
        policies: () => model.policies,
        listenPort: options.listenPort,
        listenHost: options.listenHost,
        hostAliases: options.hostAliases,
        networkDrop: agent.guardFor(
          (_m, network) => podNamed(network, GATEWAY_POD.name, GATEWAY_POD.namespace),
          GATEWAY_SERVER,
          options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          (drop) => options.reportDecisions && options.out(`${DROP_LINE}${JSON.stringify(drop)}`),
        ),
        telemetry: observed.telemetry,
      }),
    )
    agent.follow()
    const health = keep(await startHealthServer(options.healthPort, () => true))
    const stats = Number(new URL(observed.statsUrl).port)
    followStdin({
      exitOnClose: options.exitOnStdinClose,
      out: options.out,
      onClose: () => void close().then(() => process.exit(0)),
    })
    const ports = { gateway: gatewayPort, health, stats }
    options.out(`${PORTS_LINE}${JSON.stringify(ports)}`)
    return { ports, close }
  } catch (error) {
    await close()
    throw error
  }
}
