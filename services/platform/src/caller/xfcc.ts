// Parses Envoy's x-forwarded-client-cert header. Elements are separated by
// `,`, key=value pairs by `;`; a value holding `,`, `;` or `=` is quoted, with
// `\"` for a quote inside. Anything else is refused, never guessed.
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert

export class XfccError extends Error {
  readonly code = 'ERR_XFCC_MALFORMED'
}

export type XfccKey = 'By' | 'Hash' | 'Cert' | 'Chain' | 'Subject' | 'URI' | 'DNS'
const KEYS = new Set<string>(['By', 'Hash', 'Cert', 'Chain', 'Subject', 'URI', 'DNS'])

/** One element: each key with the values it was given (URI and DNS may repeat). */
export type XfccElement = Partial<Record<XfccKey, string[]>>

export function parseXfcc(header: string): XfccElement[] {
  const elements: XfccElement[] = []
  let element: XfccElement = {}
  let pairs = 0
  let i = 0
  const fail = (why: string): never => {
    throw new XfccError(`malformed x-forwarded-client-cert at ${i}: ${why}`)
  }
  const readValue = (): string => {
    if (header[i] !== '"') {
      const start = i
      while (i < header.length && header[i] !== ';' && header[i] !== ',') {
        if (header[i] === '"' || header[i] === '=') fail('unquoted value holds a reserved character')
        i++
      }
      return header.slice(start, i)
    }
    i++
    let value = ''
    for (;;) {
      if (i >= header.length) fail('unterminated quoted value')
      const c = header[i]
      if (c === '\\' && header[i + 1] === '"') {
        value += '"'
        i += 2
      } else if (c === '"') {
        i++
        return value
      } else {
        value += c
        i++
      }
    }
  }
  if (header.trim() === '') fail('empty header')
  while (i <= header.length) {
    const eq = header.indexOf('=', i)
    if (eq < 0) fail('pair without "="')
    const key = header.slice(i, eq).trim()
    if (!KEYS.has(key)) fail(`unknown key "${key}"`)
    i = eq + 1
    const value = readValue()
    const k = key as XfccKey
    element[k] = [...(element[k] ?? []), value]
    pairs++
    if (i >= header.length) break
    const sep = header[i]
    i++
    if (sep === ',') {
      elements.push(element)
      element = {}
      pairs = 0
      while (header[i] === ' ') i++
    } else if (sep !== ';') {
      fail('expected ";" or ","')
    }
    if (i >= header.length) fail('trailing separator')
  }
  if (pairs > 0) elements.push(element)
  return elements
}

const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/

export function isSpiffeId(value: string): boolean {
  if (value.length > 2048 || !SPIFFE_ID.test(value)) return false
  return !value
    .split('/')
    .slice(3)
    .some((segment) => segment === '.' || segment === '..' || segment === '')
}

export interface PeerIdentity {
  /** The calling workload's SPIFFE ID, e.g. spiffe://cluster.local/ns/docs/sa/bucket-sa. */
  spiffeId: string
  /** The same in Istio's principal form, e.g. cluster.local/ns/docs/sa/bucket-sa. */
  principal: string
  /** The identity of the proxy that added the element (this workload's own), when given. */
  by: string | null
}

/**
 * The immediate peer: the last element, which the sidecar in front of this
 * app appended. It must carry exactly one URI, a SPIFFE ID.
 */
export function peerFromXfcc(header: string): PeerIdentity {
  const elements = parseXfcc(header)
  const last = elements.at(-1)
  const uris = last?.URI ?? []
  if (uris.length !== 1)
    throw new XfccError(`expected exactly one URI in the last element, found ${uris.length}`)
  const spiffeId = uris[0] as string
  if (!isSpiffeId(spiffeId)) throw new XfccError('URI is not a SPIFFE ID')
  const by = last?.By?.[0] ?? null
  if (by !== null && !isSpiffeId(by)) throw new XfccError('By is not a SPIFFE ID')
  return { spiffeId, principal: spiffeId.slice('spiffe://'.length), by }
}
