// `node scripts/vite-build-when-changed.ts <package> <outDir>`: `pnpm dev`'s
// builds of the browser pages (the frontend's client, the mesh console): runs
// `vite build` into <package>/<outDir> only when something it is built from
// changed since the last build, so a start with nothing changed does not pay
// for a build (it was most of the frontend's start-up time). The inputs' names,
// sizes and modification times are kept beside the build; a missing, added or
// touched file means a rebuild.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const WORKSPACE = fileURLToPath(new URL('..', import.meta.url))
/** What a page is made of: its sources and config, and the installed dependencies (the lockfile). */
const INPUTS = ['src', 'index.html', 'vite.config.ts', 'package.json']

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => filesUnder(join(path, entry.name)))
}

function fingerprint(pkg: string): string {
  const hash = createHash('sha256')
  const files = [...INPUTS.map((input) => join(pkg, input)), join(WORKSPACE, 'pnpm-lock.yaml')]
  for (const file of files.flatMap(filesUnder)) {
    const { size, mtimeMs } = statSync(file)
    hash.update(`${relative(pkg, file)}\0${size}\0${mtimeMs}\n`)
  }
  return hash.digest('hex')
}

const [pkgArg, outDir] = process.argv.slice(2)
if (!pkgArg || !outDir) {
  process.stderr.write('usage: node scripts/vite-build-when-changed.ts <package> <outDir>\n')
  process.exit(2)
}
const pkg = resolve(pkgArg)
const stamp = join(pkg, outDir, '.build-inputs')
const current = fingerprint(pkg)
const built = existsSync(stamp) ? readFileSync(stamp, 'utf8') : null
if (built !== current || !existsSync(join(pkg, outDir, 'index.html'))) {
  const vite = spawnSync(
    join(pkg, 'node_modules/.bin/vite'),
    ['build', '--logLevel', 'warn', '--outDir', outDir],
    {
      cwd: pkg,
      stdio: 'inherit',
    },
  )
  if (vite.status !== 0) process.exit(vite.status ?? 1)
  writeFileSync(stamp, current)
}
