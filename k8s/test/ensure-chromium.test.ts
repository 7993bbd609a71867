// `make test` on a fresh machine: scripts/ensure-chromium.sh installs Debian's
// chromium for the browser tests when it is missing and this user may (root,
// or sudo without a password), and otherwise stops at once with one line
// saying what to install. Run with stand-in id, sudo, apt-get and pnpm as the
// only commands on PATH, so nothing is installed for real.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))
let work: string
let counter = 0

const stub = (body: string) => `#!/bin/bash\nprintf '%s\\n' "\${0##*/} $*" >> "$STAND_IN_LOG"\n${body}\n`
const STUBS = {
  id: 'echo "$STAND_IN_UID"',
  // sudo -n: only with a password-less rule (STAND_IN_SUDO=nopasswd); it then runs the command.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  sudo: '[ "$STAND_IN_SUDO" = nopasswd ] || exit 1\n[ "$1" = -n ] && shift\ncase "${1:-true}" in true) exit 0 ;; esac\nexec "$@"',
  // Installs only as root; with STAND_IN_APT=stale only after an update.
  'apt-get': [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    '[ "${STAND_IN_AS_ROOT:-$STAND_IN_UID}" = 0 ] || exit 100',
    'case "$STAND_IN_APT" in broken) exit 100 ;; esac',
    'if [ "$1" = update ]; then : > "$STAND_IN_UPDATED"; exit 0; fi',
    'if [ "$STAND_IN_APT" = stale ] && [ ! -e "$STAND_IN_UPDATED" ]; then exit 100; fi',
    ': > "$CHROMIUM_PATH"; /bin/chmod +x "$CHROMIUM_PATH"',
  ].join('\n'),
  pnpm: 'exit 0',
}

interface Result {
  status: number | null
  stderr: string
  calls: string[]
}

function ensure(env: Record<string, string>, { withApt = true, target = 'script' } = {}): Result {
  const dir = join(work, String(counter++))
  const bin = join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  symlinkSync('/bin/bash', join(bin, 'bash'))
  for (const [name, body] of Object.entries(STUBS)) {
    if (name === 'apt-get' && !withApt) continue
    // sudo runs apt-get as root.
    const text = name === 'sudo' ? stub(`export STAND_IN_AS_ROOT=0\n${body}`) : stub(body)
    writeFileSync(join(bin, name), text)
    chmodSync(join(bin, name), 0o755)
  }
  const log = join(dir, 'calls')
  writeFileSync(log, '')
  const options = {
    encoding: 'utf8' as const,
    // No socket on stdin: bash would take itself for a remote shell and read ~/.bashrc.
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: bin,
      HOME: dir,
      STAND_IN_LOG: log,
      STAND_IN_UPDATED: join(dir, 'updated'),
      STAND_IN_UID: '1000',
      STAND_IN_SUDO: 'none',
      STAND_IN_APT: 'works',
      CHROMIUM_PATH: join(dir, 'chromium'),
      ...env,
    },
    timeout: 30_000,
  }
  const result =
    target === 'script'
      ? spawnSync('/bin/bash', [join(root, 'scripts/ensure-chromium.sh')], options)
      : spawnSync('/usr/bin/make', ['--no-print-directory', '-C', root, target, 'ENV='], options)
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean)
  return { status: result.status, stderr: result.stderr, calls }
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ensure-chromium-'))
})
afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('scripts/ensure-chromium.sh', () => {
  it('does nothing when Chromium is there', () => {
    const chromium = join(work, 'present-chromium')
    writeFileSync(chromium, '')
    chmodSync(chromium, 0o755)
    const result = ensure({ CHROMIUM_PATH: chromium })
    expect(result.status).toBe(0)
    expect(result.calls).toEqual([])
  })

  it('installs Debian’s chromium as root', () => {
    const result = ensure({ STAND_IN_UID: '0' })
    expect(result.status).toBe(0)
    expect(result.calls).toContain('apt-get install -y -qq chromium')
    expect(result.stderr).toBe("make test: installing Debian's chromium for the browser tests\n")
  })

  it('updates the package lists once when they are stale, then installs', () => {
    const result = ensure({ STAND_IN_UID: '0', STAND_IN_APT: 'stale' })
    expect(result.status).toBe(0)
    expect(result.calls.filter((c) => c.startsWith('apt-get'))).toEqual([
      'apt-get install -y -qq chromium',
      'apt-get update -qq',
      'apt-get install -y -qq chromium',
    ])
  })

  it('installs with sudo when it needs no password', () => {
    const result = ensure({ STAND_IN_SUDO: 'nopasswd' })
    expect(result.status).toBe(0)
    expect(result.calls).toContain('sudo -n apt-get install -y -qq chromium')
  })

  it.each([
    ['a user who may not install', {}, true],
    ['a machine without apt-get', { STAND_IN_UID: '0' }, false],
    ['an install that fails', { STAND_IN_UID: '0', STAND_IN_APT: 'broken' }, true],
  ])('stops with one line saying what to install for %s', (_case, env, withApt) => {
    const result = ensure(env, { withApt })
    expect(result.status).toBe(1)
    expect(result.stderr.split('\n').filter((l) => !l.startsWith('make test: installing'))).toEqual([
      expect.stringMatching(
        /^make test: the browser tests need Chromium at .*: sudo apt-get install chromium, or point CHROMIUM_PATH at a Chromium$/,
      ),
      '',
    ])
  })
})

describe('make test', () => {
  it('checks for Chromium before anything else and stops there when it cannot be had', () => {
    const result = ensure({}, { target: 'test' })
    expect(result.status).not.toBe(0)
    expect(result.stderr).toMatch(/^make test: the browser tests need Chromium at /)
    expect(result.calls.filter((c) => c.startsWith('pnpm'))).toEqual([])
  })

  it('goes on to install and test once Chromium is there', () => {
    const result = ensure({ STAND_IN_UID: '0' }, { target: 'test' })
    expect(result.status).toBe(0)
    expect(result.calls.filter((c) => !c.startsWith('id'))).toEqual([
      'apt-get install -y -qq chromium',
      'pnpm install --frozen-lockfile --prefer-offline',
      'pnpm test',
    ])
    expect(existsSync(join(work, String(counter - 1), 'chromium'))).toBe(true)
  })
})
