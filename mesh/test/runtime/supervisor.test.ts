// The supervisor alone, with small stand-in processes: readiness, back-off
// restarts, failing fast at boot with the process's own error, restarting on
// a file change, and stopping whole process groups so nothing stays behind.
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BootError,
  type ProcessSpec,
  type Supervisor,
  startSupervisor,
} from '../../src/runtime/supervisor.ts'

const CHILD = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url))

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

describe('supervisor', () => {
  let dir: string
  let supervisor: Supervisor | null = null
  const lines: string[] = []
  afterEach(async () => {
    await supervisor?.stop(2_000)
    supervisor = null
    lines.length = 0
    rmSync(dir, { recursive: true, force: true })
  })

  const spec = (
    name: string,
    env: Record<string, string> = {},
    extra: Partial<ProcessSpec> = {},
  ): ProcessSpec => {
    dir ??= mkdtempSync(join(tmpdir(), 'supervisor-'))
    const portFile = join(dir, `${name}.port`)
    return {
      name,
      command: `exec "${process.execPath}" "${CHILD}"`,
      cwd: dir,
      env: { ...process.env, PORT_FILE: portFile, ...env },
      ready: async () => {
        if (!existsSync(portFile)) return false
        const res = await fetch(`http://127.0.0.1:${readFileSync(portFile, 'utf8')}/`).catch(() => null)
        return res?.ok ?? false
      },
      ...extra,
    }
  }
  const start = (specs: ProcessSpec[], backOff = { baseMs: 100, maxMs: 400, resetAfterMs: 60_000 }) => {
    supervisor = startSupervisor(specs, { log: (l) => lines.push(l), backOff, probeIntervalMs: 50 })
    return supervisor
  }

  it('restarts a killed process with doubling back-off, says so, and it is ready again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('app')])
    await s.ready({ timeoutMs: 20_000 })
    const delays: number[] = []
    s.events.on('restart', (_name, delayMs) => delays.push(delayMs))
    for (let crash = 1; crash <= 3; crash++) {
      const pid = s.pidOf('app') as number
      process.kill(pid, 'SIGKILL')
      const [, restarts] = await once(s.events, 'ready')
      expect(restarts).toBe(crash)
      expect(s.pidOf('app')).not.toBe(pid)
    }
    expect(delays).toEqual([100, 200, 400])
    expect(lines.join('\n')).toMatch(
      /app was killed by SIGKILL; restarting in 0\.1 s \(back-off, crash 1 in a row\)/,
    )
    expect(lines.join('\n')).toMatch(/restarting in 0\.4 s \(back-off, crash 3 in a row\)/)
    expect(lines.join('\n')).toContain('app is ready again')
  }, 30_000)

  it('fails fast with the last lines of a process that crashes before it was ever ready', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('healthy'), spec('identity-api', { CRASH_AT_BOOT: '1' })])
    const started = Date.now()
    const error = await s.ready({ timeoutMs: 60_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BootError)
    expect((error as BootError).message).toContain('identity-api exited with code 3 before it was ready')
    expect((error as BootError).message).toContain('session key row cannot be opened')
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)

  it('stops every process of each group, grandchildren too, and waits until they are gone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('watcher', { GRANDCHILD: '1' }), spec('plain')])
    await s.ready({ timeoutMs: 20_000 })
    const groups = [s.pidOf('watcher') as number, s.pidOf('plain') as number]
    const port = Number(readFileSync(join(dir, 'plain.port'), 'utf8'))
    for (const pid of groups) expect(groupAlive(pid)).toBe(true)
    await s.stop(2_000)
    for (const pid of groups) expect(groupAlive(pid)).toBe(false)
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow()
  }, 30_000)

  it('stops a process only once those it stops after are gone, and refuses a cycle', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('proxy', {}, { stopsAfter: ['app'] }), spec('app', { DRAIN_MS: '700' })])
    await s.ready({ timeoutMs: 20_000 })
    const groups = { proxy: s.pidOf('proxy') as number, app: s.pidOf('app') as number }
    const gone: Record<string, number> = {}
    const watching = setInterval(() => {
      for (const [name, pid] of Object.entries(groups)) if (!groupAlive(pid)) gone[name] ??= Date.now()
    }, 10)
    await s.stop(5_000)
    clearInterval(watching)
    for (const [name, pid] of Object.entries(groups)) if (!groupAlive(pid)) gone[name] ??= Date.now()
    // The app took its 700 ms to drain; only then was the proxy told to stop.
    expect(gone.proxy as number).toBeGreaterThanOrEqual(gone.app as number)
    expect(() =>
      startSupervisor([spec('a', {}, { stopsAfter: ['b'] }), spec('b', {}, { stopsAfter: ['a'] })], {
        log: () => {},
      }),
    ).toThrow('stopsAfter makes a cycle: a → b → a')
  }, 30_000)

  it('kills what a dead leader left in its group before restarting it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('watcher', { GRANDCHILD: '1' })])
    await s.ready({ timeoutMs: 20_000 })
    const pid = s.pidOf('watcher') as number
    process.kill(pid, 'SIGKILL')
    await once(s.events, 'restart')
    expect(groupAlive(pid)).toBe(false)
    await once(s.events, 'ready')
  }, 30_000)

  it('restarts a process when a file it runs from changes, without back-off', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const source = join(dir, 'src')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(source)
    const s = start([spec('app', {}, { watch: [source] })])
    await s.ready({ timeoutMs: 20_000 })
    const pid = s.pidOf('app')
    const restarted = once(s.events, 'restart')
    writeFileSync(join(source, 'server.ts'), '// changed')
    expect((await restarted).slice(1)).toEqual([0, 'change'])
    await once(s.events, 'ready')
    expect(s.pidOf('app')).not.toBe(pid)
    expect(lines.join('\n')).toMatch(/server\.ts changed; restarting app/)
  }, 30_000)

  // mesh dev checks every bundle before it starts the supervisor and tells each first start
  // so (DEV_BUNDLE_FRESH): a restart, or a first start after a change, must check again.
  it('adds firstStartEnv to a first start only, and not after a change it watches', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const source = join(dir, 'src')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(source)
    const firstStartEnv = { FIRST_START: '1' }
    const s = start([
      spec('sidecar', {}, { firstStartEnv }),
      spec('app', {}, { firstStartEnv, after: ['sidecar'], watch: [source] }),
      spec('late', {}, { firstStartEnv, after: ['app'], watch: [source] }),
    ])
    // 'late' waits for 'app': a change before its first start reaches it without the env,
    // and does not start it ahead of what it comes after.
    await once(s.events, 'ready')
    writeFileSync(join(source, 'server.ts'), '// changed before late started')
    await s.ready({ timeoutMs: 20_000 })
    const said = (name: string) => lines.filter((l) => l.startsWith(name) && / listening /.test(l))
    expect(said('sidecar')).toEqual([expect.stringMatching(/listening \d+ first start$/)])
    expect(said('late')).toEqual([expect.not.stringMatching(/first start/)])

    // Nothing the sidecar watches changed, but a restart is not a first start.
    process.kill(-(s.pidOf('sidecar') as number), 'SIGKILL')
    await once(s.events, 'ready')
    expect(said('sidecar')).toEqual([
      expect.stringMatching(/first start$/),
      expect.not.stringMatching(/first start/),
    ])
  }, 30_000)

  it('gives up waiting when aborted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'))
    const s = start([spec('never', {}, { ready: async () => false })])
    const aborting = new AbortController()
    const waiting = s.ready({ timeoutMs: 60_000, signal: aborting.signal })
    aborting.abort(new Error('stopped by SIGINT'))
    await expect(waiting).rejects.toThrow('stopped by SIGINT')
  })
})
