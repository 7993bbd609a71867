// Helmet's security headers (CSP, HSTS, nosniff, frame and referrer policy,
// ...) on every response, errors included. The set is worked out once, when
// the app is built, by running helmet's own middleware against a recording
// response; each request then gets the same headers. (@fastify/helmet builds
// helmet's middleware anew for every request, CSP parsing and all, which
// cost several per cent of a small API request's CPU.) That is only right
// while the headers do not depend on the request, so a CSP directive given
// as a function (helmet calls it per request) is refused at start.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

export type SecurityHeaderOptions = HelmetOptions

/** The headers helmet sets for `options`, by lower-case name. */
export function securityHeaders(options: SecurityHeaderOptions): Record<string, string> {
  const csp = options.contentSecurityPolicy
  const directives = csp && typeof csp === 'object' ? Object.entries(csp.directives ?? {}) : []
  for (const [name, value] of directives) {
    const values = Array.isArray(value) ? value : [value]
    if (values.some((v) => typeof v === 'function'))
      throw new Error(
        `the CSP directive ${name} is a function: security headers are computed once, not per request`,
      )
  }
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error
  })
  return headers
}

export const securityHeadersPlugin = fp<{ helmet: SecurityHeaderOptions }>(
  async (app: FastifyInstance, options) => {
    const headers = securityHeaders(options.helmet)
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
  },
  { name: 'docs-mesh-security-headers' },
)
