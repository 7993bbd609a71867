// The browser's session: the token in an HttpOnly cookie the page's scripts
// cannot read, and a CSRF token in a cookie they can, which they echo in the
// x-csrf-token header of every request that changes something (double
// submit). Both are Secure and SameSite=Strict, for the whole origin, which
// the gateway serves every service from. Every cookie has the __Host- prefix:
// the browser takes it only from a secure origin, for Path=/, without Domain,
// so no sibling subdomain (or a plain-http page) can plant or shadow it.
import type { FastifyReply } from 'fastify'

export const SESSION_COOKIE = '__Host-docs_mesh_session'
export const CSRF_COOKIE = '__Host-docs_mesh_csrf'
export const CSRF_HEADER = 'x-csrf-token'
/** Set by identity-api's callback beside the single-use code, read by the frontend's POST /session. */
export const SIGN_IN_COOKIE = '__Host-docs_mesh_signin'
/** __Host- cookies are for the whole origin; SameSite=Strict and a 60-second life keep this one close. */
export const SIGN_IN_COOKIE_PATH = '/'

const base = { path: '/', secure: true, sameSite: 'strict' as const }

/** Sets the session cookie for as long as the session may live; the token inside expires sooner and is renewed. */
export function setSessionCookies(
  reply: FastifyReply,
  token: string,
  options: { maxAgeSeconds: number; csrf?: string },
) {
  reply.setCookie(SESSION_COOKIE, token, { ...base, httpOnly: true, maxAge: options.maxAgeSeconds })
  if (options.csrf)
    reply.setCookie(CSRF_COOKIE, options.csrf, { ...base, httpOnly: false, maxAge: options.maxAgeSeconds })
}

export function clearSessionCookies(reply: FastifyReply) {
  reply.clearCookie(SESSION_COOKIE, { ...base, httpOnly: true })
  reply.clearCookie(CSRF_COOKIE, { ...base, httpOnly: false })
}
