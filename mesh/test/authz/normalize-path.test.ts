import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalizePath, normalizePath } from '../../src/authz/normalize-path.ts'

// Expected values follow Envoy's normalize_path, which runs Chromium's URL path
// canonicalizer (envoyproxy/envoy source/common/http/path_utility.cc,
// source/common/chromium_url/url_canon_path.cc); Istio's default BASE turns it
// on with merge_slashes off (istio/istio pilot/pkg/networking/core/listener_builder.go).
describe('normalizePath (Istio BASE = Envoy normalize_path)', () => {
  it.each([
    ['/sign?x=1', '/sign'],
    ['/sign#frag', '/sign'],
    ['/auth/../internal/users', '/internal/users'],
    ['/auth/%2e%2e/internal/users', '/internal/users'],
    ['/auth/%2E%2E/internal', '/internal'],
    ['/auth/.%2e/internal', '/internal'],
    ['/auth\\..\\internal', '/internal'],
    ['/a/./b/.', '/a/b/'],
    ['/a/..', '/'],
    ['/../../etc', '/etc'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a.b/c%2e', '/a.b/c.'],
    ['/%41%62c%7e%5F', '/Abc~_'],
    ['//double//slash', '//double//slash'],
    ['/health/', '/health/'],
    ['', '/'],
    ['x/y', '/x/y'],
  ])('%j → %j', (input, expected) => {
    expect(normalizePath(input)).toBe(expected)
  })

  it('keeps the hex case of escapes it does not decode, as sent (url_canon_path.cc: "in case the server is sensitive")', () => {
    expect(normalizePath('/a%2fb')).toBe('/a%2fb')
    expect(normalizePath('/a%2Fb')).toBe('/a%2Fb')
    expect(normalizePath('/a%3cb%3C')).toBe('/a%3cb%3C')
    expect(normalizePath('/a%2Fb/..')).toBe('/')
  })

  it('percent-encodes what Chromium escapes in a path, upper-case hex', () => {
    expect(normalizePath('/a b"<>^`{|}')).toBe('/a%20b%22%3C%3E%5E%60%7B%7C%7D')
    expect(normalizePath('/\u0001\u007f')).toBe('/%01%7F')
    expect(normalizePath('/café')).toBe('/caf%C3%A9')
    expect(normalizePath("/!$&'()*+,;=:@[]")).toBe("/!$&'()*+,;=:@[]")
  })

  it('passes a broken escape through, and never lets nested escapes become a new one', () => {
    expect(normalizePath('/a%zz')).toBe('/a%zz')
    expect(normalizePath('/a%')).toBe('/a%')
    // "%%30%30" would read as %00 once the inner escapes are decoded.
    expect(normalizePath('/%%30%30')).toBe('/%2500')
    expect(normalizePath('/%%300')).toBe('/%2500')
  })

  it('fails an escaped NUL, so the proxy answers 400 (Envoy path_normalization_failed)', () => {
    expect(normalizePath('/a%00b')).toBeNull()
    expect(canonicalizePath('/ok%00')).toBeNull()
    expect(normalizePath('/a?%00')).toBe('/a')
  })

  const pathChars = fc.constantFrom(
    'a',
    'b',
    '.',
    '/',
    '\\',
    '%2e',
    '%2E',
    '%2f',
    '%41',
    '..',
    '?',
    '~',
    ' ',
    '%',
    '{',
  )
  const paths = fc.array(pathChars, { maxLength: 20 }).map((parts) => `/${parts.join('')}`)

  it('is idempotent', () => {
    fc.assert(
      fc.property(paths, (p) => {
        const once = normalizePath(p) as string
        expect(normalizePath(once)).toBe(once)
      }),
      { numRuns: 500 },
    )
  })

  it('leaves no dot segments, backslashes, raw spaces or query, and always starts with a slash', () => {
    fc.assert(
      fc.property(paths, (p) => {
        const n = normalizePath(p) as string
        expect(n.startsWith('/')).toBe(true)
        expect(n.split('/')).not.toContain('..')
        expect(n.split('/')).not.toContain('.')
        expect(n).not.toMatch(/[\\? {]/)
      }),
      { numRuns: 500 },
    )
  })

  it('leaves a path of plain path characters as it is (the full canonicalizer agrees with the shortcut)', () => {
    const plain = fc.stringMatching(/^\/[A-Za-z0-9\-_~!$&'()*+,;=:@[\]/]{0,30}$/)
    fc.assert(
      fc.property(plain, (p) => {
        expect(normalizePath(p)).toBe(p)
        // An escape sends the same text through the full canonicalizer.
        expect(normalizePath(`/%41${p}`)).toBe(`/A${p}`)
      }),
    )
  })

  it('never climbs above the root', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', 'x', '.', '%2e%2e'), { maxLength: 10 }), (segs) => {
        expect(normalizePath(`/${segs.join('/')}`)).toMatch(/^\/(x\/?)*$/)
      }),
    )
  })
})
