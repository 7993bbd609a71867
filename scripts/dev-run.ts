// `node scripts/dev-run.ts <entry.ts> [args...]`: runs a TypeScript entry point
// as `pnpm dev` runs every process, from its bundle (dev-bundle.ts), built
// first when one of its sources changed. The entry sees its own path as
// process.argv[1] and the arguments after it, as if Node had run it directly.
import { enableCompileCache } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { bundlePathOf } from './dev-bundle-path.ts'

const [entry, ...args] = process.argv.slice(2)
if (!entry) {
  process.stderr.write('usage: node scripts/dev-run.ts <entry.ts> [args...]\n')
  process.exit(2)
}
// mesh dev checked (and built) every bundle just before this first start, and says so by
// naming the entry: checking again here would stat its 1,400 files once more in each of
// sixteen processes. A restart, or any other runner, goes without and checks. Not passed on.
const checked = process.env.DEV_BUNDLE_FRESH === resolve(entry)
delete process.env.DEV_BUNDLE_FRESH
if (!checked) await (await import('./dev-bundle.ts')).ensureBundles([entry])
// V8 keeps the bundle's compiled code on disk (NODE_COMPILE_CACHE, or Node's default
// folder in the temporary directory) for the next start. Source maps stay off: Node
// parses a bundle's whole map at load (about a second of CPU per process here); with
// NODE_OPTIONS=--enable-source-maps stack traces name the TypeScript sources.
enableCompileCache()
process.argv = [process.argv[0] as string, resolve(entry), ...args]
await import(pathToFileURL(bundlePathOf(entry)).href)
