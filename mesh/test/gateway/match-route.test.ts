import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hostMatches, matchRoute } from '../../src/gateway/match-route.ts'
import type { VirtualServiceModel } from '../../src/manifests/mesh-model.ts'

const to = (host: string) => ({ host, port: 80 })
const vs: VirtualServiceModel = {
  id: 'docs/api',
  hosts: ['api.example'],
  gateways: ['docs/gw'],
  http: [
    { matches: [{ kind: 'prefix', value: '/auth' }], destination: to('identity') },
    { matches: [{ kind: 'exact', value: '/exact' }], destination: to('exact') },
    { matches: [{ kind: 'regex', value: '/v[0-9]+/items' }], destination: to('regex') },
    { matches: [], destination: to('frontend') },
  ],
}
const route = (path: string, query = '') => matchRoute(vs, path, query)?.destination.host

describe('VirtualService routing', () => {
  it('matches a prefix as a string, not a path segment', () => {
    expect(route('/auth')).toBe('identity')
    expect(route('/authx')).toBe('identity')
    expect(route('/auth/x')).toBe('identity')
    expect(route('/au')).toBe('frontend')
  })

  it('matches exact and regex against the whole path without the query', () => {
    expect(route('/exact', '?a=1')).toBe('exact')
    expect(route('/exact/')).toBe('frontend')
    expect(route('/v2/items')).toBe('regex')
    expect(route('/v2/items/x')).toBe('frontend')
    expect(route('/x/v2/items')).toBe('frontend')
  })

  it('falls through to the catch-all for anything unmatched', () => {
    fc.assert(
      fc.property(fc.webPath(), (path) => {
        const p = path.startsWith('/') ? path : `/${path}`
        const expected = p.startsWith('/auth')
          ? 'identity'
          : p === '/exact'
            ? 'exact'
            : /^\/v[0-9]+\/items$/.test(p)
              ? 'regex'
              : 'frontend'
        expect(route(p)).toBe(expected)
      }),
    )
  })

  it('matches hosts exactly, by wildcard suffix, or any', () => {
    expect(hostMatches('api.example', 'API.example')).toBe(true)
    expect(hostMatches('*.example', 'api.example')).toBe(true)
    expect(hostMatches('*.example', 'example')).toBe(false)
    expect(hostMatches('*', 'anything')).toBe(true)
    expect(hostMatches('api.example', 'evil.example')).toBe(false)
  })
})
