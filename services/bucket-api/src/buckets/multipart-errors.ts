// Which errors from reading a multipart body are the client's fault. busboy
// (under @fastify/multipart) throws plain Errors with no code for a body it
// cannot parse; @fastify/multipart has coded ones. Anything else (the disk,
// the database) stays a 5xx.
const MALFORMED_CODES = new Set([
  'FST_INVALID_MULTIPART_CONTENT_TYPE',
  'FST_PROTO_VIOLATION',
  'FST_INVALID_JSON_FIELD_ERROR',
  'FST_MP_PREMATURE_CLOSE',
])

// busboy's messages, from @fastify/busboy lib/types/multipart.js and deps/dicer/lib/Dicer.js.
const MALFORMED_MESSAGES = [
  /^Multipart: Boundary not found$/,
  /^Boundary required$/,
  /^Unexpected end of (form|multipart data|file)$/,
  /terminated early due to unexpected end of multipart data$/,
  /^Malformed part header$/,
]

export function isMalformedMultipart(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && MALFORMED_CODES.has(code)) return true
  return typeof message === 'string' && MALFORMED_MESSAGES.some((pattern) => pattern.test(message))
}
