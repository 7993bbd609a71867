// --svid-ttl, --restart-backoff and their MESH_* variables take Go-style durations.
import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/cli/parse-duration.ts'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
  ])('reads %s', (text, ms) => expect(parseDuration(text, '--svid-ttl')).toBe(ms))

  it.each(['', '1', '0s', '-1s', '1d', 'Infinityh', '1e309s', 'soon'])(
    'refuses %j with a usage error',
    (text) => expect(() => parseDuration(text, '--svid-ttl')).toThrow(/--svid-ttl .*expected a duration/),
  )
})
