import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizePath, removeDotSegments } from '../../src/authz/normalize-path.ts'

describe('normalizePath (Istio BASE)', () => {
  it.each([
    ['/sign?x=1', '/sign'],
    ['/sign#frag', '/sign'],
    ['/auth/../internal/users', '/internal/users'],
    ['/auth/%2e%2e/internal/users', '/internal/users'],
    ['/auth/%2E%2E/internal', '/internal'],
    ['/auth\\..\\internal', '/internal'],
    ['/a/./b/.', '/a/b/'],
    ['/../../etc', '/etc'],
    ['/%41%62c', '/Abc'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb/..', '/'],
    ['//double//slash', '//double//slash'],
    ['/health/', '/health/'],
    ['', '/'],
  ])('%j → %j', (input, expected) => {
    expect(normalizePath(input)).toBe(expected)
  })

  const pathChars = fc.constantFrom('a', 'b', '.', '/', '\\', '%2e', '%2E', '%2f', '%41', '..', '?', '~')
  const paths = fc.array(pathChars, { maxLength: 20 }).map((parts) => `/${parts.join('')}`)

  it('is idempotent', () => {
    fc.assert(
      fc.property(paths, (p) => {
        expect(normalizePath(normalizePath(p))).toBe(normalizePath(p))
      }),
    )
  })

  it('leaves no dot segments, backslashes or query, and always starts with a slash', () => {
    fc.assert(
      fc.property(paths, (p) => {
        const n = normalizePath(p)
        expect(n.startsWith('/')).toBe(true)
        expect(n.split('/')).not.toContain('..')
        expect(n.split('/')).not.toContain('.')
        expect(n).not.toMatch(/[\\?]/)
      }),
    )
  })

  it('never climbs above the root', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', 'x', '.'), { maxLength: 10 }), (segs) => {
        expect(removeDotSegments(`/${segs.join('/')}`)).toMatch(/^\/(x\/?)*$/)
      }),
    )
  })
})
