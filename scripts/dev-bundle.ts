// How `pnpm dev` starts fifteen Node processes quickly: each runs one esbuild
// bundle of its TypeScript entry point and everything it imports, instead of
// resolving, reading and type-stripping several hundred files of its own
// (an app's import took about 1.2 s of CPU that way, 0.2 s from a bundle;
// two cores pay that fifteen times at every start). A bundle is rebuilt only
// when one of the files it was built from changed: the files and their
// modification times are kept beside it. Type-checking stays with
// `pnpm typecheck`; `pnpm start` and the container images run tsc's output.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { dirname, relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Metafile, Plugin } from 'esbuild'
import { bundlePathOf, isFile } from './dev-bundle-path.ts'

/**
 * Packages left out of every bundle, loaded from node_modules as usual:
 * native addons, and those that find their own files next to themselves at
 * run time (pino starts its transports, pino-pretty included, from worker
 * files beside its own).
 */
const EXTERNAL = ['better-sqlite3', 'pg-native', 'pino', 'pino-pretty', 'thread-stream']

/**
 * Leaves the EXTERNAL packages out as imports of the file they resolve to from
 * the importing file: a workspace package's dependency is not visible from the
 * package that imports the workspace package (pnpm links only direct ones).
 */
const externalByPath: Plugin = {
  name: 'external-by-path',
  setup(build) {
    const names = EXTERNAL.map((name) => name.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|')
    build.onResolve({ filter: new RegExp(`^(${names})(/.*)?$`) }, async (args) => {
      if (args.pluginData === 'external-by-path') return undefined
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'external-by-path',
      })
      // Not installed (pg's optional pg-native): left as it was, to fail at run time as pg expects.
      return { path: resolved.errors.length > 0 ? args.path : resolved.path, external: true }
    })
  },
}

/**
 * Node's own modules as CommonJS requires, also where the sources import them:
 * Node builds an ES module view of a built-in by reading every export, and
 * node:http's include WebSocket and EventSource, whose getters load Node's
 * whole bundled undici (about 90 ms of CPU per process for nothing).
 */
const builtinsAsRequire: Plugin = {
  name: 'builtins-as-require',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      isBuiltin(args.path) && (args.kind === 'import-statement' || args.kind === 'dynamic-import')
        ? { path: args.path, namespace: 'node-builtin' }
        : undefined,
    )
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)})`,
      loader: 'js',
    }))
  },
}

/**
 * `import.meta.url` in the workspace's own sources keeps naming the source file
 * (the mesh finds the repository and the console's pages from it), not the bundle.
 */
const sourceUrls: Plugin = {
  name: 'source-urls',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes('import.meta.url')) return undefined
      return {
        contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: 'ts',
      }
    })
  },
}

/** Changing how bundles are made changes this, so older bundles count as stale. */
const RECIPE = JSON.stringify({ external: EXTERNAL, conditions: ['development'], target: 'node24', v: 6 })

interface Stamp {
  recipe: string
  /** Every file the bundle was made from (absolute), with its modification time then. */
  inputs: Record<string, number>
}

const stampPathOf = (bundle: string) => `${bundle}.inputs.json`

/**
 * True when the bundle exists and no file it was made from changed since. `mtimes`
 * remembers what was read for the next entry checked: bundles share most of their
 * files (eight of them in mesh dev, about 1,400 files each), each is read once.
 */
export function isFresh(entry: string, mtimes = new Map<string, number | undefined>()): boolean {
  const bundle = bundlePathOf(entry)
  let stamp: Stamp
  try {
    stamp = JSON.parse(readFileSync(stampPathOf(bundle), 'utf8')) as Stamp
  } catch {
    return false
  }
  if (stamp.recipe !== RECIPE || !isFile(bundle)) return false
  for (const [file, mtimeMs] of Object.entries(stamp.inputs)) {
    if (!mtimes.has(file)) mtimes.set(file, statSync(file, { throwIfNoEntry: false })?.mtimeMs)
    if (mtimes.get(file) !== mtimeMs) return false
  }
  return true
}

/**
 * Builds the bundles of the entries that are stale, all in one esbuild run (the
 * dependencies they share are read once). Each bundle and its stamp are written
 * to a temporary name and renamed, so a process starting meanwhile (or another
 * build of the same entry) never reads half a file. Resolves to the entries (as
 * absolute paths) whose bundle is now known to hold their sources as they are:
 * all of them, but for a bundle one of whose files was touched while it was built.
 */
export async function ensureBundles(entries: string[]): Promise<string[]> {
  const all = [...new Set(entries.map((e) => resolve(e)))]
  const mtimes = new Map<string, number | undefined>()
  const stale = all.filter((e) => !isFresh(e, mtimes))
  if (stale.length === 0) return all
  const touched = new Set<string>()
  const startedAt = Date.now()
  // Loaded only to build: a start with every bundle fresh does not pay for it.
  const { build } = await import('esbuild')
  const result = await build({
    // Each bundle is named by its path from the file system's root, so it and its
    // source map land where bundlePathOf says and the map's paths resolve from there.
    entryPoints: stale.map((entry) => ({ in: entry, out: bundlePathOf(entry).slice(1, -'.mjs'.length) })),
    outdir: '/',
    outExtension: { '.js': '.mjs' },
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // The workspace packages' `development` export points at their TypeScript sources.
    conditions: ['development'],
    plugins: [externalByPath, builtinsAsRequire, sourceUrls],
    // CommonJS dependencies call require() for Node's own modules: give the bundle one.
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);",
    },
    // Without the comments esbuild keeps: a few of them (undici's, in curly quotes,
    // and a licence banner naming its author) are not ASCII, which made Node decode
    // each 5 MB bundle as UTF-8 into a two-byte string, in every process at every
    // start. These bundles stay on this machine; the licences stay in node_modules.
    // Names stay as written, for stack traces without the maps.
    minifyWhitespace: true,
    legalComments: 'none',
    // For stack traces that name the TypeScript sources, under NODE_OPTIONS=--enable-source-maps.
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
  })
  const metafile = result.metafile as Metafile
  for (const entry of stale) {
    const bundle = bundlePathOf(entry)
    const meta = metafile.outputs[relative(process.cwd(), bundle)]
    const files = result.outputFiles.filter((f) => f.path === bundle || f.path === `${bundle}.map`)
    if (!meta || files.length !== 2) throw new Error(`esbuild produced no bundle for ${entry}`)
    const inputs: Record<string, number> = {}
    // Files only: the built-ins' stand-ins (node-builtin:...) are made up here.
    for (const input of Object.keys(meta.inputs).filter((i) => !i.startsWith('node-builtin:'))) {
      const file = resolve(input)
      const { mtimeMs } = statSync(file)
      // Touched while the build ran: what was read may be older, so the next start rebuilds.
      inputs[file] = mtimeMs >= startedAt ? 0 : mtimeMs
      if (mtimeMs >= startedAt) touched.add(entry)
    }
    mkdirSync(dirname(bundle), { recursive: true })
    // The map first, the stamp last: a bundle counts as fresh only once all three are in place.
    for (const file of [...files].sort((a) => (a.path.endsWith('.map') ? -1 : 1)))
      writeAtomically(file.path, file.contents)
    writeAtomically(stampPathOf(bundle), JSON.stringify({ recipe: RECIPE, inputs } satisfies Stamp))
  }
  return all.filter((entry) => !touched.has(entry))
}

function writeAtomically(path: string, contents: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, contents)
  renameSync(tmp, path)
}
