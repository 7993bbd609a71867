// pnpm dev's client build (scripts/vite-build-when-changed.ts, from start:dev): built when missing or when
// an input changed, skipped when nothing did (issue 15: start-up time).
import { execFile } from 'node:child_process'
import { statSync, utimesSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../scripts/vite-build-when-changed.ts', import.meta.url))
const frontend = fileURLToPath(new URL('..', import.meta.url))
const builtPage = fileURLToPath(new URL('../dist/dev-client/index.html', import.meta.url))
const aSource = fileURLToPath(new URL('../index.html', import.meta.url))
const build = () => run(process.execPath, [script, frontend, 'dist/dev-client'])
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
})
