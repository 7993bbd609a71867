import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compilePathTemplate, PathTemplateError } from '../../src/authz/path-template.ts'
import {
  matchesIstioHeader,
  matchesIstioString,
  matchesNamespace,
  matchesPrincipal,
} from '../../src/authz/string-match.ts'

// The forms follow the Envoy matchers Istio generates
// (istio/istio pilot/pkg/security/authz/matcher/string.go, header.go,
// pilot/pkg/security/authz/model/generator.go).
describe('Istio string forms (StringMatcher: paths)', () => {
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
    // A leading * is checked before a trailing one: "*a*" is the suffix "a*".
    ['*a*', 'xa*', true],
    ['*a*', 'xab', false],
    ['a*b', 'a*b', true],
    ['a*b', 'axb', false],
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
})

describe('Istio header forms (HeaderMatcher/HostMatcher: methods, hosts, request.headers)', () => {
  it('reads * as present_match: a header sent empty is present, a missing one is not', () => {
    expect(matchesIstioHeader('*', '')).toBe(true)
    expect(matchesIstioHeader('*', 'x')).toBe(true)
    expect(matchesIstioHeader('*', undefined)).toBe(false)
  })

  it('compares hosts ignoring case, over the whole authority, port included', () => {
    const host = (p: string, v: string) => matchesIstioHeader(p, v, { ignoreCase: true })
    expect(host('API.rossmck.dev', 'api.ROSSMCK.dev')).toBe(true)
    expect(host('api.rossmck.dev', 'api.rossmck.dev:8443')).toBe(false)
    expect(host('api.rossmck.dev:8443', 'API.rossmck.dev:8443')).toBe(true)
    expect(host('api.rossmck.dev*', 'api.rossmck.dev:8443')).toBe(true)
    expect(host('*.rossmck.dev', 'api.rossmck.dev:8443')).toBe(false)
    expect(matchesIstioHeader('API.rossmck.dev', 'api.rossmck.dev')).toBe(false)
  })
})

describe('principals and namespaces (authenticated principal_name over the SPIFFE URI)', () => {
  const p = 'cluster.local/ns/team-prod/sa/foo'
  it.each([
    ['*', true],
    ['*/sa/foo', true],
    ['*/sa/fo', false],
    ['cluster.local/ns/team-prod/*', true],
    ['cluster.local/ns/*/sa/foo', false],
    [p, true],
  ])('principal %j against %j is %s', (pattern, expected) => {
    expect(matchesPrincipal(pattern, p)).toBe(expected)
  })

  it.each([
    ['team-prod', true],
    ['*-prod', true],
    ['team-*', true],
    ['t*m-p*d', true],
    ['*', true],
    ['prod', false],
    ['*-dev', false],
  ])('namespace %j against %j is %s', (pattern, expected) => {
    expect(matchesNamespace(pattern, p)).toBe(expected)
  })

  it('matches nothing for a caller without a certificate (PERMISSIVE plaintext)', () => {
    expect(matchesPrincipal('*', null)).toBe(false)
    expect(matchesNamespace('*', null)).toBe(false)
  })

  it('reads namespace values with regex characters literally', () => {
    expect(matchesNamespace('a.c', 'cluster.local/ns/abc/sa/x')).toBe(false)
    expect(matchesNamespace('a.c', 'cluster.local/ns/a.c/sa/x')).toBe(true)
  })
})

// Envoy's URI template: `*` is [a-zA-Z0-9-._~%!$&'()+,;:@]+ and `**` that class or `/`
// (envoyproxy/envoy source/extensions/path/uri_template_lib/uri_template_internal.cc).
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
    ['/foo/{*}', '/foo/a%20b', true],
    ['/foo/{*}', "/foo/!$&'()+,;:@~", true],
    ['/foo/{*}', '/foo/a=b', false],
    ['/foo/{*}', '/foo/a*b', false],
    ['/foo/{**}', '/foo/a/b=c', false],
    ['/{**}/x', '/a/b/x', true],
  ])('%s against %s is %s', (template, path, expected) => {
    expect(compilePathTemplate(template).test(path)).toBe(expected)
  })

  it.each([
    '/*/baz/{*}',
    '/**/baz/{*}',
    '/{**}/foo/{*}',
    '/foo/{*}.txt',
    '/a=b/{*}',
    '/a b/{*}',
    '//{*}',
    'x/{*}',
  ])('refuses %s', (template) => {
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
