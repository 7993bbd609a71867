// `mesh dev` (behind `pnpm dev`): the whole system in the local mesh. Prints
// `ready: <gateway url>` once every app answers. Ctrl-C, SIGTERM and SIGHUP
// stop everything from the first moment, start-up included; a crashed app is
// restarted with back-off while the rest keeps running; an app that crashes
// before it was ever ready stops the start with its own error.

import { join } from 'node:path'
import { type RunningConsole, startConsole } from '../console/start-console.ts'
import type { BackOff } from '../runtime/supervisor.ts'
import { startSystem } from '../runtime/system.ts'
import { REPO_ROOT } from './repo-root.ts'

export interface DevArgs {
  manifests: string
  gatewayPort: number
  hostAliases: Record<string, string>
  /** 'fixed' (the manifests' ports) for people; 'free' lets a test run beside a developer's pnpm dev. */
  ports: 'fixed' | 'free'
  meshDir: string
  dataDir: string
  /** How long a proxy waits on a connection the NetworkPolicies drop, per attempt. */
  connectTimeoutMs: number
  svidLifetimeMs: number
  backOff: BackOff
  /** The console's port (loopback only); 0 for any free one. */
  consolePort: number
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export async function devCommand(args: DevArgs): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`)
  const say = (line: string) => log(`${'mesh'.padEnd(16)} | ${line}`)
  const started = Date.now()

  // Installed before anything starts, so a signal during start-up stops what has started.
  const aborting = new AbortController()
  let stopSystem: (() => Promise<void>) | null = null
  let meshConsole: RunningConsole | null = null
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping`)
    aborting.abort(new Error(`stopped by ${signal}`))
    // The console last: it is the proxies' and apps' trace collector, and they flush to it as they stop.
    // (During start-up the abort makes startSystem reject, and its catch closes the console.)
    if (stopSystem)
      void stopSystem()
        .then(() => meshConsole?.close())
        .then(() => process.exit(0))
  }
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal)

  say(
    `restart back-off ${args.backOff.baseMs / 1000} s doubling to ${args.backOff.maxMs / 1000} s (a cluster's kubelet: 10 s to 5 min); SVIDs and the gateway certificate live ${args.svidLifetimeMs / 1000} s, renewed at half`,
  )
  // First, so its URL is known before the apps start (their traces go to it) and it shows the policies during start-up.
  meshConsole = await startConsole({
    meshDir: args.meshDir,
    manifests: args.manifests,
    port: args.consolePort,
  })
  log(`console: ${meshConsole.url}`)
  // The console takes OTLP/HTTP in its JSON encoding; a user's own collector keeps its own settings.
  const otlp = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    ? {}
    : { OTEL_EXPORTER_OTLP_ENDPOINT: meshConsole.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
  let system: Awaited<ReturnType<typeof startSystem>>
  try {
    system = await startSystem({
      root: REPO_ROOT,
      manifests: args.manifests,
      meshDir: args.meshDir,
      dataDir: args.dataDir,
      ports: args.ports,
      gatewayPort: args.gatewayPort,
      hostAliases: args.hostAliases,
      // Each app compiles a route's schemas when the route is first used, not all at its start
      // (platform's lazy-schema-compilers.ts); SCHEMA_COMPILE=eager in the environment keeps Fastify's way.
      baseEnv: { SCHEMA_COMPILE: 'lazy', ...process.env, LOG_PRETTY: 'true', ...otlp },
      log,
      backOff: args.backOff,
      svidLifetimeMs: args.svidLifetimeMs,
      signal: aborting.signal,
      onDecision: ({ workload, from, method, path, decision }) => {
        if (decision.decision === 'DENY')
          say(`DENY ${from ?? 'no peer'} -> ${workload} ${method} ${path}: ${decision.reason}`)
        // Dry-run policies are logged, never enforced (Envoy's "shadow denied/allowed").
        for (const s of decision.shadow)
          say(
            `dry-run ${s.action} policies: shadow ${s.decision === 'DENY' ? 'denied' : 'allowed'} ${from ?? 'no peer'} -> ${workload} ${method} ${path}${s.policy ? ` by ${s.policy} rule ${s.rule}` : ''}`,
          )
      },
      connectTimeoutMs: args.connectTimeoutMs,
      onNetworkDrop: ({ from, endpoint, verdict }) =>
        say(
          `DROP ${from} -> ${endpoint.workload}:${endpoint.targetPort}: ${verdict.direction} refused by ${verdict.policy ?? 'no pod'}`,
        ),
    })
  } catch (error) {
    // startSystem stopped everything it had started before rejecting.
    await meshConsole.close()
    if (stopping) process.exit(0)
    throw error
  }
  stopSystem = system.stop
  meshConsole.recordInState()
  if (stopping) {
    await system.stop()
    await meshConsole.close()
    process.exit(0)
  }
  say(
    `all ${system.model.workloads.length} workloads ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  // Istio's per-pod scrape endpoints (the agent's :15020/stats/prometheus), one per workload and the gateway.
  const scraped = [
    ...Object.entries(system.state.workloads).map(([name, w]) => ({ name, statsUrl: w.statsUrl })),
    ...(system.state.gateway
      ? [{ name: system.state.gateway.workload, statsUrl: system.state.gateway.statsUrl }]
      : []),
  ]
  for (const { name, statsUrl } of scraped)
    if (statsUrl) say(`metrics ${name.padEnd(22)} ${statsUrl.replace('//127.0.0.1:', '//localhost:')}`)
  if (scraped.some((s) => s.statsUrl))
    say(`access logs in ${join(args.meshDir, 'logs')} (mesh logs [--workload X] [--denied] [--follow])`)
  log(`ready: ${system.gatewayUrl}`)
}
