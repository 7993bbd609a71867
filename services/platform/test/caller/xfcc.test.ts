import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isSpiffeId, parseXfcc, peerFromXfcc, XfccError } from '../../src/caller/xfcc.ts'

const BUCKET = 'spiffe://cluster.local/ns/docs/sa/bucket-sa'
const SIGNING = 'spiffe://cluster.local/ns/docs/sa/signing-sa'

describe('parseXfcc', () => {
  it('parses the element Istio sets', () => {
    const header = `By=${SIGNING};Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="";URI=${BUCKET}`
    expect(parseXfcc(header)).toEqual([
      {
        By: [SIGNING],
        Hash: ['468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688'],
        Subject: [''],
        URI: [BUCKET],
      },
    ])
  })

  it('parses several elements and quoted values holding separators and quotes', () => {
    const header = `By=${SIGNING};Subject="CN=a,O=b;c";URI=${BUCKET}, By=${BUCKET};Subject="say \\"hi\\"";URI=spiffe://cluster.local/ns/docs/sa/frontend-sa`
    const elements = parseXfcc(header)
    expect(elements).toHaveLength(2)
    expect(elements[0]?.Subject).toEqual(['CN=a,O=b;c'])
    expect(elements[1]?.Subject).toEqual(['say "hi"'])
    expect(elements[1]?.URI).toEqual(['spiffe://cluster.local/ns/docs/sa/frontend-sa'])
  })

  it.each([
    ['', 'empty'],
    ['URI', 'no equals sign'],
    ['Foo=bar', 'unknown key'],
    ['URI="spiffe://x', 'unterminated quote'],
    ['URI=a;', 'trailing separator'],
    ['URI=a,', 'trailing element separator'],
    ['URI=a"b', 'quote inside an unquoted value'],
    ['URI="a"b', 'text after a quoted value'],
  ])('refuses %j (%s)', (header) => {
    expect(() => parseXfcc(header)).toThrow(XfccError)
  })

  it('round-trips any element written in Envoy format', () => {
    // Envoy escapes only the double quote, so a backslash before a closing quote is ambiguous in the format itself.
    const value = fc.string({ maxLength: 40 }).filter((v) => !v.includes('\\'))
    const element = fc.record({ Hash: value, Subject: value, URI: value })
    const quote = (v: string) => `"${v.replaceAll('"', '\\"')}"`
    fc.assert(
      fc.property(fc.array(element, { minLength: 1, maxLength: 4 }), (elements) => {
        const header = elements
          .map((e) => `Hash=${quote(e.Hash)};Subject=${quote(e.Subject)};URI=${quote(e.URI)}`)
          .join(',')
        expect(parseXfcc(header)).toEqual(
          elements.map((e) => ({ Hash: [e.Hash], Subject: [e.Subject], URI: [e.URI] })),
        )
      }),
    )
  })

  it('never throws anything but XfccError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), (header) => {
        try {
          parseXfcc(header)
        } catch (error) {
          expect(error).toBeInstanceOf(XfccError)
        }
      }),
    )
  })
})

describe('peerFromXfcc', () => {
  it('takes the last element, appended by the sidecar in front of the app', () => {
    const peer = peerFromXfcc(
      `By=${BUCKET};URI=spiffe://cluster.local/ns/istio-system/sa/x,By=${SIGNING};URI=${BUCKET}`,
    )
    expect(peer).toEqual({ spiffeId: BUCKET, principal: 'cluster.local/ns/docs/sa/bucket-sa', by: SIGNING })
  })

  it.each([
    [`By=${SIGNING}`, 'no URI'],
    [`URI=${BUCKET};URI=${SIGNING}`, 'two URIs'],
    ['URI=https://evil.example/ns/docs/sa/bucket-sa', 'not SPIFFE'],
    ['URI=spiffe://cluster.local/ns/docs/sa/../admin-sa', 'dot segments'],
    ['URI=spiffe://Cluster.Local/ns/docs', 'upper-case trust domain'],
  ])('refuses %j (%s)', (header) => {
    expect(() => peerFromXfcc(header)).toThrow(XfccError)
  })

  it('accepts SPIFFE IDs as the standard describes them', () => {
    expect(isSpiffeId(BUCKET)).toBe(true)
    expect(isSpiffeId('spiffe://cluster.local')).toBe(false)
    expect(isSpiffeId('spiffe://cluster.local/')).toBe(false)
    expect(isSpiffeId('spiffe://cluster.local/a//b')).toBe(false)
  })
})
