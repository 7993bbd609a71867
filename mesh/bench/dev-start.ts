// pnpm bench, start-up: how long `pnpm dev` takes to say `ready:`, and what
// each of its processes spent on the way. Runs `mesh dev` as the root `dev`
// script does (scripts/dev-run.ts, the mesh's bundle), each time with a fresh
// mesh folder and database, and stops it with SIGINT:
// - "cold": as after `pnpm install`, with no bundle and an empty compile cache
//   (every bundle is built first);
// - "warm": the starts after that (bundles and compiled code kept).
// With `--ports fixed` (pnpm dev's own ports; the default when they are free)
// every process starts at once; `--ports free` (what the tests run) chains them
// (a sidecar starts once the control plane reported its port, an app once its
// sidecar is ready). Bounded: three warm starts, each given at most 3 minutes.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const WARM_RUNS = 3
/** pnpm dev's fixed ports: the gateway, the provider, the control plane, the console. */
const FIXED_PORTS = [8443, 9000, 15012, 20001]

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })

/** CPU seconds (user + system) so far of every live process whose environment names `dir`. */
function cpuOfProcessesUsing(dir: string): Array<{ name: string; cpu: number }> {
  const rows: Array<{ name: string; cpu: number }> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1')
      if (!environ.includes(dir)) continue
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      const fields = (readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1] ?? '').split(' ')
      const ticks = Number(fields[11]) + Number(fields[12])
      const workload = args[args.indexOf('--workload') + 1]
      const name = args.includes('sidecar')
        ? `${workload}-proxy`
        : (['control-plane', 'gateway', 'dev'].find((c) => args.includes(c)) ??
          environ.match(/\0MESH_APP=([^\0]+)/)?.[1] ??
          (environ.includes('OIDC_REDIRECT_URIS') ? 'oidc-provider' : args.slice(1, 3).join(' ')))
      rows.push({ name, cpu: ticks / 100 })
    } catch {
      // Gone meanwhile, or not ours.
    }
  }
  return rows
}

interface Start {
  readySeconds: number
  /** CPU seconds each process spent until ready (mesh dev itself as "dev"). */
  cpu: Array<{ name: string; cpu: number }>
}

async function startOnce(ports: 'fixed' | 'free', env: Record<string, string>): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), 'dev-start-'))
  const started = performance.now()
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'scripts/dev-run.ts'),
      join(ROOT, 'mesh/src/cli/main.ts'),
      'dev',
      '--ports',
      ports,
      '--mesh-dir',
      join(dir, 'mesh'),
      '--data-dir',
      join(dir, 'data'),
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The run's folder in every process's environment, to find them by.
      env: { ...process.env, LOG_LEVEL: 'warn', BENCH_RUN_DIR: dir, ...env },
    },
  )
  const exited = once(child, 'exit')
  const output: string[] = []
  try {
    const ready = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not ready within 3 minutes')), 180_000)
      for (const stream of [child.stdout, child.stderr])
        createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => {
          output.push(line)
          if (line.startsWith('ready: ')) {
            clearTimeout(timer)
            resolve(performance.now() - started)
          }
        })
      void exited.then(() =>
        reject(new Error(`mesh dev exited before ready:\n${output.slice(-20).join('\n')}`)),
      )
    })
    return { readySeconds: ready / 1000, cpu: cpuOfProcessesUsing(dir) }
  } finally {
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGINT')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Removes every dev bundle, as a fresh `pnpm install` leaves the workspace. */
function removeBundles(): void {
  for (const parent of ['', 'services', 'tests'])
    for (const entry of readdirSync(join(ROOT, parent), { withFileTypes: true })) {
      const bundles = join(ROOT, parent, entry.name, 'node_modules', '.dev-bundle')
      if (entry.isDirectory() && existsSync(bundles)) rmSync(bundles, { recursive: true, force: true })
    }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

const ports = (await Promise.all(FIXED_PORTS.map(isFree))).every(Boolean) ? 'fixed' : 'free'
console.log(
  `pnpm dev start-up (--ports ${ports}${ports === 'free' ? ': pnpm dev’s own ports are in use' : ''}), Node ${process.version}`,
)
const compileCache = mkdtempSync(join(tmpdir(), 'dev-start-compile-cache-'))
try {
  removeBundles()
  const cold = await startOnce(ports, { NODE_COMPILE_CACHE: compileCache })
  console.log(`cold (no bundles, empty compile cache): ready in ${cold.readySeconds.toFixed(2)} s`)
  const warm: Start[] = []
  for (let i = 0; i < WARM_RUNS; i++) {
    warm.push(await startOnce(ports, { NODE_COMPILE_CACHE: compileCache }))
    console.log(`warm ${i + 1}: ready in ${(warm.at(-1) as Start).readySeconds.toFixed(2)} s`)
  }
  console.log(`warm median: ${median(warm.map((w) => w.readySeconds)).toFixed(2)} s (target: 5 s)`)
  const last = warm.at(-1) as Start
  console.log('\nCPU seconds until ready, per process (last warm start):')
  for (const row of [...last.cpu].sort((a, b) => b.cpu - a.cpu))
    console.log(`  ${row.name.padEnd(24)} ${row.cpu.toFixed(2)}`)
  console.log(`  ${'total'.padEnd(24)} ${last.cpu.reduce((sum, row) => sum + row.cpu, 0).toFixed(2)}`)
} finally {
  rmSync(compileCache, { recursive: true, force: true })
}
