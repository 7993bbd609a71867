// A fuzz of public-key validation whose inputs get past the early checks:
// mostly well-formed OKP keys on the right curve, with x drawn from 43
// base64url characters (often non-canonical), random points and the known
// weak ones. Every refusal is a 400 with a stable code, anything accepted is
// canonical, and the run must reach every check, not only the first.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { validatePublicKey } from '../src/keys/public-keys.ts'

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const bytes32 = (fill: (i: number) => number) => Buffer.from(Array.from({ length: 32 }, (_, i) => fill(i)))
/** Small-order points: Ed25519's identity (y = 1) and X25519's u = 0 and u = 1. */
const WEAK = {
  signing: [bytes32((i) => (i === 0 ? 1 : 0))],
  encryption: [bytes32(() => 0), bytes32((i) => (i === 0 ? 1 : 0))],
}

const kinds = fc.constantFrom('signing' as const, 'encryption' as const)
const xFor = (kind: 'signing' | 'encryption') =>
  fc.oneof(
    // 43 characters of the alphabet: the length check passes; the last one decides canonical or not.
    {
      weight: 4,
      arbitrary: fc
        .array(fc.constantFrom(...B64URL), { minLength: 43, maxLength: 43 })
        .map((c) => c.join('')),
    },
    {
      weight: 4,
      arbitrary: fc
        .uint8Array({ minLength: 32, maxLength: 32 })
        .map((b) => Buffer.from(b).toString('base64url')),
    },
    { weight: 1, arbitrary: fc.constantFrom(...WEAK[kind].map((b) => b.toString('base64url'))) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  )
const jwks = kinds.chain((kind) =>
  fc.record({
    kind: fc.constant(kind),
    jwk: fc.record({
      kty: fc.oneof(
        { weight: 9, arbitrary: fc.constant('OKP') },
        { weight: 1, arbitrary: fc.constant('EC') },
      ),
      crv: fc.oneof(
        { weight: 9, arbitrary: fc.constant(kind === 'signing' ? 'Ed25519' : 'X25519') },
        { weight: 1, arbitrary: fc.constant(kind === 'signing' ? 'X25519' : 'Ed25519') },
      ),
      x: xFor(kind),
    }),
  }),
)

describe('public key validation, fuzzed past the first checks', () => {
  it('refuses with ERR_KEY_INVALID or accepts a canonical key, reaching every check', () => {
    const reached = new Set<string>()
    fc.assert(
      fc.property(jwks, ({ kind, jwk }) => {
        try {
          const valid = validatePublicKey('k', kind, jwk)
          reached.add('accepted')
          expect(valid.publicKey).toBe(jwk.x)
          expect(Buffer.from(jwk.x, 'base64url').toString('base64url')).toBe(jwk.x)
        } catch (error) {
          expect(error).toMatchObject({ statusCode: 400, code: 'ERR_KEY_INVALID' })
          reached.add((error as Error).message.replace(/^k: /, '').replace(/ for a \w+ key$/, ''))
        }
      }),
      { numRuns: 400 },
    )
    expect([...reached].sort()).toEqual(
      [
        'accepted',
        'a weak Ed25519 key (small order)',
        'a weak X25519 key (small order)',
        'crv must be Ed25519',
        'crv must be X25519',
        'kty must be OKP',
        'not a point on Ed25519',
        'x is not canonical base64url',
        'x must be 32 bytes, base64url without padding',
      ].sort(),
    )
  })
})
