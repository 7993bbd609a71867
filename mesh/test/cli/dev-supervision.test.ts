// `mesh dev` as an operator meets it: stopped by Ctrl-C, SIGTERM or SIGHUP at
// any moment (start-up included) it leaves no process and no port behind, and
// SIGKILLed itself it leaves none either; an app or a sidecar SIGKILLed under
// traffic is restarted with back-off while the rest runs, its requests
// meanwhile failing with Envoy's 503 and succeeding once it is back; an app
// that crashes at boot fails the start at once with its error.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Agent, fetch } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'

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

/** Processes (ours) whose environment mentions `dir`: what a run in `dir` left behind. */
function processesUsing(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(dir)) pids.push(Number(entry))
    } catch {
      // gone, or not ours
    }
  }
  return pids
}

/** A process's command line, for a message. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return 'gone'
  }
}

interface Run {
  child: ChildProcess
  dir: string
  log: string[]
  /** Resolves with the first line matching, or rejects when the process exits first. */
  waitFor(pattern: RegExp): Promise<string>
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

function startDev(env: Record<string, string> = {}): Run {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dev-'))
  const child = spawn(
    process.execPath,
    [
      // As pnpm dev runs it: from its bundle, through the workspace's runner.
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
      stdio: ['ignore', 'pipe', 'pipe'],
      // The run's folder in every app's environment, so what it leaves behind can be found.
      env: { ...process.env, LOG_LEVEL: 'warn', MESH_RUN_DIR: dir, ...env },
    },
  )
  const log: string[] = []
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = []
  const onLine = (line: string) => {
    log.push(line)
    for (const w of [...waiters])
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
  }
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine)
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', onLine)
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return {
    child,
    dir,
    log,
    exited,
    waitFor: (pattern) =>
      new Promise<string>((resolve, reject) => {
        const found = log.find((l) => pattern.test(l))
        if (found) return resolve(found)
        waiters.push({ pattern, resolve })
        void exited.then(([code, signal]) =>
          reject(
            new Error(`mesh dev exited (${code ?? signal}) before ${pattern}:\n${log.slice(-30).join('\n')}`),
          ),
        )
      }),
  }
}

/** The ports the run's processes bound so far, once the control plane's is recorded (0 or null: not yet bound). */
async function listeningPorts(dir: string): Promise<number[]> {
  const file = join(dir, 'mesh', 'state.json')
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as {
        controlPlaneUrl: string | null
        gatewayPort: number | null
        workloads: Record<string, { appPort: number; proxyPort: number; inbound: Record<string, number> }>
      }
      if (state.controlPlaneUrl)
        return [
          Number(new URL(state.controlPlaneUrl).port),
          state.gatewayPort ?? 0,
          ...Object.values(state.workloads).flatMap((w) => [
            w.appPort,
            w.proxyPort,
            ...Object.values(w.inbound),
          ]),
        ].filter((port) => port > 0)
    } catch {
      // Not written yet.
    }
    if (Date.now() > deadline) throw new Error(`${file} records no control plane`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('mesh dev supervision', () => {
  const runs: Run[] = []
  afterEach(async () => {
    for (const run of runs.splice(0)) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        process.kill(-(run.child.pid as number), 'SIGKILL')
        await run.exited
      }
      for (const pid of processesUsing(run.dir)) process.kill(pid, 'SIGKILL')
      rmSync(run.dir, { recursive: true, force: true })
    }
  })

  // Each signal at another moment of start-up: the control plane just serving, sidecars
  // getting their certificates, apps starting.
  it.each<[NodeJS.Signals, string, RegExp]>([
    [
      'SIGINT',
      'Ctrl-C (SIGINT to the foreground group), apps starting',
      /^(bucket-api|identity-api|signing-api|admin-api|verification-api|frontend|oidc-provider) +\|/,
    ],
    [
      'SIGTERM',
      'SIGTERM (a process manager), the control plane just serving',
      /^control-plane +\| control plane serving/,
    ],
    [
      'SIGHUP',
      'SIGHUP (the terminal closed), sidecars getting certificates',
      /^control-plane +\| signed an SVID/,
    ],
  ])(
    '%s during start-up leaves nothing listening and no process behind: %s',
    async (signal, _how, moment) => {
      const run = startDev()
      runs.push(run)
      await run.waitFor(moment)
      expect(run.log.some((l) => l.startsWith('ready: '))).toBe(false)
      const ports = await listeningPorts(run.dir)
      expect(ports.length).toBeGreaterThan(0)
      expect(processesUsing(run.dir).length).toBeGreaterThan(1)

      if (signal === 'SIGINT') process.kill(-(run.child.pid as number), 'SIGINT')
      else process.kill(run.child.pid as number, signal)
      const [code, exitSignal] = await run.exited
      expect({ code, exitSignal }, run.log.slice(-30).join('\n')).toEqual({ code: 0, exitSignal: null })
      expect(run.log.join('\n')).toContain(`${signal}: stopping`)
      for (const port of ports) expect(await accepts(port), `port ${port}`).toBe(false)
      expect(processesUsing(run.dir)).toEqual([])
      expect(existsSync(join(run.dir, 'mesh', 'state.json'))).toBe(false)
    },
    240_000,
  )

  it('survives SIGKILL of an app and of sidecars under traffic: Envoy 503s while one is down, only successes once it is back, the rest untouched', async () => {
    const run = startDev({ MESH_RESTART_BACKOFF: '2s' })
    runs.push(run)
    const ready = await run.waitFor(/^ready: /)
    const gateway = ready.slice('ready: '.length)
    const dispatcher = new Agent({
      connect: { ca: readFileSync(join(run.dir, 'mesh', 'ca', 'root-cert.pem')) },
      bodyTimeout: 5_000,
      headersTimeout: 5_000,
    })
    const call = async (path: string) => {
      const res = await fetch(`${gateway}${path}`, { dispatcher, signal: AbortSignal.timeout(10_000) })
      return { status: res.status, body: await res.text(), server: res.headers.get('server') }
    }
    const pidsWith = (needle: string, file: 'environ' | 'cmdline') =>
      processesUsing(run.dir).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/${file}`, 'latin1').includes(needle)
        } catch {
          return false
        }
      })
    const victims = [
      {
        what: 'the verification-api app',
        name: 'verification-api',
        path: '/verify/keys',
        pids: () => pidsWith('\0MESH_APP=verification-api\0', 'environ'),
      },
      {
        what: 'the verification-api sidecar',
        name: 'verification-api-proxy',
        path: '/verify/keys',
        pids: () => pidsWith('\0--workload\0verification-api\0', 'cmdline'),
      },
      {
        what: 'the frontend sidecar',
        name: 'frontend-proxy',
        path: '/',
        pids: () => pidsWith('\0--workload\0frontend\0', 'cmdline'),
      },
    ]
    for (const victim of victims) {
      expect((await call(victim.path)).status, victim.what).toBe(200)
      const pids = victim.pids()
      expect(pids.length, victim.what).toBeGreaterThan(0)
      const othersBefore = processesUsing(run.dir)
        .filter((pid) => !pids.includes(pid))
        .map((pid) => ({ pid, command: commandOf(pid) }))

      // Traffic throughout, 4 requests at a time; the kill lands in the middle of it.
      const seen: Array<{ status: number; body: string; server: string | null }> = []
      let recovered = false
      const traffic = async () => {
        // Bounded: until a success follows the failures, for at most 2 minutes.
        const deadline = Date.now() + 120_000
        while (!recovered && Date.now() < deadline) {
          const r = await call(victim.path)
          seen.push(r)
          if (seen.some((s) => s.status === 503) && r.status === 200) recovered = true
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
      }
      const load = Promise.all([traffic(), traffic(), traffic(), traffic()])
      await new Promise((r) => setTimeout(r, 300))
      for (const pid of pids) process.kill(pid, 'SIGKILL')
      await run.waitFor(
        new RegExp(
          `${victim.name} was killed by SIGKILL; restarting in 2\\.0 s \\(back-off, crash 1 in a row\\)`,
        ),
      )
      await run.waitFor(new RegExp(`${victim.name} is ready again`))
      await load
      expect(recovered, `${victim.what}: ${JSON.stringify(seen.slice(-5))}`).toBe(true)
      // Settled: once the last failure is past, every request succeeds.
      const after = await Promise.all(Array.from({ length: 20 }, () => call(victim.path)))
      expect(after.map((r) => r.status)).toEqual(after.map(() => 200))
      const failures = seen.filter((s) => s.status !== 200)
      expect(failures.length, victim.what).toBeGreaterThan(0)
      for (const f of failures) {
        // What Envoy answers for a refused or reset upstream connection (sidecar/envoy-responses.ts).
        expect(f, victim.what).toMatchObject({ status: 503, server: 'istio-envoy' })
        expect(f.body).toMatch(/^upstream connect error or disconnect\/reset before headers/)
      }
      // The system never restarted; nothing else was touched.
      expect(run.child.exitCode).toBe(null)
      for (const { pid, command } of othersBefore)
        expect(existsSync(`/proc/${pid}`), `${victim.what}: pid ${pid} (${command})`).toBe(true)
    }
    await dispatcher.close()
  }, 600_000)

  it('leaves no child behind when mesh dev itself is SIGKILLed: each exits when its stdin pipe closes', async () => {
    const run = startDev()
    runs.push(run)
    await run.waitFor(/^ready: /)
    const children = processesUsing(run.dir).filter((pid) => pid !== run.child.pid)
    // The control plane, the gateway, six sidecars, six apps and the OpenID provider (at least).
    expect(children.length).toBeGreaterThanOrEqual(15)
    const ports = await listeningPorts(run.dir)
    // Only mesh dev: a SIGKILL it cannot handle, so it stops nothing itself.
    process.kill(run.child.pid as number, 'SIGKILL')
    await run.exited
    // Within seconds: they once outlived it by 10-20 s, flushing logs into the broken
    // pipe and spans to the console that died with it (platform's run-service.test.ts).
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && processesUsing(run.dir).length > 0)
      await new Promise((resolve) => setTimeout(resolve, 100))
    expect(processesUsing(run.dir)).toEqual([])
    for (const port of ports) expect(await accepts(port), `port ${port}`).toBe(false)
  }, 240_000)

  it('fails fast with the app’s own error when apps crash at boot, leaving nothing behind', async () => {
    const run = startDev({ LOG_LEVEL: 'loud' })
    runs.push(run)
    const [code] = await run.exited
    expect(code).toBe(1)
    const output = run.log.join('\n')
    expect(output).toMatch(/exited with code 78 before it was ready; its last output:/)
    // The app's own words (its configuration error), not a timeout.
    expect(output).toMatch(/invalid configuration: .*LOG_LEVEL/)
    expect(output).not.toMatch(/not ready after/)
    expect(processesUsing(run.dir)).toEqual([])
  }, 240_000)
})
