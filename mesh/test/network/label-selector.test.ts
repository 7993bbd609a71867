// Label selectors as Kubernetes defines them, checked example by example and
// as properties over generated labels.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileLabelSelector, selectorMatches } from '../../src/network/label-selector.ts'

const key = fc.constantFrom('app', 'tier', 'team', 'kubernetes.io/metadata.name')
const value = fc.constantFrom('a', 'b', 'c', '')
const labels = fc.dictionary(key, value)

describe('label selectors', () => {
  it('an empty selector selects every pod', () => {
    fc.assert(fc.property(labels, (l) => selectorMatches(compileLabelSelector({}, 's'), l)))
  })

  it('matchLabels selects exactly the pods carrying every pair', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value), labels, (wanted, l) => {
        const s = compileLabelSelector({ matchLabels: wanted }, 's')
        expect(selectorMatches(s, l)).toBe(Object.entries(wanted).every(([k, v]) => l[k] === v))
      }),
    )
  })

  it('NotIn is the complement of In, DoesNotExist of Exists', () => {
    fc.assert(
      fc.property(key, fc.uniqueArray(value, { minLength: 1 }), labels, (k, values, l) => {
        const m = (operator: string, v?: string[]) =>
          selectorMatches(
            compileLabelSelector({ matchExpressions: [{ key: k, operator, values: v }] }, 's'),
            l,
          )
        expect(m('NotIn', values)).toBe(!m('In', values))
        expect(m('DoesNotExist')).toBe(!m('Exists'))
        // A pod without the key is never In, and always NotIn.
        if (!(k in l)) expect([m('In', values), m('NotIn', values)]).toEqual([false, true])
      }),
    )
  })

  it('requirements are ANDed: a selector matches iff each of its requirements does', () => {
    const requirement = fc.oneof(
      fc.record({
        key,
        operator: fc.constantFrom('In', 'NotIn'),
        values: fc.uniqueArray(value, { minLength: 1 }),
      }),
      fc.record({ key, operator: fc.constantFrom('Exists', 'DoesNotExist') }),
    )
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 4 }), labels, (expressions, l) => {
        const all = selectorMatches(compileLabelSelector({ matchExpressions: expressions }, 's'), l)
        const each = expressions.every((e) =>
          selectorMatches(compileLabelSelector({ matchExpressions: [e] }, 's'), l),
        )
        expect(all).toBe(each)
      }),
    )
  })

  it('refuses what the API server rejects, naming the field', () => {
    expect(() =>
      compileLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, 'p'),
    ).toThrow('p.matchExpressions[0].values: must be non-empty for In')
    expect(() =>
      compileLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'p'),
    ).toThrow('must be empty for Exists')
    expect(() => compileLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Gt' }] }, 'p')).toThrow(
      'p.matchExpressions[0].operator: Gt',
    )
    expect(() => compileLabelSelector({ matchFields: {} }, 'p')).toThrow('field "matchFields"')
  })
})
