// Tests that need something this machine may lack (kubectl, psql, ShellCheck,
// a PostgreSQL server). Under CI a missing one fails the run, so a green CI
// never hides a check that did not run; elsewhere the skip says what was
// skipped and why, once, on stderr.
import { execFileSync } from 'node:child_process'

/** Whether `command --version`-style probing finds the tool on PATH. */
export function hasCommand(command: string, probe: string[] = ['--version']): boolean {
  try {
    execFileSync(command, probe, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * True when the requirement is met. When it is not: under CI (`CI` set) it
 * throws, failing the test file; otherwise it prints `skipped: <what> (<why>)`
 * and returns false, for `describe.skipIf(!requireFor(...))`.
 */
export function requireFor(
  what: string,
  met: boolean,
  why: string,
  env: Record<string, string | undefined> = process.env,
): boolean {
  if (met) return true
  if (env.CI)
    throw new Error(`CI needs ${why} for ${what}; it is missing, so the run fails instead of skipping`)
  process.stderr.write(`skipped: ${what} (${why} is missing)\n`)
  return false
}
