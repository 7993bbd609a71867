// `mesh dev` (behind `pnpm dev`): the whole system in the local mesh. Prints
// `ready: <gateway url>` once every app answers; Ctrl-C stops everything.
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
}

export async function devCommand(args: DevArgs): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`)
  const started = Date.now()
  const system = await startSystem({
    root: REPO_ROOT,
    manifests: args.manifests,
    meshDir: args.meshDir,
    dataDir: args.dataDir,
    ports: args.ports,
    gatewayPort: args.gatewayPort,
    hostAliases: args.hostAliases,
    baseEnv: { ...process.env, LOG_PRETTY: 'true' },
    log,
    onDecision: ({ workload, from, method, path, decision }) => {
      if (decision.decision === 'DENY')
        log(
          `${'mesh'.padEnd(16)} | DENY ${from ?? 'no peer'} -> ${workload} ${method} ${path}: ${decision.reason}`,
        )
      // Dry-run policies are logged, never enforced (Envoy's "shadow denied/allowed").
      for (const s of decision.shadow)
        log(
          `${'mesh'.padEnd(16)} | dry-run ${s.action} policies: shadow ${s.decision === 'DENY' ? 'denied' : 'allowed'} ${from ?? 'no peer'} -> ${workload} ${method} ${path}${s.policy ? ` by ${s.policy} rule ${s.rule}` : ''}`,
        )
    },
    connectTimeoutMs: args.connectTimeoutMs,
    onNetworkDrop: ({ from, endpoint, verdict }) =>
      log(
        `${'mesh'.padEnd(16)} | DROP ${from} -> ${endpoint.workload}:${endpoint.targetPort}: ${verdict.direction} refused by ${verdict.policy ?? 'no pod'}`,
      ),
  })
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    log(`${'mesh'.padEnd(16)} | stopping`)
    await system.stop()
    process.exit(code)
  }
  // Before saying ready, so a Ctrl-C right after the line is handled.
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))
  log(
    `${'mesh'.padEnd(16)} | all ${system.model.workloads.length} workloads ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  log(`ready: ${system.gatewayUrl}`)

  const { name, code } = await system.apps.exited
  log(`${'mesh'.padEnd(16)} | ${name} exited with code ${code}; stopping everything`)
  await stop(1)
}
