#!/usr/bin/env node
// The local mesh's command line: dev, control-plane, sidecar, gateway, authz check, curl, logs, lint, graph.
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { MeshConfigError } from '../manifests/k8s-object.ts'
import { parseDuration } from './parse-duration.ts'
import { REPO_ROOT } from './repo-root.ts'
import { UsageError } from './usage-error.ts'

// Each command loads its own modules when it runs: a sidecar, started fifteen
// times over by pnpm dev, does not evaluate the console's web server or the
// linter (and `mesh lint` does not load undici).
const USAGE = `usage: mesh <command>
  dev [--manifests DIR] [--connect-timeout MS] [--gateway-port 8443] [--host-alias localhost=api.rossmck.dev] [--ports fixed|free] [--mesh-dir .mesh] [--data-dir .data] [--console-port 20001]
      [--svid-ttl 24h (MESH_SVID_TTL)] [--restart-backoff 1s (MESH_RESTART_BACKOFF)] [--restart-backoff-max 30s (MESH_RESTART_BACKOFF_MAX)]
  control-plane [--manifests DIR] [--mesh-dir .mesh] [--listen 127.0.0.1:15012] [--svid-ttl 24h]
  sidecar --workload NAME --control-plane URL --token-file FILE --root-cert FILE --app-port PORT|stdin
      [--advertise-address 127.0.0.1] [--inbound-host 127.0.0.1] [--inbound-port container|0] [--outbound-port 15001] [--health-port 15021] [--stats-port 15020]
      [--access-log FILE] [--app-metrics-port PORT|stdin] [--connect-timeout MS] [--report-decisions]
  gateway --control-plane URL [--token-file FILE] [--root-cert FILE] [--listen-host 127.0.0.1] [--listen-port 8443] [--health-port 15021] [--stats-port 15020] [--access-log FILE]
      [--host-alias localhost=api.rossmck.dev] [--connect-timeout MS] [--report-decisions]
  authz check --manifests FILE_OR_DIR [--manifests ...] --requests FILE.jsonl
  curl --from <workload|ingress|plaintext|foreign-ca> [-X METHOD] [-H 'k: v']... [-d BODY] [--mesh-dir .mesh] URL
  logs [--workload NAME]... [--denied] [--follow] [--mesh-dir .mesh]
  lint [--manifests FILE_OR_DIR]...
  graph [--manifests FILE_OR_DIR]... [--format table|mermaid]`

const DEFAULT_MANIFESTS = join(REPO_ROOT, 'k8s/base')
/** What `mesh dev` runs: the base plus the components every cluster gets. */
const DEV_MANIFESTS = join(REPO_ROOT, 'k8s/overlays/local')

// `mesh graph | head`: a reader that stops early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})
const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)

function aliases(values: string[]): Record<string, string> {
  const result: Record<string, string> = {}
  for (const v of values) {
    const [local, host] = v.split('=')
    if (!local || !host) throw new UsageError(`--host-alias ${v}: expected local=gateway-host`)
    result[local] = host
  }
  return result
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'dev': {
      const { DEFAULT_CONNECT_TIMEOUT_MS } = await import('../sidecar/network-drop.ts')
      const { DEFAULT_CONSOLE_PORT } = await import('../console/start-console.ts')
      const { devCommand } = await import('./dev-command.ts')
      const { values } = parseArgs({
        args: rest,
        options: {
          manifests: { type: 'string', default: DEV_MANIFESTS },
          'connect-timeout': { type: 'string', default: String(DEFAULT_CONNECT_TIMEOUT_MS) },
          'gateway-port': { type: 'string', default: '8443' },
          'host-alias': { type: 'string', multiple: true, default: ['localhost=api.rossmck.dev'] },
          ports: { type: 'string', default: 'fixed' },
          'mesh-dir': { type: 'string', default: join(REPO_ROOT, '.mesh') },
          'data-dir': { type: 'string', default: join(REPO_ROOT, '.data') },
          'svid-ttl': { type: 'string', default: process.env.MESH_SVID_TTL ?? '24h' },
          'restart-backoff': { type: 'string', default: process.env.MESH_RESTART_BACKOFF ?? '1s' },
          'restart-backoff-max': { type: 'string', default: process.env.MESH_RESTART_BACKOFF_MAX ?? '30s' },
          'console-port': { type: 'string' },
        },
      })
      if (values.ports !== 'fixed' && values.ports !== 'free')
        throw new UsageError('--ports is fixed or free')
      const connectTimeoutMs = Number(values['connect-timeout'])
      if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > 60_000)
        throw new UsageError('--connect-timeout is a number of milliseconds between 1 and 60000')
      // Beside a developer's pnpm dev (--ports free), any free port unless asked for one.
      const consolePort = Number(
        values['console-port'] ?? (values.ports === 'free' ? 0 : DEFAULT_CONSOLE_PORT),
      )
      if (!Number.isInteger(consolePort) || consolePort < 0 || consolePort > 65535)
        throw new UsageError('--console-port is a port number (0 for any free port)')
      await devCommand({
        consolePort,
        manifests: resolve(values.manifests),
        gatewayPort: Number(values['gateway-port']),
        hostAliases: aliases(values['host-alias']),
        ports: values.ports,
        meshDir: resolve(values['mesh-dir']),
        dataDir: resolve(values['data-dir']),
        connectTimeoutMs,
        svidLifetimeMs: parseDuration(values['svid-ttl'], '--svid-ttl'),
        backOff: {
          baseMs: parseDuration(values['restart-backoff'], '--restart-backoff'),
          maxMs: parseDuration(values['restart-backoff-max'], '--restart-backoff-max'),
        },
      })
      return 0
    }
    case 'control-plane': {
      const { controlPlaneCommand } = await import('./process-commands.ts')
      await controlPlaneCommand(rest, { manifests: DEV_MANIFESTS, meshDir: join(REPO_ROOT, '.mesh') })
      return 0
    }
    case 'sidecar': {
      const { sidecarCommand } = await import('./process-commands.ts')
      await sidecarCommand(rest)
      return 0
    }
    case 'gateway': {
      const { gatewayCommand } = await import('./process-commands.ts')
      await gatewayCommand(rest, { meshDir: join(REPO_ROOT, '.mesh') })
      return 0
    }
    case 'authz': {
      const { authzCheck } = await import('./authz-check-command.ts')
      if (rest[0] !== 'check') throw new UsageError(USAGE)
      const { values } = parseArgs({
        args: rest.slice(1),
        options: { manifests: { type: 'string', multiple: true, default: [] }, requests: { type: 'string' } },
      })
      if (!values.requests) throw new UsageError('--requests is required')
      authzCheck(values.manifests, values.requests, out)
      return 0
    }
    case 'curl': {
      const { curlCommand } = await import('./curl-command.ts')
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          from: { type: 'string' },
          request: { type: 'string', short: 'X', default: '' },
          header: { type: 'string', short: 'H', multiple: true, default: [] },
          data: { type: 'string', short: 'd' },
          'mesh-dir': { type: 'string', default: join(REPO_ROOT, '.mesh') },
        },
      })
      if (!values.from || positionals.length !== 1) throw new UsageError(USAGE)
      return curlCommand(
        {
          from: values.from,
          method: values.request,
          headers: values.header,
          data: values.data,
          url: positionals[0] as string,
          meshDir: values['mesh-dir'],
        },
        (t) => process.stdout.write(t),
      )
    }
    case 'logs': {
      const { logsCommand } = await import('./logs-command.ts')
      const { values } = parseArgs({
        args: rest,
        options: {
          workload: { type: 'string', multiple: true, default: [] },
          denied: { type: 'boolean', default: false },
          follow: { type: 'boolean', short: 'f', default: false },
          'mesh-dir': { type: 'string', default: join(REPO_ROOT, '.mesh') },
        },
      })
      const stopping = new AbortController()
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stopping.abort())
      await logsCommand(
        {
          meshDir: resolve(values['mesh-dir']),
          workloads: values.workload,
          denied: values.denied,
          follow: values.follow,
        },
        (t) => process.stdout.write(t),
        stopping.signal,
      )
      return 0
    }
    case 'lint': {
      const { lintObjects } = await import('../lint/lint-manifests.ts')
      const { loadManifests } = await import('../manifests/load-manifests.ts')
      const { values } = parseArgs({
        args: rest,
        options: { manifests: { type: 'string', multiple: true, default: [DEFAULT_MANIFESTS] } },
      })
      const findings = lintObjects(values.manifests.flatMap((m) => loadManifests(m)))
      for (const f of findings) out(`${f.level}: [${f.rule}] ${f.object}${f.object ? ': ' : ''}${f.message}`)
      out(findings.length === 0 ? 'mesh lint: no problems' : `mesh lint: ${findings.length} problem(s)`)
      return findings.length === 0 ? 0 : 1
    }
    case 'graph': {
      const { edgesAsMermaid, edgesAsTable, whoCanCall } = await import('../graph/who-can-call.ts')
      const { loadManifests } = await import('../manifests/load-manifests.ts')
      const { buildMeshModel } = await import('../manifests/mesh-model.ts')
      const { values } = parseArgs({
        args: rest,
        options: {
          manifests: { type: 'string', multiple: true, default: [DEFAULT_MANIFESTS] },
          format: { type: 'string', default: 'table' },
        },
      })
      const edges = whoCanCall(buildMeshModel(values.manifests.flatMap((m) => loadManifests(m))))
      if (values.format === 'mermaid') out(edgesAsMermaid(edges))
      else if (values.format === 'table') out(edgesAsTable(edges))
      else throw new UsageError('--format is table or mermaid')
      return 0
    }
    default:
      throw new UsageError(USAGE)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // The long-running commands keep the process alive by their servers.
    if (!['dev', 'control-plane', 'sidecar', 'gateway'].includes(process.argv[2] ?? ''))
      process.exitCode = code
  },
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      error instanceof MeshConfigError ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      process.stderr.write(`mesh: ${(error as Error).message}\n`)
      process.exitCode = 2
      return
    }
    process.stderr.write(`mesh: ${(error as Error).stack ?? String(error)}\n`)
    process.exitCode = 1
  },
)
