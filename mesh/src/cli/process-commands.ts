// `mesh control-plane`, `mesh sidecar` and `mesh gateway`: the mesh's own
// processes, as `mesh dev` supervises them and as a container runs them.
// Each stops cleanly on SIGINT/SIGTERM, and with EXIT_ON_STDIN_CLOSE=true it
// also stops when its supervisor's pipe closes.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { GATEWAY_TOKEN_NAME, tokenFile } from '../control-plane/tokens.ts'
import { followStdin, PORTS_LINE } from '../runtime/proxy-agent.ts'
import { parseDuration } from './parse-duration.ts'
import { UsageError } from './usage-error.ts'

const out = (line: string) => process.stdout.write(`${line}\n`)
const log = (line: string) => process.stderr.write(`${line}\n`)
const exitOnStdinClose = () => process.env.EXIT_ON_STDIN_CLOSE === 'true'

function port(value: string, flag: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} is a port (0 for any free one)`)
  return n
}

function hostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':')
  if (i <= 0) throw new UsageError(`--listen ${value}: expected host:port`)
  return { host: value.slice(0, i), port: port(value.slice(i + 1), '--listen') }
}

function stopOnSignals(close: () => Promise<void>) {
  let stopping = false
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      void close().then(() => process.exit(0))
    })
}

export async function controlPlaneCommand(args: string[], defaults: { manifests: string; meshDir: string }) {
  const { values } = parseArgs({
    args,
    options: {
      manifests: { type: 'string', default: defaults.manifests },
      'mesh-dir': { type: 'string', default: defaults.meshDir },
      listen: { type: 'string', default: '127.0.0.1:15012' },
      'svid-ttl': { type: 'string', default: process.env.MESH_SVID_TTL ?? '24h' },
    },
  })
  const listen = hostPort(values.listen)
  // Each process loads only its own server: a sidecar never evaluates the control plane's Fastify.
  const { startControlPlane } = await import('../control-plane/control-plane.ts')
  const running = await startControlPlane({
    manifests: values.manifests,
    meshDir: values['mesh-dir'],
    host: listen.host,
    port: listen.port,
    svidLifetimeMs: parseDuration(values['svid-ttl'], '--svid-ttl'),
    log,
  })
  stopOnSignals(running.close)
  followStdin({
    exitOnClose: exitOnStdinClose(),
    onClose: () => void running.close().then(() => process.exit(0)),
  })
  log(`control plane serving ${running.url} (configuration version ${running.config.snapshot.version})`)
  out(`${PORTS_LINE}${JSON.stringify({ listen: running.port })}`)
}

function trustArgs(values: { 'control-plane'?: string; 'token-file'?: string; 'root-cert'?: string }) {
  if (!values['control-plane'] || !values['token-file'] || !values['root-cert'])
    throw new UsageError('--control-plane, --token-file and --root-cert are required')
  return {
    controlPlane: values['control-plane'],
    tokenFile: values['token-file'],
    rootCertFile: values['root-cert'],
  }
}

const connectTimeout = (value: string | undefined) => {
  if (value === undefined) return undefined
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms < 1 || ms > 60_000)
    throw new UsageError('--connect-timeout is a number of milliseconds between 1 and 60000')
  return ms
}

const TRUST_OPTIONS = {
  'control-plane': { type: 'string' },
  'token-file': { type: 'string' },
  'root-cert': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'report-decisions': { type: 'boolean', default: false },
} as const

export async function sidecarCommand(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      ...TRUST_OPTIONS,
      workload: { type: 'string' },
      'app-port': { type: 'string' },
      'advertise-address': { type: 'string', default: '127.0.0.1' },
      'inbound-host': { type: 'string', default: '127.0.0.1' },
      'inbound-port': { type: 'string', default: 'container' },
      'outbound-port': { type: 'string', default: '15001' },
      'health-port': { type: 'string', default: '15021' },
      'stats-port': { type: 'string', default: '15020' },
      'access-log': { type: 'string' },
      'app-metrics-port': { type: 'string' },
    },
  })
  if (!values.workload) throw new UsageError('--workload is required')
  if (!values['app-port']) throw new UsageError('--app-port is required (a port, or stdin)')
  if (values['inbound-port'] !== 'container' && values['inbound-port'] !== '0')
    throw new UsageError('--inbound-port is container or 0')
  const { runSidecar } = await import('../runtime/sidecar-process.ts')
  const running = await runSidecar({
    ...trustArgs(values),
    workload: values.workload,
    appPort: values['app-port'] === 'stdin' ? 'stdin' : port(values['app-port'], '--app-port'),
    advertiseAddress: values['advertise-address'],
    inboundHost: values['inbound-host'],
    inboundPorts: values['inbound-port'] === 'container' ? 'container' : 'ephemeral',
    outboundPort: port(values['outbound-port'], '--outbound-port'),
    healthPort: port(values['health-port'], '--health-port'),
    statsPort: port(values['stats-port'], '--stats-port'),
    accessLog: values['access-log'],
    appMetricsPort:
      values['app-metrics-port'] === undefined || values['app-metrics-port'] === 'stdin'
        ? values['app-metrics-port']
        : port(values['app-metrics-port'], '--app-metrics-port'),
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
    connectTimeoutMs: connectTimeout(values['connect-timeout']),
    reportDecisions: values['report-decisions'],
    exitOnStdinClose: exitOnStdinClose(),
    out,
    log,
  })
  stopOnSignals(running.close)
}

export async function gatewayCommand(args: string[], defaults: { meshDir: string }) {
  const { values } = parseArgs({
    args,
    options: {
      ...TRUST_OPTIONS,
      'token-file': { type: 'string', default: tokenFile(defaults.meshDir, GATEWAY_TOKEN_NAME) },
      'root-cert': { type: 'string', default: join(defaults.meshDir, 'ca', 'root.pem') },
      'listen-port': { type: 'string', default: '8443' },
      'listen-host': { type: 'string', default: '127.0.0.1' },
      'health-port': { type: 'string', default: '15021' },
      'stats-port': { type: 'string', default: '15020' },
      'access-log': { type: 'string' },
      'host-alias': { type: 'string', multiple: true, default: [] },
    },
  })
  const hostAliases: Record<string, string> = {}
  for (const v of values['host-alias']) {
    const [local, host] = v.split('=')
    if (!local || !host) throw new UsageError(`--host-alias ${v}: expected local=gateway-host`)
    hostAliases[local] = host
  }
  const { runGateway } = await import('../runtime/gateway-process.ts')
  const running = await runGateway({
    ...trustArgs(values),
    listenPort: port(values['listen-port'], '--listen-port'),
    listenHost: values['listen-host'],
    healthPort: port(values['health-port'], '--health-port'),
    statsPort: port(values['stats-port'], '--stats-port'),
    accessLog: values['access-log'],
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
    hostAliases,
    connectTimeoutMs: connectTimeout(values['connect-timeout']),
    reportDecisions: values['report-decisions'],
    exitOnStdinClose: exitOnStdinClose(),
    out,
    log,
  })
  stopOnSignals(running.close)
}
