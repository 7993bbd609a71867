// How a workload's app is run from its workspace package under `pnpm dev`:
// its `start:dev` script (the app once, no watcher of its own: the supervisor
// restarts it when one of its files changes), the folders to watch, and one
// readable log with a prefix per process.
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const COLORS = [36, 33, 35, 32, 34, 31, 96, 93]
/** The folders of a package its running code is read from. */
const SOURCE_FOLDERS = ['src', 'server', 'index.html']

interface PackageJson {
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
}

const readPackage = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson

/** The workspace package that builds a Deployment: services/<name> or <name>. */
export function packageDirFor(root: string, name: string): string | undefined {
  return [join(root, 'services', name), join(root, name)].find((dir) => existsSync(join(dir, 'package.json')))
}

/** The script that runs the app once, in the foreground, for the supervisor. */
export function supervisedScriptOf(dir: string): string {
  const script = readPackage(dir).scripts?.['start:dev']
  if (!script)
    throw new Error(`${dir}/package.json has no start:dev script (the app once, without a watcher)`)
  return script
}

/** The runner every process under `pnpm dev` starts from (its bundle, built when stale). */
export const DEV_RUN = 'scripts/dev-run.ts'

/** The entry point a start:dev script runs through scripts/dev-run.ts (none when it runs something else). */
export function devEntryOf(dir: string, script: string): string[] {
  const entry = /dev-run\.ts\s+(\S+)/.exec(script)?.[1]
  return entry ? [resolve(dir, entry)] : []
}

/**
 * Builds the stale bundles of these entry points in one esbuild run; resolves to the
 * entries whose bundle is now fresh (a file touched during the build leaves its entry
 * out). scripts/dev-bundle.ts is the workspace's, shared with the apps' runner, and
 * imported by its path: it is not part of the mesh package that tsc compiles for the
 * container image (where nothing runs from bundles).
 */
export async function buildDevBundles(root: string, entries: string[]): Promise<string[]> {
  const { ensureBundles } = (await import(pathToFileURL(join(root, 'scripts/dev-bundle.ts')).href)) as {
    ensureBundles(entries: string[]): Promise<string[]>
  }
  return ensureBundles(entries)
}

/**
 * What tells scripts/dev-run.ts that its entry's bundle was checked just before its
 * start (ProcessSpec.firstStartEnv), so it does not check again.
 */
export function freshBundleEnv(fresh: readonly string[], entry: string | undefined) {
  return entry !== undefined && fresh.includes(entry) ? { DEV_BUNDLE_FRESH: entry } : undefined
}

/** The source folders of the package and of the workspace packages it depends on. */
export function watchPathsOf(dir: string): string[] {
  const dirs = [dir]
  for (const [name, version] of Object.entries(readPackage(dir).dependencies ?? {})) {
    if (!version.startsWith('workspace:')) continue
    const linked = join(dir, 'node_modules', name)
    if (existsSync(linked)) dirs.push(realpathSync(linked))
  }
  return dirs.flatMap((d) => SOURCE_FOLDERS.map((f) => join(d, f)).filter((p) => existsSync(p)))
}

export function prefixLines(
  name: string,
  index: number,
  stream: NodeJS.ReadableStream,
  out: (line: string) => void,
  /** True for a line that is a report to the supervisor, not for the log. */
  consumed: (line: string) => boolean = () => false,
): void {
  const color = COLORS[index % COLORS.length]
  const label = process.stdout.isTTY ? `\u001b[${color}m${name.padEnd(16)}\u001b[0m` : name.padEnd(16)
  createInterface({ input: stream }).on('line', (line) => {
    if (!consumed(line)) out(`${label} | ${line}`)
  })
}
