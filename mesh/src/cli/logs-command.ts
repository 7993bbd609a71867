// `mesh logs`: the proxies' access logs (<mesh-dir>/logs/<workload>.log,
// Istio's default text format), each line prefixed with its workload, as
// `kubectl logs <pod> -c istio-proxy` shows them. --denied keeps the calls the
// mesh refused: an AuthorizationPolicy's 403 (`rbac_access_denied_matched_policy[...]`)
// and a connection the NetworkPolicies dropped (the caller's `UF,URX` after its
// connect attempts timed out). --follow prints lines as they are written.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync, watch } from 'node:fs'
import { basename, join } from 'node:path'
import { isDenial, parseAccessLogLine } from '../console/access-log.ts'
import { UsageError } from './usage-error.ts'

export interface LogsArgs {
  meshDir: string
  workloads: string[]
  denied: boolean
  follow: boolean
}

/** An access-log line of a call the mesh refused, as the console tells them (console/access-log.ts). */
export function isDeniedLine(line: string): boolean {
  const entry = parseAccessLogLine(line, '')
  return entry !== null && isDenial(entry)
}

interface Tail {
  file: string
  workload: string
  offset: number
  partial: string
}

function readNew(tail: Tail, emit: (workload: string, line: string) => void): void {
  let size: number
  try {
    size = statSync(tail.file).size
  } catch {
    return
  }
  // Truncated or replaced (a new mesh): start over.
  if (size < tail.offset) tail.offset = 0
  if (size === tail.offset) return
  const fd = openSync(tail.file, 'r')
  try {
    const buffer = Buffer.alloc(size - tail.offset)
    const read = readSync(fd, buffer, 0, buffer.length, tail.offset)
    tail.offset += read
    const text = tail.partial + buffer.subarray(0, read).toString('utf8')
    const lines = text.split('\n')
    tail.partial = lines.pop() ?? ''
    for (const line of lines) if (line !== '') emit(tail.workload, line)
  } finally {
    closeSync(fd)
  }
}

export async function logsCommand(
  args: LogsArgs,
  out: (text: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const dir = join(args.meshDir, 'logs')
  if (!existsSync(dir) && !args.follow)
    throw new UsageError(`no access logs in ${dir}: start the mesh with pnpm dev (or mesh dev) first`)
  const wanted = (workload: string) => args.workloads.length === 0 || args.workloads.includes(workload)
  const width = Math.max(16, ...args.workloads.map((w) => w.length))
  const emit = (workload: string, line: string) => {
    if (args.denied && !isDeniedLine(line)) return
    out(`${workload.padEnd(width)} | ${line}\n`)
  }
  const tails = new Map<string, Tail>()
  const scan = () => {
    if (!existsSync(dir)) return
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.log')) continue
      const workload = basename(name, '.log')
      if (!wanted(workload) || tails.has(name)) continue
      tails.set(name, { file: join(dir, name), workload, offset: 0, partial: '' })
    }
  }
  scan()
  for (const tail of tails.values()) readNew(tail, emit)
  if (!args.follow) return

  await new Promise<void>((resolve) => {
    // The directory may not exist yet (the mesh is starting): poll for it, then watch it.
    const poll = setInterval(() => {
      scan()
      for (const tail of tails.values()) readNew(tail, emit)
    }, 1_000)
    let watcher: ReturnType<typeof watch> | null = null
    const startWatching = () => {
      if (watcher || !existsSync(dir)) return
      watcher = watch(dir, () => {
        scan()
        for (const tail of tails.values()) readNew(tail, emit)
      })
    }
    startWatching()
    const retry = setInterval(startWatching, 1_000)
    const stop = () => {
      clearInterval(poll)
      clearInterval(retry)
      watcher?.close()
      resolve()
    }
    if (signal?.aborted) return stop()
    signal?.addEventListener('abort', stop, { once: true })
  })
}
