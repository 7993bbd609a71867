// pnpm bench, telemetry: what Istio's metrics and access logs cost a request.
// The same 1 kB request through one mesh hop (bucket-api's sidecar →
// signing-api's sidecar → app) on two meshes, one with telemetry off and one
// with it on (every proxy records istio_* metrics and writes an access-log
// line, to a file), measured in alternating rounds at a fixed rate so both see
// the same machine. The target: telemetry must not double the hop's p50
// overhead over calling the app directly. Bounded: loopback, a few seconds a round.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Counter, Histogram, type Registry } from 'prom-client'
import { type Dispatcher, Pool, ProxyAgent } from 'undici'
import { formatAccessLogLine } from '../src/telemetry/access-log.ts'
import {
  ENVOY_DEFAULT_BUCKETS,
  HTTP_LABELS,
  type HttpLabels,
  IstioMetrics,
} from '../src/telemetry/istio-metrics.ts'

/** CPU time (user + system) per call of `run`, in µs: steadier than wall time on a busy machine. */
function cpuMicros(run: (i: number) => void): number {
  for (let i = 0; i < RECORDS / 10; i++) run(i)
  const before = process.cpuUsage()
  for (let i = 0; i < RECORDS; i++) run(i)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / RECORDS
}

/**
 * The CPU one proxy spends on one request's telemetry, in this process: the
 * four istio_* observations (as recorded, and as prom-client's own Counter and
 * Histogram would take them, which hash Istio's 25 labels on every call) and
 * the access-log line.
 */
function recordingCosts(): Record<string, number> {
  const metrics = new IstioMetrics()
  const labels = ['200', '403', '503'].map(
    (code) =>
      Object.fromEntries(
        HTTP_LABELS.map((l) => [l, l === 'response_code' ? code : `value-of-${l}`]),
      ) as HttpLabels,
  )
  const registers: Registry[] = []
  const counter = new Counter({ name: 'c', help: 'c', labelNames: HTTP_LABELS, registers })
  const histograms = ['h1', 'h2', 'h3'].map(
    (name) =>
      new Histogram({ name, help: name, labelNames: HTTP_LABELS, buckets: ENVOY_DEFAULT_BUCKETS, registers }),
  )
  const entry = {
    startTime: new Date(),
    method: 'POST',
    path: '/sign',
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    connectionTerminationDetails: '',
    upstreamTransportFailureReason: '',
    bytesReceived: 1024,
    bytesSent: 1024,
    durationMs: 1,
    upstreamServiceTime: '1',
    forwardedFor: '',
    userAgent: 'undici',
    requestId: '3f1c9a52-8f5e-4c4c-9a1e-6f0d8c1f2b3a',
    authority: 'signing-api.docs.svc.cluster.local:8001',
    upstreamHost: '127.0.0.1:41234',
    upstreamCluster: 'outbound|8001||signing-api.docs.svc.cluster.local',
    upstreamLocalAddress: '',
    downstreamLocalAddress: '127.0.0.1:41235',
    downstreamRemoteAddress: '127.0.0.1:52000',
    requestedServerName: '',
    routeName: 'default',
  }
  let bytes = 0
  const costs = {
    'istio_* metrics (as recorded)': cpuMicros((i) =>
      metrics.recordRequest(labels[i % 3] as HttpLabels, i % 50, 1024, 1024),
    ),
    "istio_* metrics (prom-client's Counter and Histogram)": cpuMicros((i) => {
      const l = labels[i % 3] as HttpLabels
      counter.inc(l)
      for (const h of histograms) h.observe(l, i % 50)
    }),
    'access-log line': cpuMicros(() => {
      bytes += formatAccessLogLine(entry).length
    }),
  }
  if (bytes === 0) throw new Error('no line formatted')
  return costs
}

const RATE = 100
const ROUND_SECONDS = 3
const ROUNDS = 5
const RECORDS = 200_000
const payload = Buffer.alloc(1024, 'p')

async function startChild(script: string, args: string[]) {
  const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url))
  const child: ChildProcess = spawn(tsx, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [line] = (await once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line')) as [
    string,
  ]
  return { child, info: JSON.parse(line) as Record<string, unknown> }
}

async function request(dispatcher: Dispatcher, origin: string): Promise<number> {
  const started = process.hrtime.bigint()
  const res = await dispatcher.request({ origin, path: '/sign', method: 'POST', body: payload })
  await res.body.arrayBuffer()
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function atFixedRate(dispatcher: Dispatcher, origin: string): Promise<number[]> {
  const latencies: number[] = []
  const pending: Promise<void>[] = []
  const interval = 1000 / RATE
  const start = performance.now()
  for (let i = 0; i < RATE * ROUND_SECONDS; i++) {
    const due = start + i * interval
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    pending.push(request(dispatcher, origin).then((ms) => void latencies.push(ms)))
  }
  await Promise.all(pending)
  return latencies
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

const logDir = mkdtempSync(join(tmpdir(), 'bench-telemetry-'))
const echo = await startChild('./echo-server.ts', [])
const plain = await startChild('./mesh-server.ts', [String(echo.info.port)])
const observed = await startChild('./mesh-server.ts', [String(echo.info.port), logDir])
type State = { workloads: Record<string, { proxyPort: number; statsUrl?: string }> }
const hop = (state: State) =>
  new ProxyAgent({
    uri: `http://127.0.0.1:${state.workloads['bucket-api']?.proxyPort}`,
    proxyTunnel: false,
    connections: 64,
  })
const MESH = 'http://signing-api.docs.svc.cluster.local:8001'
const targets = {
  direct: {
    dispatcher: new Pool(`http://127.0.0.1:${echo.info.port}`, { connections: 64 }),
    origin: `http://127.0.0.1:${echo.info.port}`,
  },
  off: { dispatcher: hop(plain.info.state as State), origin: MESH },
  on: { dispatcher: hop(observed.info.state as State), origin: MESH },
}
const samples: Record<keyof typeof targets, number[]> = { direct: [], off: [], on: [] }
try {
  for (const t of Object.values(targets)) for (let i = 0; i < 300; i++) await request(t.dispatcher, t.origin)
  for (let round = 0; round < ROUNDS; round++)
    for (const name of ['direct', 'off', 'on'] as const) {
      const t = targets[name]
      samples[name].push(...(await atFixedRate(t.dispatcher, t.origin)))
    }
  const stats = (observed.info.state as State).workloads['bucket-api']?.statsUrl ?? ''
  const counted = (await (await fetch(stats)).text()).match(
    /^istio_requests_total\{reporter="source",.*destination_workload="signing-api".*response_code="200".*\} (\d+)$/m,
  )?.[1]
  const logged = readFileSync(join(logDir, 'bucket-api.log'), 'utf8').split('\n').filter(Boolean).length
  const ms = (n: number) => `${n.toFixed(3)} ms`
  const p50 = {
    direct: percentile(samples.direct, 50),
    off: percentile(samples.off, 50),
    on: percentile(samples.on, 50),
  }
  const p99 = {
    direct: percentile(samples.direct, 99),
    off: percentile(samples.off, 99),
    on: percentile(samples.on, 99),
  }
  console.log(
    `\ntelemetry: 1 kB through one mesh hop at ${RATE} req/s, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s\n`,
  )
  console.log('| path | p50 | p99 | p50 overhead over direct | p99 overhead over direct |')
  console.log('|---|---|---|---|---|')
  console.log(`| direct to the app | ${ms(p50.direct)} | ${ms(p99.direct)} | - | - |`)
  for (const name of ['off', 'on'] as const)
    console.log(
      `| one mesh hop, telemetry ${name} | ${ms(p50[name])} | ${ms(p99[name])} | ${ms(p50[name] - p50.direct)} | ${ms(p99[name] - p99.direct)} |`,
    )
  const ratio = (p50.on - p50.direct) / (p50.off - p50.direct)
  console.log(
    `\ntelemetry costs ${ms(p50.on - p50.off)} per hop at p50 (two proxies record each request); the hop's p50 overhead is ${ratio.toFixed(2)}× without it (${ratio < 2 ? 'meets' : 'misses'} the "not double" target)`,
  )
  for (const [what, micros] of Object.entries(recordingCosts()))
    console.log(`one proxy, one request: ${what}: ${micros.toFixed(1)} µs of CPU`)
  console.log(`bucket-api's sidecar counted ${counted} requests to signing-api and logged ${logged} lines`)
} finally {
  for (const t of Object.values(targets)) await t.dispatcher.close()
  for (const c of [observed, plain, echo]) c.child.kill('SIGTERM')
  rmSync(logDir, { recursive: true, force: true })
}
