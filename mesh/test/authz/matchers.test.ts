import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compilePathTemplate, PathTemplateError } from '../../src/authz/path-template.ts'
import { matchesIstioString } from '../../src/authz/string-match.ts'

describe('Istio string forms', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['abc*', 'abc', true],
    ['abc*', 'abcd', true],
    ['abc*', 'xabc', false],
    ['*abc', 'xabc', true],
    ['*abc', 'abcx', false],
    ['*', 'x', true],
    ['*', '', false],
  ])('%j against %j is %s', (pattern, value, expected) => {
    expect(matchesIstioString(pattern, value)).toBe(expected)
  })

  it('never matches an absent value, not even with *', () => {
    expect(matchesIstioString('*', undefined)).toBe(false)
  })

  const word = fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !s.includes('*'))
  it('prefix, suffix and exact forms agree with startsWith, endsWith and ===', () => {
    fc.assert(
      fc.property(word, word, (a, b) => {
        expect(matchesIstioString(`${a}*`, a + b)).toBe(true)
        expect(matchesIstioString(`*${b}`, a + b)).toBe(true)
        expect(matchesIstioString(a, b)).toBe(a === b)
        expect(matchesIstioString(`${a}*`, b)).toBe(b.startsWith(a))
      }),
    )
  })

  it('compares case-insensitively when asked (hosts)', () => {
    expect(matchesIstioString('API.rossmck.dev', 'api.ROSSMCK.dev', { caseInsensitive: true })).toBe(true)
    expect(matchesIstioString('API.rossmck.dev', 'api.rossmck.dev')).toBe(false)
  })
})

describe('path templates', () => {
  it.each([
    ['/foo/{*}', '/foo/bar', true],
    ['/foo/{*}', '/foo/bar/baz', false],
    ['/foo/{*}', '/foo/', false],
    ['/foo/{**}/', '/foo/bar/', true],
    ['/foo/{**}/', '/foo//', true],
    ['/foo/{**}/', '/foo/bar', false],
    ['/foo/{*}/bar/{**}', '/foo/buzz/bar/', true],
    ['/foo/{*}/bar/{**}', '/foo/buzz/bar/baz', true],
    ['/foo/{*}/bar/{**}', '/foo/buzz/baz/bar', false],
  ])('%s against %s is %s', (template, path, expected) => {
    expect(compilePathTemplate(template).test(path)).toBe(expected)
  })

  it.each(['/*/baz/{*}', '/**/baz/{*}', '/{**}/foo/{*}', '/foo/{*}.txt'])('refuses %s', (template) => {
    expect(() => compilePathTemplate(template)).toThrow(PathTemplateError)
  })

  it('{*} never spans a slash', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        (a, b) => {
          expect(compilePathTemplate('/x/{*}').test(`/x/${a}/${b}`)).toBe(false)
        },
      ),
    )
  })
})
