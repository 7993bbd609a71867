// Routes declare who may call them with `config: { session: 'user' | 'mfa' | 'admin' }`:
// any signed-in user; a session that passed MFA (for changes to keys); an
// admin whose session passed MFA. The session is read from the
// bearer token; the browser cookie comes with the frontend.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors/problem.ts'
import { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE } from './cookies.ts'
import type { SessionVerifier, VerifiedSession } from './verify-session.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    session?: 'user' | 'mfa' | 'admin'
  }
  interface FastifyRequest {
    session: VerifiedSession | null
    /** How the session came: the Authorization header or the browser's cookie. */
    sessionSource: 'bearer' | 'cookie' | null
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

function tokenOf(request: FastifyRequest): { token: string; source: 'bearer' | 'cookie' } | null {
  const header = request.headers.authorization
  if (header !== undefined) {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header)
    return match ? { token: match[1] as string, source: 'bearer' } : null
  }
  const cookie = request.cookies?.[SESSION_COOKIE]
  return cookie ? { token: cookie, source: 'cookie' } : null
}

function csrfMatches(request: FastifyRequest): boolean {
  const header = request.headers[CSRF_HEADER]
  const cookie = request.cookies?.[CSRF_COOKIE]
  if (typeof header !== 'string' || !cookie || header.length !== cookie.length) return false
  return timingSafeEqual(Buffer.from(header), Buffer.from(cookie))
}

export const sessionPlugin = fp<{ verify: SessionVerifier }>(
  async (app: FastifyInstance, { verify }) => {
    app.decorateRequest('session', null)
    app.decorateRequest('sessionSource', null)
    app.addHook('onRequest', async (request) => {
      const needed = request.routeOptions.config.session
      if (!needed) return
      const found = tokenOf(request)
      if (!found) {
        throw new HttpProblem(401, 'ERR_SESSION_MISSING', 'sign in first', {
          headers: { 'www-authenticate': 'Bearer realm="docs-mesh"' },
        })
      }
      if (found.source === 'cookie' && !SAFE_METHODS.has(request.method) && !csrfMatches(request))
        throw new HttpProblem(403, 'ERR_CSRF', `the x-csrf-token header must echo the ${CSRF_COOKIE} cookie`)
      const session = await verify(found.token)
      if (needed === 'admin' && session.role !== 'admin')
        throw new HttpProblem(403, 'ERR_ADMIN_REQUIRED', 'this needs the admin role')
      if (needed !== 'user' && !session.mfaVerified)
        throw new HttpProblem(403, 'ERR_MFA_REQUIRED', 'verify MFA first')
      request.session = session
      request.sessionSource = found.source
    })
  },
  { name: 'docs-mesh-session' },
)
