// Where scripts/dev-bundle.ts writes an entry point's bundle. Apart from it so that
// a process whose bundle was just checked for it (DEV_BUNDLE_FRESH, scripts/dev-run.ts)
// loads only this, not the freshness check and the build.
import { statSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'

/**
 * Where an entry point's bundle lives: in its package's node_modules (git-ignored;
 * the externals resolve from there).
 */
export function bundlePathOf(entry: string): string {
  const file = resolve(entry)
  let pkg = dirname(file)
  while (!isFile(join(pkg, 'package.json'))) {
    const up = dirname(pkg)
    if (up === pkg) throw new Error(`${entry} is not inside a package`)
    pkg = up
  }
  const [, ...below] = relative(pkg, dirname(file)).split(/[\\/]/)
  return join(pkg, 'node_modules', '.dev-bundle', ...below, `${basename(file, '.ts')}.mjs`)
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
