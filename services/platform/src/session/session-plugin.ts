// Routes declare who may call them with `config: { session: 'user' | 'mfa' | 'admin' }`:
// any signed-in user; a session that passed MFA (for changes to keys); an
// admin whose session passed MFA. The session is read from the
// bearer token; the browser cookie comes with the frontend.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors/problem.ts'
import type { SessionVerifier, VerifiedSession } from './verify-session.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    session?: 'user' | 'mfa' | 'admin'
  }
  interface FastifyRequest {
    session: VerifiedSession | null
  }
}

export const sessionPlugin = fp<{ verify: SessionVerifier }>(
  async (app: FastifyInstance, { verify }) => {
    app.decorateRequest('session', null)
    app.addHook('onRequest', async (request) => {
      const needed = request.routeOptions.config.session
      if (!needed) return
      const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(request.headers.authorization ?? '')
      if (!match) {
        throw new HttpProblem(401, 'ERR_SESSION_MISSING', 'sign in first', {
          headers: { 'www-authenticate': 'Bearer realm="docs-mesh"' },
        })
      }
      const session = await verify(match[1] as string)
      if (needed === 'admin' && session.role !== 'admin')
        throw new HttpProblem(403, 'ERR_ADMIN_REQUIRED', 'this needs the admin role')
      if (needed !== 'user' && !session.mfaVerified)
        throw new HttpProblem(403, 'ERR_MFA_REQUIRED', 'verify MFA first')
      request.session = session
    })
  },
  { name: 'docs-mesh-session' },
)
