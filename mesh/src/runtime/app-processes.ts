// Starts each workload's app from its workspace package (its `dev` script),
// with one readable log (a prefix per service), and stops every process it
// started, children included, when asked.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'

export interface AppSpec {
  name: string
  dir: string
  script: string
  env: Record<string, string>
}

export interface RunningApps {
  /** Resolves when any app exits on its own, with its name and exit code. */
  exited: Promise<{ name: string; code: number | null }>
  stop(graceMs?: number): Promise<void>
}

const COLORS = [36, 33, 35, 32, 34, 31, 96, 93]

/** The workspace package that builds a Deployment: services/<name> or <name>. */
export function packageDirFor(root: string, name: string): string | undefined {
  return [join(root, 'services', name), join(root, name)].find((dir) => existsSync(join(dir, 'package.json')))
}

export function devScriptOf(dir: string): string {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>
  }
  const script = pkg.scripts?.dev
  if (!script) throw new Error(`${dir}/package.json has no dev script`)
  return script
}

export function prefixLines(
  name: string,
  index: number,
  stream: NodeJS.ReadableStream,
  out: (line: string) => void,
): void {
  const color = COLORS[index % COLORS.length]
  const label = process.stdout.isTTY ? `\u001b[${color}m${name.padEnd(16)}\u001b[0m` : name.padEnd(16)
  createInterface({ input: stream }).on('line', (line) => out(`${label} | ${line}`))
}

export function startApps(
  specs: AppSpec[],
  options: { root: string; baseEnv: Record<string, string | undefined>; log: (line: string) => void },
): RunningApps {
  const children: Array<{ name: string; child: ChildProcess }> = []
  let onExit: (value: { name: string; code: number | null }) => void = () => {}
  const exited = new Promise<{ name: string; code: number | null }>((resolve) => {
    onExit = resolve
  })
  let stopping = false

  specs.forEach((spec, index) => {
    const path = [
      join(spec.dir, 'node_modules', '.bin'),
      join(options.root, 'node_modules', '.bin'),
      options.baseEnv.PATH ?? '',
    ].join(delimiter)
    // Its own process group, so stopping it reaches watchers and their children.
    const child = spawn('sh', ['-c', spec.script], {
      cwd: spec.dir,
      env: { ...options.baseEnv, ...spec.env, PATH: path },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push({ name: spec.name, child })
    if (child.stdout) prefixLines(spec.name, index, child.stdout, options.log)
    if (child.stderr) prefixLines(spec.name, index, child.stderr, options.log)
    child.on('exit', (code) => {
      if (!stopping) onExit({ name: spec.name, code })
    })
  })

  const signalAll = (signal: NodeJS.Signals) => {
    for (const { child } of children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue
      try {
        process.kill(-child.pid, signal)
      } catch {
        // already gone
      }
    }
  }

  return {
    exited,
    async stop(graceMs = 10_000) {
      stopping = true
      signalAll('SIGTERM')
      const deadline = Date.now() + graceMs
      while (
        Date.now() < deadline &&
        children.some(({ child }) => child.exitCode === null && child.signalCode === null)
      ) {
        await new Promise((r) => setTimeout(r, 100))
      }
      signalAll('SIGKILL')
      // Watchers (tsx, vite) may leave grandchildren in the group after the leader exits.
      const groups = children.flatMap(({ child }) => (child.pid === undefined ? [] : [child.pid]))
      const alive = (pid: number) => {
        try {
          process.kill(-pid, 0)
          return true
        } catch {
          return false // the group is empty
        }
      }
      for (const pid of groups.filter(alive)) {
        try {
          process.kill(-pid, 'SIGKILL')
        } catch {
          // gone meanwhile
        }
      }
      // A killed process still holds its ports for a moment: return once every group is gone.
      const killDeadline = Date.now() + 3_000
      while (Date.now() < killDeadline && groups.some(alive)) await new Promise((r) => setTimeout(r, 20))
    },
  }
}
