// Durations on the command line and in the environment, as Go and kubectl
// write them: 500ms, 30s, 5m, 1h (one unit).
import { UsageError } from './usage-error.ts'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

export function parseDuration(value: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim())
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] as string] as number) : Number.NaN
  if (!Number.isFinite(ms) || ms <= 0)
    throw new UsageError(`${what} ${value}: expected a duration such as 500ms, 30s, 5m or 1h`)
  return ms
}
