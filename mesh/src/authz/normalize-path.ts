// Istio's default path normalization (BASE), applied before policies match
// and before the request is routed or forwarded: the query and fragment go,
// backslashes become slashes, percent-escapes of unreserved characters are
// decoded (others get upper-case hex), and `.` and `..` segments are resolved
// as RFC 3986 section 5.2.4 says. Repeated slashes are kept (that is
// MERGE_SLASHES, not BASE).
// https://istio.io/latest/docs/reference/config/security/normalization/

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

export function splitPathAndQuery(target: string): { path: string; query: string } {
  const hash = target.indexOf('#')
  const withoutFragment = hash >= 0 ? target.slice(0, hash) : target
  const q = withoutFragment.indexOf('?')
  return q >= 0
    ? { path: withoutFragment.slice(0, q), query: withoutFragment.slice(q) }
    : { path: withoutFragment, query: '' }
}

function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
}

/** RFC 3986 section 5.2.4. */
export function removeDotSegments(path: string): string {
  const output: string[] = []
  const segments = path.split('/')
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    const last = i === segments.length - 1
    if (segment === '.' || segment === '..') {
      if (segment === '..' && output.length > 1) output.pop()
      if (last) output.push('')
      continue
    }
    output.push(segment)
  }
  const joined = output.join('/')
  return joined.startsWith('/') ? joined : `/${joined}`
}

/** The path of a request target (origin-form), normalized as Istio's BASE does. */
export function normalizePath(target: string): string {
  const { path } = splitPathAndQuery(target)
  return removeDotSegments(decodeUnreserved(path.replaceAll('\\', '/')))
}
