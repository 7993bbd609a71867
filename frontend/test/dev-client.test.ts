// pnpm dev's client build (scripts/vite-build-when-changed.ts, from start:dev): built when missing or when
// an input changed, skipped when nothing did (issue 15: start-up time). Run on a copy of the
// frontend's sources: a running pnpm dev (or the e2e and browser suites beside this one in CI)
// watches the real ones and serves the real build, and must not see either change.
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../scripts/vite-build-when-changed.ts', import.meta.url))
const frontend = fileURLToPath(new URL('..', import.meta.url))
const copy = mkdtempSync(join(tmpdir(), 'dev-client-'))
for (const input of ['src', 'index.html', 'vite.config.ts', 'package.json'])
  cpSync(join(frontend, input), join(copy, input), { recursive: true })
symlinkSync(join(frontend, 'node_modules'), join(copy, 'node_modules'))
afterAll(() => rmSync(copy, { recursive: true, force: true }))

const builtPage = join(copy, 'dist/dev-client/index.html')
const aSource = join(copy, 'index.html')
const build = () => run(process.execPath, [script, copy, 'dist/dev-client'])
const builtAt = () => statSync(builtPage).mtimeMs

describe('the dev client build', () => {
  it('builds once, skips a start with nothing changed, and builds again after a source changed', async () => {
    await build()
    const first = builtAt()
    await build()
    expect(builtAt()).toBe(first)
    // A source saved again (its modification time moves): the next start rebuilds.
    const now = new Date()
    utimesSync(aSource, now, now)
    await build()
    expect(builtAt()).toBeGreaterThan(first)
  }, 120_000)

  it('builds once when two starts ask at the same time, and both find it built', async () => {
    rmSync(join(copy, 'dist'), { recursive: true, force: true })
    const both = await Promise.all([build(), build()])
    // The script says so when it builds: exactly one of the two did.
    expect(both.map((r) => r.stdout.includes('built ')).filter(Boolean)).toHaveLength(1)
    expect(statSync(builtPage).isFile()).toBe(true)
  }, 120_000)

  it('takes over at once the lock of a build killed midway (Ctrl-C while a system starts)', async () => {
    rmSync(join(copy, 'dist'), { recursive: true, force: true })
    const lock = join(copy, 'dist/dev-client.build.lock')
    const killed = spawn(process.execPath, [script, copy, 'dist/dev-client'], { stdio: 'ignore' })
    while (!(existsSync(lock) && readFileSync(lock, 'utf8') === String(killed.pid)))
      await new Promise((resolve) => setTimeout(resolve, 20))
    killed.kill('SIGKILL')
    await once(killed, 'exit')
    expect(existsSync(lock)).toBe(true)
    // The next start builds now; a lock taken as held would keep it waiting past the test's time.
    const next = await build()
    expect(next.stdout).toContain('built ')
    expect(statSync(builtPage).isFile()).toBe(true)
    expect(existsSync(lock)).toBe(false)
  }, 60_000)
})
