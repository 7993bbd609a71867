// `node scripts/vite-build-when-changed.ts <package> <outDir>`: `pnpm dev`'s
// builds of the browser pages (the frontend's client, the mesh console): runs
// `vite build` into <package>/<outDir> only when something it is built from
// changed since the last build, so a start with nothing changed does not pay
// for a build (it was most of the frontend's start-up time). The inputs' names,
// sizes and modification times are kept beside the build; a missing, added or
// touched file means a rebuild.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
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
const isBuilt = () =>
  existsSync(join(pkg, outDir, 'index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === current

// One build at a time: systems starting together would otherwise each empty and
// rebuild the folder another one serves. The others wait for the build and then
// find it done. The lock holds its builder's process id: a builder killed midway
// (Ctrl-C while a system starts, which the supervision tests do on purpose) leaves
// a lock nobody holds, and the next start takes it over at once instead of
// waiting for it to age.
// Beside the build (not in node_modules, which a copy of the package may share).
const lock = `${join(pkg, outDir)}.build.lock`

/** Whether process `pid` is alive (EPERM: it is, another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The process id the lock holds; 0 once it is released. */
function holderOf(): number {
  try {
    return Number(readFileSync(lock, 'utf8'))
  } catch {
    return 0
  }
}

mkdirSync(dirname(lock), { recursive: true })
// The lock appears with its holder's id already in it (a hard link to the
// holder's claim, written first), so nobody ever reads an empty one.
const claimOf = (pid: number) => `${join(pkg, outDir)}.${pid}.build.lock`
writeFileSync(claimOf(process.pid), String(process.pid))
let locked = false
while (!locked && !isBuilt()) {
  try {
    linkSync(claimOf(process.pid), lock)
    locked = true
  } catch {
    const holder = holderOf()
    if (!holder) continue // released meanwhile: claim it
    if (!alive(holder)) {
      rmSync(lock, { force: true })
      rmSync(claimOf(holder), { force: true })
    } else await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
rmSync(claimOf(process.pid), { force: true })
try {
  if (!isBuilt()) {
    const vite = spawnSync(
      join(pkg, 'node_modules/.bin/vite'),
      ['build', '--logLevel', 'warn', '--outDir', outDir],
      {
        cwd: pkg,
        stdio: 'inherit',
      },
    )
    if (vite.status !== 0) process.exitCode = vite.status ?? 1
    else {
      writeFileSync(stamp, current)
      process.stdout.write(`built ${join(pkgArg, outDir)}\n`)
    }
  }
} finally {
  if (locked) rmSync(lock, { force: true })
}
