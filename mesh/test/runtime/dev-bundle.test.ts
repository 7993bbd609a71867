// pnpm dev's bundles (scripts/dev-bundle.ts, scripts/dev-run.ts): a process runs
// the code as it is now (a changed source rebuilds its bundle), a start with
// nothing changed reuses the bundle, and the entry sees its own arguments and
// its own file as import.meta.url.
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'dev-bundle-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const pkg = join(dir, 'app')
const entry = join(pkg, 'src/server.ts')
const bundle = join(pkg, 'node_modules/.dev-bundle/server.mjs')
mkdirSync(join(pkg, 'src'), { recursive: true })
writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }))
writeFileSync(
  entry,
  [
    "import { greeting } from './greeting.ts'",
    'const name: string = process.argv.slice(2).join(" ")',
    // As the mesh finds the repository from its own sources.
    "const folder = new URL('.', import.meta.url).pathname",
    'console.log(JSON.stringify({ greeting, name, self: process.argv[1], folder }))',
  ].join('\n'),
)
let saves = 0
const setGreeting = (text: string) => {
  const file = join(pkg, 'src/greeting.ts')
  writeFileSync(file, `export const greeting: string = ${JSON.stringify(text)}\n`)
  // Each save a second after the last, whatever the file system's clock resolution, and in
  // the past: a file touched while its bundle builds is taken as changed again.
  saves += 1
  const later = new Date(Date.now() - 60_000 + saves * 1000)
  utimesSync(file, later, later)
}

const devRun = async (...args: string[]) => {
  const { stdout } = await run(process.execPath, [join(root, 'scripts/dev-run.ts'), entry, ...args], {
    cwd: pkg,
  })
  return JSON.parse(stdout) as { greeting: string; name: string; self: string; folder: string }
}

describe('the dev bundles', () => {
  it('runs the entry with its own arguments, rebuilding only after a source changed', async () => {
    setGreeting('hello')
    expect(await devRun('alice', 'smith')).toEqual({
      greeting: 'hello',
      name: 'alice smith',
      self: entry,
      folder: `${join(pkg, 'src')}/`,
    })
    const built = statSync(bundle).mtimeMs

    // Nothing changed: the same bundle runs.
    expect((await devRun('bob')).greeting).toBe('hello')
    expect(statSync(bundle).mtimeMs).toBe(built)

    // A dependency of the entry edited: the next start runs the new code.
    setGreeting('bonjour')
    expect(await devRun('carol')).toMatchObject({ greeting: 'bonjour', name: 'carol' })
    expect(statSync(bundle).mtimeMs).toBeGreaterThan(built)
  }, 60_000)

  // Node reads a bundle with one byte outside ASCII as a two-byte string: twice
  // the memory and a slower decode of megabytes in every process at every start.
  it('writes ASCII only, whatever the sources say in their strings and comments', async () => {
    writeFileSync(
      join(pkg, 'src/greeting.ts'),
      [
        '/*! A banner naming Jimmy Wärting, as a licence header would */',
        '// a comment with “curly quotes”',
        'export const greeting: string = "grüß dich"',
        '',
      ].join('\n'),
    )
    saves += 1
    const later = new Date(Date.now() - 60_000 + saves * 1000)
    utimesSync(join(pkg, 'src/greeting.ts'), later, later)
    expect((await devRun('dora')).greeting).toBe('grüß dich')
    const bytes = readFileSync(bundle)
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1)
  }, 60_000)
})
