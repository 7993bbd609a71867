import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

describe('mesh dev', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dev-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('says ready once every app answers, and Ctrl-C leaves nothing listening behind', async () => {
    // As pnpm dev runs it: from its bundle, through the workspace's runner.
    const child = spawn(
      process.execPath,
      [
        join(root, 'scripts/dev-run.ts'),
        join(root, 'mesh/src/cli/main.ts'),
        'dev',
        '--ports',
        'free',
        '--mesh-dir',
        join(dir, 'mesh'),
        '--data-dir',
        join(dir, 'data'),
      ],
      {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, LOG_LEVEL: 'warn' },
      },
    )
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    let readyLine = ''
    let consoleLine = ''
    const log: string[] = []
    for await (const line of lines) {
      log.push(line)
      if (line.startsWith('console: ')) consoleLine = line
      if (line.startsWith('ready: ')) {
        readyLine = line
        break
      }
    }
    expect(readyLine, log.slice(-40).join('\n')).toMatch(/^ready: https:\/\/localhost:\d+$/)
    // The console: its own line at start, its URL in state.json, the policy graph at its API.
    expect(consoleLine).toMatch(/^console: http:\/\/localhost:\d+$/)
    const consoleUrl = consoleLine.slice('console: '.length)
    const graph = (await (await fetch(`${consoleUrl}/api/graph`)).json()) as { nodes: Array<{ id: string }> }
    expect(graph.nodes.map((n) => n.id)).toContain('signing-api')
    const state = JSON.parse(readFileSync(join(dir, 'mesh', 'state.json'), 'utf8')) as {
      consoleUrl: string
      gatewayPort: number
      workloads: Record<string, { appPort: number; proxyPort: number; statsUrl: string; accessLog: string }>
      gateway: { workload: string; statsUrl: string; accessLog: string }
    }
    expect(state.consoleUrl).toBe(consoleUrl)
    // Each workload's scrape URL (its sidecar process's --stats-port) and the gateway's, printed and in state.json.
    const printed = Object.fromEntries(
      log.flatMap((l) => {
        const m = /\bmetrics (\S+)\s+(http:\/\/localhost:\d+\/stats\/prometheus)$/.exec(l)
        return m ? [[m[1], m[2]]] : []
      }),
    )
    expect(Object.keys(printed).sort()).toEqual(
      [...Object.keys(state.workloads), 'istio-ingressgateway'].sort(),
    )
    expect(printed['signing-api']).toBe(
      state.workloads['signing-api']?.statsUrl.replace('127.0.0.1', 'localhost'),
    )
    expect(state.workloads['signing-api']?.accessLog).toBe(join(dir, 'mesh', 'logs', 'signing-api.log'))
    expect(state.gateway.accessLog).toBe(join(dir, 'mesh', 'logs', 'istio-ingressgateway.log'))
    // The sidecar's merged endpoint: its agent's gauges and the app's own metrics (the port the app reported).
    const signingStats = await (await fetch(state.workloads['signing-api']?.statsUrl as string)).text()
    expect(signingStats).toMatch(/mesh_proxy_config_version\{workload="signing-api"\}/)
    expect(signingStats).toContain('process_cpu_user_seconds_total')
    expect(await (await fetch(state.gateway.statsUrl)).text()).toContain(
      'mesh_gateway_certificate_expiry_seconds',
    )
    // Each workload's (and the gateway's) scrape URL serves Istio's metrics (docs/observability.md).
    const scrapes = [
      ...Object.entries(state.workloads).map(([name, w]) => [name, w.statsUrl] as const),
      [state.gateway.workload, state.gateway.statsUrl] as const,
    ]
    for (const [, statsUrl] of scrapes)
      expect(await (await fetch(statsUrl)).text()).toContain('# TYPE istio_requests_total counter')
    const ports = [
      Number(new URL(consoleUrl).port),
      state.gatewayPort,
      ...Object.values(state.workloads).flatMap((w) => [w.appPort, w.proxyPort]),
      ...scrapes.map(([, statsUrl]) => Number(new URL(statsUrl).port)),
    ]
    for (const port of ports) expect(await accepts(port), `port ${port} before`).toBe(true)
    // Its apps compile each route's schemas on the route's first use (platform's lazy-schema-compilers.ts).
    const appEnvironments = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .flatMap((pid) => {
        try {
          return [`\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`]
        } catch {
          return []
        }
      })
      .filter((environ) => environ.includes(dir) && environ.includes('\0MESH_APP='))
    expect(new Set(appEnvironments.map((e) => /\0MESH_APP=([^\0]+)/.exec(e)?.[1])).size).toBe(6)
    for (const environ of appEnvironments) expect(environ).toContain('\0SCHEMA_COMPILE=lazy\0')

    // What a terminal's Ctrl-C does: SIGINT to the foreground process group.
    process.kill(-(child.pid as number), 'SIGINT')
    const [code, signal] = await once(child, 'exit')
    expect({ code, signal }, log.slice(-40).join('\n')).toEqual({ code: 0, signal: null })
    for (const port of ports) expect(await accepts(port), `port ${port} after`).toBe(false)
    expect(existsSync(join(dir, 'mesh', 'state.json'))).toBe(false)
  }, 240_000)
})
