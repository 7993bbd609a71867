import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
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
    // As pnpm dev runs it: one node process with the tsx loader.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
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
    const log: string[] = []
    for await (const line of lines) {
      log.push(line)
      if (line.startsWith('ready: ')) {
        readyLine = line
        break
      }
    }
    expect(readyLine, log.slice(-40).join('\n')).toMatch(/^ready: https:\/\/localhost:\d+$/)
    const state = JSON.parse(readFileSync(join(dir, 'mesh', 'state.json'), 'utf8')) as {
      gatewayPort: number
      workloads: Record<string, { appPort: number; proxyPort: number; statsUrl: string; accessLog: string }>
      gateway: { workload: string; statsUrl: string }
    }
    // Each workload's (and the gateway's) scrape URL is printed at start, as state.json has it,
    // and serves Istio's metrics (docs/observability.md).
    const scrapes = [
      ...Object.entries(state.workloads).map(([name, w]) => [name, w.statsUrl] as const),
      [state.gateway.workload, state.gateway.statsUrl] as const,
    ]
    for (const [name, statsUrl] of scrapes) {
      const printed = statsUrl.replace('//127.0.0.1:', '//localhost:')
      expect(log.some((l) => l.endsWith(`metrics ${name.padEnd(22)} ${printed}`), name)).toBe(true)
      expect(await (await fetch(statsUrl)).text()).toContain('# TYPE istio_requests_total counter')
    }
    expect(state.workloads['signing-api']?.accessLog).toBe(join(dir, 'mesh', 'logs', 'signing-api.log'))
    const ports = [
      state.gatewayPort,
      ...Object.values(state.workloads).flatMap((w) => [w.appPort, w.proxyPort]),
      ...scrapes.map(([, statsUrl]) => Number(new URL(statsUrl).port)),
    ]
    for (const port of ports) expect(await accepts(port), `port ${port} before`).toBe(true)

    // What a terminal's Ctrl-C does: SIGINT to the foreground process group.
    process.kill(-(child.pid as number), 'SIGINT')
    const [code, signal] = await once(child, 'exit')
    expect({ code, signal }, log.slice(-40).join('\n')).toEqual({ code: 0, signal: null })
    for (const port of ports) expect(await accepts(port), `port ${port} after`).toBe(false)
    expect(existsSync(join(dir, 'mesh', 'state.json'))).toBe(false)
  }, 240_000)
})
