// Runs child processes as a kubelet runs containers: each in its own process
// group with a prefixed log, started once the processes it comes after are
// ready (a pod's sidecar before its app), ready once its probe says so, restarted after a
// crash with exponential back-off (CrashLoopBackOff), restarted at once when a
// file it runs from changes, and stopped group and all, waited for, so no
// process or port is left behind. A process that exits before it was ever
// ready fails the start at once with its last output lines. Any child fits:
// an app today, a sidecar, the gateway or a control plane later.
//
// Upstream the kubelet backs off 10 s doubling to 5 min (backOffPeriod and
// MaxContainerBackOff in kubernetes/kubernetes pkg/kubelet/kubelet.go) and
// forgets the back-off after a container ran twice the cap; the defaults here
// are much shorter for a laptop and settable (mesh dev --restart-backoff).
//
// Each child's stdin is a pipe from here: a child run with
// EXIT_ON_STDIN_CLOSE=true exits when it closes, so even a SIGKILLed
// supervisor (which cannot stop anything) leaves no child behind; the pipe
// also carries short messages to a child (`send`).
import { type ChildProcess, spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { type FSWatcher, watch } from 'node:fs'
import { prefixLines } from './app-processes.ts'

type Env = Record<string, string | undefined>

export interface ProcessSpec {
  name: string
  /** Run with `sh -c` in `cwd`; a function is asked again at each (re)start. */
  command: string | (() => string)
  cwd: string
  env: Env | (() => Env)
  /** Started only once each of these was ready (its first start only; restarts do not wait). */
  after?: readonly string[]
  /**
   * On stop, stopped only once each of these is gone: Kubernetes stops a pod's
   * sidecar containers after its app containers, and istiod outlives its proxies.
   */
  stopsAfter?: readonly string[]
  /** Sees each output line first; true when it consumed the line (a report, not for the log). */
  onLine?: (line: string) => boolean
  /** The readiness probe: true once the process serves. */
  ready(): Promise<boolean>
  /** Files or folders whose change restarts the process (as a watcher would, without one in the tree). */
  watch?: readonly string[]
  /**
   * Added to the environment of the first start only, and only while nothing in `watch`
   * changed since the supervisor began: what the caller prepared for this process just
   * before starting the supervisor still holds (mesh dev: its bundle, checked and built).
   * A restart, or a first start after a change, goes without.
   */
  firstStartEnv?: Env
}

export interface BackOff {
  /** The first restart's delay; each crash in a row doubles it. */
  baseMs: number
  maxMs: number
  /** A crash this long after the previous restart starts over at baseMs (the kubelet: twice maxMs). */
  resetAfterMs?: number
}

export const LOCAL_BACKOFF: BackOff = { baseMs: 1_000, maxMs: 30_000 }

export interface SupervisorOptions {
  log: (line: string) => void
  backOff?: BackOff
  /** How often a starting process is probed. */
  probeIntervalMs?: number
  /** How many of a process's last output lines a start-up failure quotes. */
  tailLines?: number
}

/** A process exited before it was ever ready: what it last said is in the message. */
export class BootError extends Error {
  readonly code = 'ERR_PROCESS_BOOT'
  readonly processName: string
  readonly exit: string
  readonly tail: readonly string[]
  constructor(processName: string, exit: string, tail: readonly string[]) {
    super(
      `${processName} ${exit} before it was ready; its last output:\n${tail.map((l) => `  ${l}`).join('\n') || '  (nothing)'}`,
    )
    this.processName = processName
    this.exit = exit
    this.tail = tail
  }
}

export interface SupervisorEvents {
  /** Every time a process passes its readiness probe (again, after a restart). */
  ready: [name: string, restarts: number]
  /** A process exited on its own. */
  exit: [name: string, exit: string]
  /** A restart is scheduled after `delayMs`. */
  restart: [name: string, delayMs: number, reason: 'crash' | 'change']
}

export interface Supervisor {
  readonly events: EventEmitter<SupervisorEvents>
  /** Resolves once every process was ready; rejects with a BootError, on timeout or abort (processes stay up: stop them). */
  ready(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>
  /** The process group (leader pid) running `name` now, if any. */
  pidOf(name: string): number | undefined
  /** Writes a line to the stdin of the process running `name` now; false when none runs. */
  send(name: string, line: string): boolean
  stop(graceMs?: number): Promise<void>
}

const describeExit = (code: number | null, signal: NodeJS.Signals | null) =>
  signal ? `was killed by ${signal}` : `exited with code ${code}`

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

const killGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // the group is gone
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function startSupervisor(specs: readonly ProcessSpec[], options: SupervisorOptions): Supervisor {
  const backOff = options.backOff ?? LOCAL_BACKOFF
  const probeIntervalMs = options.probeIntervalMs ?? 250
  const tailLines = options.tailLines ?? 20
  const events = new EventEmitter<SupervisorEvents>()
  // One listener per process waiting for another's readiness, besides ready()'s own.
  events.setMaxListeners(specs.length * 4 + 10)
  const log = (line: string) => options.log(`${'mesh'.padEnd(16)} | ${line}`)
  let stopping = false
  let failure: BootError | null = null
  const failed = new Set<(error: BootError) => void>()

  const processes = specs.map((spec, index) => {
    const state = {
      spec,
      child: null as ChildProcess | null,
      tail: [] as string[],
      everReady: false,
      crashes: 0,
      startedAt: 0,
      timer: undefined as NodeJS.Timeout | undefined,
      watchers: [] as FSWatcher[],
      restartingForChange: false,
      starts: 0,
      /** Something it watches changed since the supervisor began. */
      changed: false,
    }

    const remember = (line: string) => {
      options.log(line)
      state.tail.push(line)
      if (state.tail.length > tailLines) state.tail.shift()
    }

    const probe = async (child: ChildProcess) => {
      while (!stopping && state.child === child && child.exitCode === null && child.signalCode === null) {
        if (await spec.ready().catch(() => false)) {
          if (state.child !== child || stopping) return
          state.everReady = true
          if (state.crashes > 0 || state.restartingForChange) log(`${spec.name} is ready again`)
          state.restartingForChange = false
          events.emit('ready', spec.name, state.crashes)
          return
        }
        await sleep(probeIntervalMs)
      }
    }

    const start = () => {
      if (stopping) return
      state.tail = []
      state.startedAt = Date.now()
      const first = state.starts++ === 0 && !state.changed
      const env = typeof spec.env === 'function' ? spec.env() : spec.env
      // Its own process group: stopping it reaches every process it started.
      const child = spawn('sh', ['-c', typeof spec.command === 'function' ? spec.command() : spec.command], {
        cwd: spec.cwd,
        env: first && spec.firstStartEnv ? { ...env, ...spec.firstStartEnv } : env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      state.child = child
      // A child that exits without reading its stdin must not crash the supervisor with EPIPE.
      child.stdin?.on('error', () => {})
      const consumed = (line: string) => spec.onLine?.(line) === true
      if (child.stdout) prefixLines(spec.name, index, child.stdout, remember, consumed)
      if (child.stderr) prefixLines(spec.name, index, child.stderr, remember, consumed)
      child.on('error', (error) => remember(`${spec.name}: ${error.message}`))
      child.on('exit', (code, signal) => void onExit(child, describeExit(code, signal)))
      void probe(child)
    }

    const onExit = async (child: ChildProcess, exit: string) => {
      if (stopping || state.child !== child) return
      // Whatever the leader did, nothing of its group may outlive it (a port, a grandchild).
      if (child.pid !== undefined) await killGroupAndWait(child.pid)
      if (stopping || state.child !== child) return
      state.child = null
      events.emit('exit', spec.name, exit)
      if (!state.everReady) {
        // Let the output pipes drain so the error quotes the last lines.
        setTimeout(() => fail(new BootError(spec.name, exit, state.tail)), 50)
        return
      }
      // As the kubelet: a process that ran well for twice the cap starts over at the base delay.
      if (Date.now() - state.startedAt > (backOff.resetAfterMs ?? 2 * backOff.maxMs)) state.crashes = 0
      const delayMs = Math.min(backOff.maxMs, backOff.baseMs * 2 ** state.crashes)
      state.crashes++
      log(
        `${spec.name} ${exit}; restarting in ${(delayMs / 1000).toFixed(1)} s (back-off, crash ${state.crashes} in a row)`,
      )
      events.emit('restart', spec.name, delayMs, 'crash')
      state.timer = setTimeout(start, delayMs)
    }

    const restartForChange = async (file: string) => {
      // Not started yet (waiting for those it comes after): its first start runs the change.
      if (stopping || state.restartingForChange || state.starts === 0) return
      state.restartingForChange = true
      clearTimeout(state.timer)
      log(`${file} changed; restarting ${spec.name}`)
      events.emit('restart', spec.name, 0, 'change')
      const child = state.child
      state.child = null
      if (child) await stopGroup(child, 5_000)
      state.crashes = 0
      start()
    }

    const watchFiles = () => {
      let debounce: NodeJS.Timeout | undefined
      for (const path of spec.watch ?? []) {
        try {
          const watcher = watch(path, { recursive: true }, (_event, file) => {
            state.changed = true
            clearTimeout(debounce)
            debounce = setTimeout(() => void restartForChange(file ? String(file) : path), 200)
          })
          watcher.on('error', () => watcher.close())
          state.watchers.push(watcher)
        } catch {
          // a path that does not exist has nothing to watch
        }
      }
    }

    return { state, start, watchFiles }
  })

  function fail(error: BootError) {
    if (stopping || failure) return
    failure = error
    for (const reject of failed) reject(error)
  }

  async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
    const pid = child.pid
    if (pid === undefined) return
    killGroup(pid, 'SIGTERM')
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline && groupAlive(pid)) await sleep(50)
    await killGroupAndWait(pid)
  }

  /** SIGKILL to the group, then wait until it is gone: a killed process holds its ports until then. */
  async function killGroupAndWait(pid: number): Promise<void> {
    killGroup(pid, 'SIGKILL')
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline && groupAlive(pid)) await sleep(20)
  }

  const readyOnce = (name: string) =>
    new Promise<void>((resolve) => {
      if (processes.find((p) => p.state.spec.name === name)?.state.everReady) return resolve()
      const onReady = (ready: string) => {
        if (ready !== name) return
        events.off('ready', onReady)
        resolve()
      }
      events.on('ready', onReady)
    })
  // Stopping waits along stopsAfter: every name known, and no process waiting on itself.
  const stopOrder = (name: string, path: string[]): void => {
    if (path.includes(name)) throw new Error(`stopsAfter makes a cycle: ${[...path, name].join(' → ')}`)
    const spec = specs.find((s) => s.name === name)
    if (!spec) throw new Error(`${path.at(-1)} stops after unknown ${name}`)
    for (const next of spec.stopsAfter ?? []) stopOrder(next, [...path, name])
  }
  for (const spec of specs) stopOrder(spec.name, [])
  for (const p of processes) {
    const unknown = (p.state.spec.after ?? []).filter((name) => !specs.some((s) => s.name === name))
    if (unknown.length > 0) throw new Error(`${p.state.spec.name} comes after unknown ${unknown.join(', ')}`)
  }
  // Every watcher before any start: a change from here on is seen (and voids firstStartEnv).
  for (const p of processes) p.watchFiles()
  for (const p of processes) {
    const after = p.state.spec.after ?? []
    if (after.length === 0) p.start()
    else void Promise.all(after.map(readyOnce)).then(() => p.start())
  }

  return {
    events,
    pidOf: (name) => processes.find((p) => p.state.spec.name === name)?.state.child?.pid,
    send(name, line) {
      const stdin = processes.find((p) => p.state.spec.name === name)?.state.child?.stdin
      if (!stdin || stdin.destroyed) return false
      stdin.write(`${line}\n`)
      return true
    },
    ready({ timeoutMs, signal }) {
      return new Promise<void>((resolve, reject) => {
        if (failure) return reject(failure)
        const pending = new Set(processes.filter((p) => !p.state.everReady).map((p) => p.state.spec.name))
        if (pending.size === 0) return resolve()
        const done = () => {
          clearTimeout(timer)
          events.off('ready', onReady)
          failed.delete(onFail)
          signal?.removeEventListener('abort', onAbort)
        }
        const onReady = (name: string) => {
          pending.delete(name)
          if (pending.size === 0) {
            done()
            resolve()
          }
        }
        const onFail = (error: BootError) => {
          done()
          reject(error)
        }
        const onAbort = () => {
          done()
          reject(signal?.reason ?? new Error('aborted'))
        }
        const timer = setTimeout(() => {
          done()
          reject(
            new Error(
              `not ready after ${timeoutMs / 1000} s: ${[...pending].join(', ')} (see its log above)`,
            ),
          )
        }, timeoutMs)
        events.on('ready', onReady)
        failed.add(onFail)
        if (signal?.aborted) onAbort()
        else signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    async stop(graceMs = 10_000) {
      stopping = true
      for (const { state } of processes) {
        clearTimeout(state.timer)
        for (const watcher of state.watchers) watcher.close()
      }
      // Each group gets the grace period from when its turn comes, bounded by twice the
      // period overall (an app draining for the whole of it still leaves its sidecar time).
      const deadline = Date.now() + 2 * graceMs
      const stopped = new Map<string, Promise<void>>()
      const stopOne = (p: (typeof processes)[number]): Promise<void> => {
        const name = p.state.spec.name
        let done = stopped.get(name)
        if (!done) {
          const first = processes.filter((q) => p.state.spec.stopsAfter?.includes(q.state.spec.name))
          done = Promise.all(first.map(stopOne)).then(() => {
            const child = p.state.child
            return child
              ? stopGroup(child, Math.min(graceMs, Math.max(deadline - Date.now(), 1_000)))
              : undefined
          })
          stopped.set(name, done)
        }
        return done
      }
      await Promise.all(processes.map(stopOne))
    },
  }
}
