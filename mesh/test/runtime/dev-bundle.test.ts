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
import { ensureBundles, isFresh } from '../../../scripts/dev-bundle.ts'

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
    'const told = process.env.DEV_BUNDLE_FRESH ?? null',
    'console.log(JSON.stringify({ greeting, name, self: process.argv[1], folder, told }))',
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

type Said = { greeting: string; name: string; self: string; folder: string; told: string | null }
const devRunWith = async (env: Record<string, string>, ...args: string[]) => {
  const { stdout } = await run(process.execPath, [join(root, 'scripts/dev-run.ts'), entry, ...args], {
    cwd: pkg,
    env: { ...process.env, ...env },
  })
  return JSON.parse(stdout) as Said
}
const devRun = (...args: string[]) => devRunWith({}, ...args)

describe('the dev bundles', () => {
  it('runs the entry with its own arguments, rebuilding only after a source changed', async () => {
    setGreeting('hello')
    expect(await devRun('alice', 'smith')).toEqual({
      greeting: 'hello',
      name: 'alice smith',
      self: entry,
      folder: `${join(pkg, 'src')}/`,
      told: null,
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

  // mesh dev checks every bundle, then starts each process with DEV_BUNDLE_FRESH naming its
  // entry, so sixteen processes do not each stat their 1,400 files again.
  it('skips its own check only when told its entry was just checked, and tells no one else', async () => {
    setGreeting('hola')
    expect((await devRun('erin')).greeting).toBe('hola')
    setGreeting('ciao')
    // Told: the bundle runs as it is, and the entry's own environment no longer says so.
    expect(await devRunWith({ DEV_BUNDLE_FRESH: entry }, 'frank')).toMatchObject({
      greeting: 'hola',
      told: null,
    })
    // Told about another entry: it checks, and runs the code as it is now.
    expect((await devRunWith({ DEV_BUNDLE_FRESH: join(pkg, 'src/other.ts') }, 'gina')).greeting).toBe('ciao')
  }, 60_000)

  it('reports a bundle fresh unless one of its files was touched while it was built', async () => {
    setGreeting('salut')
    expect(await ensureBundles([entry])).toEqual([entry])
    // A save that lands during the build (its time after the build began): not fresh, built again next time.
    const file = join(pkg, 'src/greeting.ts')
    writeFileSync(file, 'export const greeting: string = "moin"\n')
    const during = new Date(Date.now() + 60_000)
    utimesSync(file, during, during)
    expect(await ensureBundles([entry])).toEqual([])
    expect(isFresh(entry)).toBe(false)
    setGreeting('salve')
    expect(await ensureBundles([entry])).toEqual([entry])
    expect(isFresh(entry)).toBe(true)
  }, 60_000)

  // mesh dev checks eight bundles that share most of their files, each file read once.
  it('judges each bundle by its own record when bundles share a file', async () => {
    const other = join(pkg, 'src/other.ts')
    writeFileSync(other, "import { greeting } from './greeting.ts'\nconsole.log(greeting)\n")
    setGreeting('hej')
    expect(await ensureBundles([entry, other])).toEqual([entry, other])
    // Only the other one rebuilt after a change: the entry's bundle is stale, the other's fresh.
    setGreeting('hei')
    await ensureBundles([other])
    const otherBuilt = statSync(join(pkg, 'node_modules/.dev-bundle/other.mjs')).mtimeMs
    expect([isFresh(entry), isFresh(other)]).toEqual([false, true])
    expect(await ensureBundles([other, entry])).toEqual([other, entry])
    expect(statSync(join(pkg, 'node_modules/.dev-bundle/other.mjs')).mtimeMs).toBe(otherBuilt)
    expect((await devRun('hanna')).greeting).toBe('hei')
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
