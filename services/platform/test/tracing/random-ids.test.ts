// Trace and span ids come from a pooled buffer: they must still be fresh
// random hex of the asked length, never a byte handed out twice.
import { describe, expect, it } from 'vitest'
import { randomHex } from '../../src/tracing/random-ids.ts'
import { childTraceparent, continueTrace } from '../../src/tracing/trace-context.ts'

describe('random ids', () => {
  it('are hex of the asked length and never repeat, across many refills of the pool', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => randomHex(i % 2 === 0 ? 8 : 16))
    for (const [i, id] of ids.entries()) expect(id).toMatch(i % 2 === 0 ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{32}$/)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('give each new trace and each call its own ids', () => {
    const traces = Array.from({ length: 1000 }, () => continueTrace(undefined))
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(1000)
    expect(new Set(traces.map((t) => t.spanId)).size).toBe(1000)
    const parent = continueTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
    expect(parent.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    const children = new Set(Array.from({ length: 1000 }, () => childTraceparent(parent)))
    expect(children.size).toBe(1000)
    for (const c of children) expect(c).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
  })

  it('refuses more than one pool at a time', () => {
    expect(() => randomHex(4097)).toThrow(RangeError)
  })
})
