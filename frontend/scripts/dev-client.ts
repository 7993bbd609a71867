// `pnpm dev`'s client build: runs `vite build` into dist/dev-client only when
// something it is built from changed since the last build, so a start with
// nothing changed does not pay for a build (it was most of the frontend's
// start-up time). The inputs' names, sizes and modification times are kept
// beside the build; a missing, added or touched file means a rebuild.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const FRONTEND = fileURLToPath(new URL('..', import.meta.url))
const OUT_DIR = 'dist/dev-client'
const STAMP = join(FRONTEND, OUT_DIR, '.build-inputs')
/** What the client bundle is made of: its sources and config, and the installed dependencies (the lockfile). */
const INPUTS = ['src', 'index.html', 'vite.config.ts', 'package.json', '../pnpm-lock.yaml']

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => filesUnder(join(path, entry.name)))
}

function fingerprint(): string {
  const hash = createHash('sha256')
  for (const file of INPUTS.flatMap((input) => filesUnder(join(FRONTEND, input)))) {
    const { size, mtimeMs } = statSync(file)
    hash.update(`${relative(FRONTEND, file)}\0${size}\0${mtimeMs}\n`)
  }
  return hash.digest('hex')
}

const current = fingerprint()
const built = existsSync(STAMP) ? readFileSync(STAMP, 'utf8') : null
if (built !== current || !existsSync(join(FRONTEND, OUT_DIR, 'index.html'))) {
  const vite = spawnSync(
    join(FRONTEND, 'node_modules/.bin/vite'),
    ['build', '--logLevel', 'warn', '--outDir', OUT_DIR],
    {
      cwd: FRONTEND,
      stdio: 'inherit',
    },
  )
  if (vite.status !== 0) process.exit(vite.status ?? 1)
  writeFileSync(STAMP, current)
}
