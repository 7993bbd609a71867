// Rate limits on the routes worth hammering (sign-in start and callback, the
// code exchange, MFA verification and enrolment). Each counts per client
// address, as the gateway vouches for it (request.clientAddress, never a
// header the client wrote), and, where the request names an account, per
// account too: a new address per request does not buy more guesses at one
// account, and many clients behind one address are not one bucket.
import { HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import type { FastifyRequest } from 'fastify'

export interface AuthLimit {
  /** Keeps this limit's counters apart from the others' in the shared store. */
  name: string
  max: number
  timeWindowMs: number
  /** Count per client address. */
  byAddress: boolean
  /** The account (or other principal) the request acts for, when there is one. */
  account?: (request: FastifyRequest) => string | null
}

export function authLimit(app: ServiceApp, limit: AuthLimit) {
  const check = app.createRateLimit({
    max: limit.max,
    timeWindow: limit.timeWindowMs,
    keyGenerator: (request) => request.rateLimitKey,
  })
  const keysOf = (request: FastifyRequest): string[] => {
    const account = limit.account?.(request) ?? null
    return [
      ...(limit.byAddress ? [`${limit.name}:address:${request.clientAddress}`] : []),
      ...(account !== null ? [`${limit.name}:account:${account}`] : []),
    ]
  }
  return async function enforceAuthLimit(request: FastifyRequest): Promise<void> {
    for (const key of keysOf(request)) {
      request.rateLimitKey = key
      const result = await check(request)
      if (!result.isAllowed && result.isExceeded) {
        const seconds = Math.max(1, result.ttlInSeconds)
        throw new HttpProblem(429, 'ERR_RATE_LIMITED', `too many requests; try again in ${seconds} s`, {
          headers: { 'retry-after': String(seconds) },
        })
      }
    }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The counter authLimit is asking the store about (one request may count under several). */
    rateLimitKey: string
  }
}
