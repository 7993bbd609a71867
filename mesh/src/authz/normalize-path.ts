// Istio's default path normalization (BASE): Envoy's `normalize_path`, with
// `merge_slashes` off and escaped slashes kept as sent
// (pilot/pkg/networking/core/listener_builder.go, istio/istio). Envoy
// canonicalizes the path before the query with Chromium's URL path
// canonicalizer (source/common/http/path_utility.cc,
// source/common/chromium_url/url_canon_path.cc, envoyproxy/envoy), ported
// here step for step: backslashes become slashes; `.`/`..` segments (also
// written `%2e`) are resolved; escapes of unreserved characters are decoded,
// other escapes are kept with their hex case as sent; characters such as
// space, `" < > \ ^ \` { | }`, controls and non-ASCII bytes are
// percent-encoded (upper-case hex); an escaped NUL (`%00`) fails the request
// (Envoy answers 400). Repeated slashes are kept (that is MERGE_SLASHES). The
// fragment goes, as Envoy strips it before normalizing.
// https://istio.io/latest/docs/reference/config/security/normalization/

const PASS = 0
const SPECIAL = 1
const ESCAPE = 2 | SPECIAL
const UNESCAPE = 4
const INVALID = 8 | SPECIAL

/** Chromium's kPathCharLookup. */
const PATH_CHAR = (() => {
  const table = new Uint8Array(256).fill(ESCAPE)
  table[0] = INVALID
  const set = (chars: string, flag: number) => {
    for (const c of chars) table[c.charCodeAt(0)] = flag
  }
  set("!$&'()*+,/:;=@[]", PASS)
  set('-_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', UNESCAPE)
  set('.', SPECIAL)
  return table
})()

const HEX = '0123456789ABCDEF'
const PLAIN = /^\/[A-Za-z0-9\-_~!$&'()*+,;=:@[\]/]*$/
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
const isSlash = (c: number | undefined) => c === 0x2f || c === 0x5c

export function splitPathAndQuery(target: string): { path: string; query: string } {
  const hash = target.indexOf('#')
  const withoutFragment = hash >= 0 ? target.slice(0, hash) : target
  const q = withoutFragment.indexOf('?')
  return q >= 0
    ? { path: withoutFragment.slice(0, q), query: withoutFragment.slice(q) }
    : { path: withoutFragment, query: '' }
}

/** The bytes of the path as they travel: the text as UTF-8 (Node's server takes only ASCII request targets). */
const bytesOf = (path: string): Uint8Array => Buffer.from(path, 'utf8')

function decodeEscaped(spec: Uint8Array, i: number): number | null {
  const hi = spec[i + 1]
  const lo = spec[i + 2]
  if (hi === undefined || lo === undefined || !isHex(hi) || !isHex(lo)) return null
  return Number.parseInt(String.fromCharCode(hi, lo), 16)
}

/** `.` or `%2e`/`%2E`: its length, or 0. */
function dotLength(spec: Uint8Array, i: number): number {
  if (spec[i] === 0x2e) return 1
  if (spec[i] === 0x25 && spec[i + 1] === 0x32 && (spec[i + 2] === 0x65 || spec[i + 2] === 0x45)) return 3
  return 0
}

type AfterDot = { kind: 'file' | 'current' | 'up'; consumed: number }

function classifyAfterDot(spec: Uint8Array, afterDot: number): AfterDot {
  if (afterDot === spec.length) return { kind: 'current', consumed: 0 }
  if (isSlash(spec[afterDot])) return { kind: 'current', consumed: 1 }
  const second = dotLength(spec, afterDot)
  if (second) {
    const after = afterDot + second
    if (after === spec.length) return { kind: 'up', consumed: second }
    if (isSlash(spec[after])) return { kind: 'up', consumed: second + 1 }
  }
  return { kind: 'file', consumed: 0 }
}

/** The output ends in a slash; drop the last segment, never above the first slash. */
function backUpToPreviousSlash(output: number[]): void {
  let i = output.length - 1
  if (i === 0) return
  i--
  while (output[i] !== 0x2f && i > 0) i--
  output.length = i + 1
}

/** Chromium's CheckForNestedEscapes: `%%30%30` must not turn into `%00` once unescaped. */
function checkForNestedEscapes(spec: Uint8Array, next: number, lastInvalidPercent: number, output: number[]) {
  const length = output.length
  const lastUnescaped = output[length - 1] as number
  const appendNext = lastInvalidPercent === length - 2
  if (appendNext) {
    const c = spec[next]
    if (c === undefined || c >= 0x80) return
    output.push(c)
  }
  const a = output[lastInvalidPercent + 1]
  const b = output[lastInvalidPercent + 2]
  if (a !== undefined && b !== undefined && isHex(a) && isHex(b)) {
    if (!appendNext) output.push(output[lastInvalidPercent + 1] as number)
    output[lastInvalidPercent + 1] = 0x32
    output[lastInvalidPercent + 2] = 0x35
    output.push(lastUnescaped)
  } else if (appendNext) {
    output.length = length
  }
}

/** Chromium's DoPath/DoPartialPath over the path before the query; null when Envoy rejects it. */
export function canonicalizePath(path: string): string | null {
  // Only characters the canonicalizer copies as they are, no dot, escape or backslash: nothing to do.
  if (PLAIN.test(path)) return path
  const spec = bytesOf(path)
  const output: number[] = []
  if (spec.length === 0 || !isSlash(spec[0])) output.push(0x2f)
  let success = true
  let lastInvalidPercent = Number.MIN_SAFE_INTEGER
  const percentEncode = (c: number) => output.push(0x25, HEX.charCodeAt(c >> 4), HEX.charCodeAt(c & 15))
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i] as number
    const flags = PATH_CHAR[c] as number
    if (!(flags & SPECIAL)) {
      output.push(c)
      continue
    }
    const dot = dotLength(spec, i)
    if (dot > 0) {
      if (output[output.length - 1] === 0x2f) {
        const after = classifyAfterDot(spec, i + dot)
        if (after.kind === 'file') output.push(0x2e)
        else if (after.kind === 'up') backUpToPreviousSlash(output)
        i += dot + (after.kind === 'file' ? 0 : after.consumed) - 1
      } else {
        output.push(0x2e)
        i += dot - 1
      }
    } else if (c === 0x5c) {
      output.push(0x2f)
    } else if (c === 0x25) {
      const value = decodeEscaped(spec, i)
      if (value === null) {
        lastInvalidPercent = output.length
        output.push(0x25)
        continue
      }
      i += 2
      const valueFlags = PATH_CHAR[value] as number
      if (valueFlags & UNESCAPE) {
        output.push(value)
        if (lastInvalidPercent >= output.length - 3)
          checkForNestedEscapes(spec, i + 1, lastInvalidPercent, output)
      } else {
        output.push(0x25, spec[i - 1] as number, spec[i] as number)
        if (valueFlags === INVALID) success = false
      }
    } else if (flags === INVALID) {
      percentEncode(c)
      success = false
    } else {
      percentEncode(c)
    }
  }
  return success ? Buffer.from(output).toString('latin1') : null
}

/**
 * The path of a request target (origin-form) as Envoy matches and forwards it,
 * without query or fragment; null when Envoy answers 400 (an escaped NUL).
 */
export function normalizePath(target: string): string | null {
  return canonicalizePath(splitPathAndQuery(target).path)
}
